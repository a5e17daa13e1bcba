package nixconf_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/nixconf"
)

// nixConfBody is a user nix.conf as people write them: comments, a few
// settings, a plain include and a !include of a file that is not there.
const nixConfBody = `# ~/.config/nix/nix.conf
experimental-features = nix-command flakes
max-jobs = auto
cores = 0
keep-outputs = true   # keep build deps for direnv
keep-derivations = true
substituters = https://cache.nixos.org https://nix-community.cachix.org
trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY= nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=
include machines.conf
!include local.conf
!include access-tokens.conf
`

// machinesConf is the file the plain include pulls in.
const machinesConf = `# remote builders
builders = ssh://builder1 x86_64-linux ; ssh://builder2 aarch64-linux
builders-use-substitutes = true
extra-substituters = https://example.cachix.org
`

// benchHosts writes hosts host=token pairs, half on access-tokens and half
// on extra-access-tokens, so that Load also merges as Nix does.
func benchHosts(hosts int) string {
	var a, b strings.Builder
	a.WriteString("# Access tokens for Nix, written by nix-auth and included from nix.conf.\naccess-tokens =")
	b.WriteString("extra-access-tokens =")
	for i := range hosts {
		w := &a
		if i%2 == 1 {
			w = &b
		}
		fmt.Fprintf(w, " git%03d.example.com=glpat-%020d", i, i*7919)
	}
	return a.String() + "\n" + b.String() + "\n"
}

// benchConfig writes a config directory and returns its nix.conf. With
// hosts == 1 the token sits in nix.conf itself, with no includes: the
// smallest file Load can find a token in.
func benchConfig(b *testing.B, hosts int) string {
	b.Helper()
	dir := b.TempDir()
	conf := filepath.Join(dir, "nix.conf")
	files := map[string]string{"nix.conf": "access-tokens = github.com=ghp_0123456789abcdefghijklmnopqrstuvwxyz\n"}
	if hosts > 1 {
		files = map[string]string{
			"nix.conf":             nixConfBody,
			"machines.conf":        machinesConf,
			nixconf.TokensFileName: benchHosts(hosts),
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return conf
}

// BenchmarkLoad reads a whole config the way Nix does (files, includes,
// merges) and lists its tokens: what status, logout and every edit's
// check do first.
func BenchmarkLoad(b *testing.B) {
	for _, hosts := range []int{1, 200} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			conf := benchConfig(b, hosts)
			b.ReportAllocs()
			for b.Loop() {
				cfg, err := nixconf.Load(conf)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(cfg.AccessTokens()); n != hosts {
					b.Fatalf("%d tokens, want %d", n, hosts)
				}
			}
		})
	}
}

// BenchmarkStoreSet replaces one host's token in a 200-host tokens file.
// The write case is the whole locked, fsynced, renamed update (disk-bound);
// the dry-run case is the parse, edit and re-check that precede it.
func BenchmarkStoreSet(b *testing.B) {
	for _, dry := range []bool{false, true} {
		name := "hosts=200/write"
		if dry {
			name = "hosts=200/dry-run"
		}
		b.Run(name, func(b *testing.B) {
			conf := benchConfig(b, 200)
			s := &nixconf.Store{Paths: nixconf.Paths{NixConf: conf, TokensFile: filepath.Join(filepath.Dir(conf), nixconf.TokensFileName)}, DryRun: dry}
			// Two values in turn, so that every write really changes the file.
			toks := [2]string{"glpat-aaaaaaaaaaaaaaaaaaaa", "glpat-bbbbbbbbbbbbbbbbbbbb"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c, err := s.Set("git100.example.com", toks[i%2])
				if err != nil {
					b.Fatal(err)
				}
				if !c.Replaced {
					b.Fatal("Set did not replace the existing token")
				}
				i++
			}
		})
	}
}
