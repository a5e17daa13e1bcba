package stresstest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/nixconf"
)

// writer is one way nix-auth writes files. The crash and concurrency tests
// run every row with the same checks, so a new writer is one more row.
type writer struct {
	name string
	// crashTrials is how many runs are killed; CI runs them all.
	crashTrials int
	// variants are the starting states a crash trial picks from.
	variants []variant
	// visible is what the consumer of the files would use (Nix for a
	// plaintext config, crypt.Load for a store): host -> token.
	visible func(home string) (map[string]string, error)
	// sameVersion says whether data, found at rel after a kill, is the
	// version ref that an uninterrupted run wrote there. Nil means byte for
	// byte; encrypted files differ in every run and compare decrypted.
	sameVersion func(home, rel string, data, ref []byte) error
	// nixReads is true when Nix reads the files: a crash trial that left a
	// temporary file then checks that the real nix ignores it.
	nixReads bool
	// race is the concurrency test of the writer.
	race race
	// needs are what the binary must offer for the row: a command and,
	// optionally, one of its flags ("render", "set-token --encrypt-to").
	needs []string
	// prepare, if set, builds what the variants and race start from, once.
	prepare func() error
	// reportsTakeover: the next run says when it takes over a lock whose
	// file names the killed process (every writer locks with safefile.Lock
	// and passes it a warning).
	reportsTakeover bool
}

// variant is a starting state of a crash trial and the run that is killed.
type variant struct {
	name  string
	start func(t *testing.T, home string)
	run   invocation
	// files are the files the run writes, relative to home, and the mode
	// each must have once written.
	files []string
	modes map[string]os.FileMode
}

// race is many processes writing to the same files at once.
type race struct {
	procs int
	start func(t *testing.T, home string)
	// files are the files the processes write, relative to home.
	files []string
	run   func(i int) invocation
	// want is what visible must give at the end.
	want map[string]string
	// check, if set, makes the writer's own checks of the end state.
	check func(t *testing.T, home string)
	// reader, if set, is a process run over and over while the writers
	// run; it must always succeed, and readerSees (what it wrote, or what
	// it read, as host -> token) must only grow.
	reader     *invocation
	readerSees func(home string) (map[string]string, error)
}

// writers are the rows: set-token into the plaintext config, set-token
// into a sops store, and render from that store into the config.
var writers = []writer{plaintextWriter(), sopsWriter(), renderWriter()}

const (
	confDir      = ".config/nix"
	nixConf      = confDir + "/nix.conf"
	tokensFile   = confDir + "/" + nixconf.TokensFileName
	renderedFile = confDir + "/" + nixconf.RenderFileName // render's default output
)

// fakeToken is a token-shaped secret for host; the tests check it never
// shows in nix-auth's output.
func fakeToken(host, salt string) string {
	h := sha256.Sum256([]byte(host + "\x00" + salt))
	return "tok_" + hex.EncodeToString(h[:18])
}

// seedHosts are the hosts a crash trial's config already holds.
func seedHosts() map[string]string {
	m := map[string]string{}
	for i := 1; i <= 50; i++ {
		h := fmt.Sprintf("h%02d.example.com", i)
		m[h] = fakeToken(h, "seed")
	}
	return m
}

// tokenLines sets hosts the way a hand-kept file may: half on an
// access-tokens line, the rest added by an extra-access-tokens line.
func tokenLines(hosts map[string]string) string {
	var a, b []string
	for i := 1; i <= 50; i++ {
		h := fmt.Sprintf("h%02d.example.com", i)
		if i <= 25 {
			a = append(a, h+"="+hosts[h])
		} else {
			b = append(b, h+"="+hosts[h])
		}
	}
	return "access-tokens = " + strings.Join(a, " ") + "\n" +
		"# more forges\nextra-access-tokens = " + strings.Join(b, " ") + "\n"
}

const confHead = "# nix.conf of the stress test\nexperimental-features = nix-command flakes\nsubstituters = https://cache.nixos.org\n"

// writeFiles makes the files of a starting state, with exactly modes.
func writeFiles(t *testing.T, home string, files map[string]string, modes map[string]os.FileMode) {
	t.Helper()
	if err := writeFilesErr(home, files, modes); err != nil {
		t.Fatal(err)
	}
}

