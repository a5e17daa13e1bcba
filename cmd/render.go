package cmd

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/render"
)

type renderOptions struct {
	plain        string
	tokenFiles   []string
	identities   []string
	output       string
	netrcOutput  string
	mode         string
	owner, group string
	setting      string
	nixConf      string
	check        bool
	format       string
}

func newRenderCmd(f *Factory) *cobra.Command {
	o := &renderOptions{}
	c := &cobra.Command{
		Use:   "render [STORE]",
		Short: "Decrypt a token store into the access-tokens file Nix reads (for activation)",
		Long: strings.TrimSpace(`
Write the access-tokens file Nix reads from an encrypted token store (sops
.yaml/.json or .age), or with --plain from a file that sops-nix or agenix
already decrypted (what "sops -d" prints, or the access-tokens line agenix
deploys), or from a git-crypt store in an unlocked checkout, read by its
path (never through a Nix path, which would copy it into the Nix store;
git-crypt ciphertext, a locked checkout, is refused). Made to run at activation: it never touches the network and never
prompts (a passphrase-protected key is an error), and it rewrites nothing
when the file already has the same content, mode and owner, so units that
watch it are not restarted. Expired tokens are left out with a warning.

--token-file HOST=PATH (repeatable) reads one token alone from PATH, as
sops-nix deploys each key of a sops file (/run/secrets/github/oauth_token)
and agenix each secret; a trailing newline is dropped, anything else (more
lines, a host=token pair, control characters) is refused. A GitLab token
without a type prefix gets PAT:, as set-token gives it. Token files may be
the only input or come beside STORE or --plain; a host that two inputs
name is an error.

The output is replaced as a whole, atomically, with --mode (default 0600)
and --owner/--group, and only if render wrote it (its first line says so):
never access-tokens.conf, which login and set-token edit, nor a file made by
hand. The default output is access-tokens.rendered.conf beside your
nix.conf, and then --nix-conf defaults to that nix.conf, which gets the
"!include" line.

--setting defaults to extra-access-tokens: it adds to the tokens set before
the file is read (the NixOS configuration's, login's access-tokens.conf) where
access-tokens would replace them. For a host two files name, the one Nix
reads first wins.

--netrc-output writes the store's netrc credentials (binary caches; Gitea,
Forgejo and Codeberg archives) to a netrc file of render's own, by the same
rules. Nix reads the file its netrc-file setting names, and the nix-daemon,
which substitutes from caches as root, reads the system's (/etc/nix/netrc
unless the system's nix.conf names another; on NixOS, nix.settings.netrc-file).
render never edits netrc-file itself.

Nix silently ignores an included file it cannot read: a warning says when
--mode/--owner keep the users who run nix from reading it.

Exit status: 0 done (or up to date), 1 failure or --check found the file
missing or stale, 2 wrong usage.`),
		Example: strings.Trim(`
  nix-auth render secrets/tokens.yaml
  nix-auth render /etc/nix-auth/tokens.age --identity /etc/ssh/ssh_host_ed25519_key \
      --output /run/nix-auth/access-tokens.conf --group wheel --mode 0640
  nix-auth render --plain /run/secrets/nix-tokens --output /run/nix-auth/access-tokens.conf
  nix-auth render /etc/nix-auth/tokens.age --identity /etc/ssh/ssh_host_ed25519_key \
      --output /run/nix-auth/access-tokens.conf --netrc-output /run/nix-auth/netrc
  nix-auth render --token-file github.com=/run/secrets/github/oauth_token \
      --token-file gitlab.com=/run/agenix/gitlab-token --output /run/nix-auth/access-tokens.conf
  nix-auth render secrets/tokens.yaml --check`, "\n"),
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			store := ""
			if len(a) == 1 {
				store = a[0]
			}
			return runRender(f, configFlag(c), store, c.Flags().Changed("nix-conf"), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.plain, "plain", "", "read a file sops-nix or agenix already decrypted instead of STORE")
	fl.StringArrayVar(&o.tokenFiles, "token-file", nil,
		"HOST=PATH: HOST's token alone in PATH, as sops-nix and agenix deploy one secret (repeatable; with or without STORE/--plain)")
	fl.StringArrayVar(&o.identities, "identity", nil,
		"age identity file or ssh ed25519 private key to decrypt STORE with, besides the sops defaults (SOPS_AGE_KEY_FILE...)")
	fl.StringVar(&o.output, "output", "", "the file to write (default: "+nixconf.RenderFileName+" beside your nix.conf)")
	fl.StringVar(&o.netrcOutput, "netrc-output", "", "also write the store's netrc credentials to this netrc file (for netrc-file)")
	fl.StringVar(&o.mode, "mode", "0600", "mode of the output (octal)")
	fl.StringVar(&o.owner, "owner", "", "owner of the output, name or uid (default: yours)")
	fl.StringVar(&o.group, "group", "", "group of the output, name or gid (default: the owner's)")
	fl.StringVar(&o.setting, "setting", "", "access-tokens or extra-access-tokens (default: extra-access-tokens; see above)")
	fl.StringVar(&o.nixConf, "nix-conf", "", "nix.conf that gets \"!include OUTPUT\" (default: your nix.conf when --output is not given)")
	fl.BoolVar(&o.check, "check", false, "write nothing; exit 1 when the output is missing or stale")
	fl.StringVar(&o.format, "format", "", "STORE's format, "+formatNames()+" (default: by its name and content; git tells a git-crypt store; at activation without git, say git-crypt)")
	return c
}

func runRender(f *Factory, config, store string, nixConfSet bool, o *renderOptions) error {
	if store != "" && o.plain != "" || store == "" && o.plain == "" && len(o.tokenFiles) == 0 {
		return usagef("give exactly one input: an encrypted STORE or --plain FILE (or --token-file HOST=PATH, alone or beside either)")
	}
	tokenFiles, err := parseTokenFiles(o.tokenFiles)
	if err != nil {
		return err
	}
	if o.plain != "" && len(o.identities) > 0 {
		return usagef("--identity decrypts STORE; a --plain file is already decrypted")
	}
	mode, err := strconv.ParseUint(o.mode, 8, 32)
	if err != nil || mode > 0o777 || mode == 0 {
		return usagef("--mode %q is not an octal file mode such as 0600 or 0640", o.mode)
	}
	if o.setting != "" && o.setting != render.SettingReplace && o.setting != render.SettingMerge {
		return usagef("--setting must be %s or %s", render.SettingReplace, render.SettingMerge)
	}
	ro := render.Options{
		Store: store, Plain: o.plain, TokenFiles: tokenFiles,
		RuntimeDir: f.Getenv("XDG_RUNTIME_DIR"),
		Output:     o.output, NetrcOutput: o.netrcOutput, Mode: fs.FileMode(mode), Owner: o.owner, Group: o.group,
		Home: f.Getenv("HOME"), Setting: o.setting, NixConf: o.nixConf,
		StoreDir: f.Getenv("NIX_STORE_DIR"),
		Check:    o.check, Now: f.Now(),
		Log:  f.IO.Out,
		Warn: f.warn,
	}
	paths, err := nixconf.Locate(config, f.lookupEnv)
	if o.output == "" {
		if err != nil {
			return err
		}
		ro.Output = paths.RenderFile
		if !nixConfSet {
			ro.NixConf = paths.NixConf
		}
	}
	// The hint names render's own file when the output is beside it: a
	// user's render pointed at login's access-tokens.conf.
	if err == nil && sameDir(ro.Output, paths.RenderFile) {
		ro.Own = paths.RenderFile
	}
	if o.format != "" && store == "" {
		return usagef("--format is STORE's format; a --plain file is read as it is")
	}
	if store != "" {
		format, err := readFormat(store, o.format)
		if err != nil {
			return err
		}
		ro.Format, ro.Git = format, f.git()
		// Never a passphrase prompt: activation has no one to answer it.
		// An age plugin may ask only on a terminal (pluginUI).
		ids, err := crypt.LoadIdentities(f.Getenv, o.identities, nil, f.warn, f.pluginUI())
		if err != nil {
			return err
		}
		ro.Identities, ro.Tried = ids.List, ids.Tried
	}
	res, err := render.Render(ro)
	if errors.Is(err, render.ErrStale) {
		return &hintError{msg: err.Error(), hints: []string{"run the same command without --check to write it"}}
	}
	if err != nil {
		return err
	}
	n := len(res.Hosts)
	switch {
	case o.check:
		termsafe.Fprintf(f.IO.Out, "%s is up to date (%d host%s).\n", ro.Output, n, plural(n))
	case res.Changed:
		termsafe.Fprintf(f.IO.Out, "Wrote %s (%d host%s, %s, mode %04o).\n", ro.Output, n, plural(n), res.Setting, mode)
	default:
		termsafe.Fprintf(f.IO.Out, "%s is up to date (%d host%s); nothing written.\n", ro.Output, n, plural(n))
	}
	if res.IncludeAdded && !o.check {
		termsafe.Fprintf(f.IO.Out, "Added the !include line for it to %s.\n", ro.NixConf)
	}
	if o.netrcOutput != "" {
		n := len(res.NetrcHosts)
		switch {
		case o.check:
			termsafe.Fprintf(f.IO.Out, "%s is up to date (%d netrc host%s).\n", o.netrcOutput, n, plural(n))
		case res.NetrcChanged:
			termsafe.Fprintf(f.IO.Out, "Wrote %s (%d netrc host%s, mode %04o).\n", o.netrcOutput, n, plural(n), mode)
		default:
			termsafe.Fprintf(f.IO.Out, "%s is up to date (%d netrc host%s); nothing written.\n", o.netrcOutput, n, plural(n))
		}
	}
	return nil
}

// parseTokenFiles reads --token-file HOST=PATH flags. A host named twice
// is an error: render takes each host's token from one place.
func parseTokenFiles(flags []string) ([]render.TokenFile, error) {
	var out []render.TokenFile
	seen := map[string]string{}
	for _, fl := range flags {
		host, path, ok := strings.Cut(fl, "=")
		if !ok || path == "" {
			return nil, usagef("--token-file %s: expected HOST=PATH, such as github.com=/run/secrets/github/oauth_token", termsafe.Field(fl))
		}
		if err := nixconf.ValidateHost(host); err != nil {
			return nil, usagef("--token-file: %v", err)
		}
		if prev, dup := seen[host]; dup {
			return nil, usagef("--token-file names %s twice (%s and %s); render takes each host's token from one file", host, prev, path)
		}
		seen[host] = path
		out = append(out, render.TokenFile{Host: host, Path: path})
	}
	return out, nil
}