// plaintextWriter is `set-token HOST --no-validate` into nix.conf and
// access-tokens.conf.
func plaintextWriter() writer {
	seed := seedHosts()
	included := func(t *testing.T, home string) {
		writeFiles(t, home, map[string]string{
			nixConf:    confHead + "!include access-tokens.conf\n",
			tokensFile: "# tokens for Nix\n" + tokenLines(seed),
		}, map[string]os.FileMode{nixConf: 0o644, tokensFile: 0o600})
	}
	setToken := func(host, tok string) invocation {
		return invocation{args: []string{"set-token", host, "--no-validate"}, stdin: tok + "\n", secret: tok}
	}
	raceSeed := map[string]string{}
	for _, h := range []string{"github.com", "gitlab.com", "codeberg.org", "git.sr.ht", "gitea.example.com"} {
		raceSeed[h] = fakeToken(h, "race-seed")
	}
	const procs = 50
	want := map[string]string{}
	for h, v := range raceSeed {
		want[h] = v
	}
	for i := range procs {
		h := fmt.Sprintf("c%02d.example.com", i)
		want[h] = fakeToken(h, "race")
	}
	return writer{
		name:        "set-token",
		crashTrials: 200,
		variants: []variant{{
			name:  "add",
			start: included,
			run:   setToken("new.example.com", fakeToken("new.example.com", "new")),
			files: []string{nixConf, tokensFile},
			modes: map[string]os.FileMode{nixConf: 0o644, tokensFile: 0o600},
		}, {
			name:  "replace",
			start: included,
			run:   setToken("h25.example.com", fakeToken("h25.example.com", "replaced")),
			files: []string{nixConf, tokensFile},
			modes: map[string]os.FileMode{nixConf: 0o644, tokensFile: 0o600},
		}, {
			// The tokens move out of nix.conf: a backup, the tokens file,
			// then nix.conf are written, so a kill can fall between them.
			name: "migrate",
			start: func(t *testing.T, home string) {
				writeFiles(t, home, map[string]string{nixConf: confHead + tokenLines(seed)},
					map[string]os.FileMode{nixConf: 0o644})
			},
			run:   setToken("new.example.com", fakeToken("new.example.com", "new")),
			files: []string{nixConf, tokensFile},
			modes: map[string]os.FileMode{nixConf: 0o644, tokensFile: 0o600},
		}},
		visible:         nixconfTokens,
		nixReads:        true,
		reportsTakeover: true,
		race: race{
			procs: procs,
			files: []string{nixConf, tokensFile},
			// Tokens still in nix.conf and no include: the first writer
			// migrates them, every later one must find the include there.
			start: func(t *testing.T, home string) {
				var items []string
				for _, h := range []string{"github.com", "gitlab.com", "codeberg.org", "git.sr.ht", "gitea.example.com"} {
					items = append(items, h+"="+raceSeed[h])
				}
				writeFiles(t, home, map[string]string{nixConf: confHead + "access-tokens = " + strings.Join(items, " ") + "\n"},
					map[string]os.FileMode{nixConf: 0o644})
			},
			run: func(i int) invocation {
				h := fmt.Sprintf("c%02d.example.com", i)
				return setToken(h, want[h])
			},
			want: want,
			check: func(t *testing.T, home string) {
				conf, err := os.ReadFile(filepath.Join(home, nixConf))
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(string(conf), "!include"); n != 1 {
					t.Errorf("nix.conf has %d include lines, want 1", n)
				}
				if tokenSetting.Match(conf) {
					t.Error("nix.conf still sets access-tokens after the migration")
				}
				if fi, err := os.Stat(filepath.Join(home, tokensFile)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("tokens file: %v, mode %v", err, fi.Mode())
				}
				backups, _ := filepath.Glob(filepath.Join(home, nixConf+".before-nix-auth*"))
				if len(backups) != 1 {
					t.Errorf("%d backups of nix.conf, want 1 (one migration)", len(backups))
				}
			},
		},
	}
}

// tokenSetting is a line of nix.conf that sets tokens itself.
var tokenSetting = regexp.MustCompile(`(?m)^[ \t]*(extra-)?access-tokens[ \t]*=`)

// nixconfTokens is what Nix would use with home's nix.conf, by our parser.
func nixconfTokens(home string) (map[string]string, error) {
	s := &nixconf.Store{Paths: nixconf.Paths{NixConf: filepath.Join(home, nixConf)}}
	entries, err := s.Tokens()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range entries {
		m[e.Host] = e.Token
	}
	return m, nil
}
