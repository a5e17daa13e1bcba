package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/safefile"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

type importOptions struct {
	noValidate bool
	dryRun     bool
	encryptTo  string
	keys       keyOptions
}

// maxImportFile bounds the file import reads: a secrets file is a few KiB.
const maxImportFile = 4 << 20

func newImportCmd(f *Factory) *cobra.Command {
	o := &importOptions{}
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Import the forge tokens of a secrets file you already keep (JSON/YAML, sops, agenix)",
		Long: strings.TrimSpace(`
Import forge tokens from a secrets file in the layout many NixOS setups keep,
one key per service:

  {"github": {"oauth_token": "ghp_..."}, "gitlab": {"oauth_token": "glpat-..."}}

FILE is plain JSON or YAML (a git-crypt secrets.json in an unlocked
repository), a sops file (decrypted with your sops keys, or --identity), or
an agenix .age file whose plaintext is such a tree. A key is a forge
(github, gitlab, codeberg, sourcehut or srht) or a host name
(git.example.com); gitea and forgejo, which have no public host, need a
host: key beside the token. The token is the key's string value, or its
oauth_token, token or pat key. Every other key (tailscale, smtp, ...) is
listed as skipped, with why; no value is ever shown.

Each token is validated with its forge (--no-validate skips it), GitLab
tokens get the PAT: or OAuth2: prefix Nix needs, and then all are saved at
once, into your Nix config as set-token saves them, or with --encrypt-to
into a sops or age store: all or nothing. --dry-run changes nothing.`),
		Example: strings.Trim(`
  nix-auth import secrets/secrets.json
  nix-auth import secrets/secrets.yaml --encrypt-to secrets/tokens.yaml
  nix-auth import secrets/forges.age --identity ~/.ssh/id_ed25519 --dry-run`, "\n"),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			return runImport(c.Context(), f, configFlag(c), a[0], o)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&o.noValidate, "no-validate", false, "save without asking the forges whether the tokens work")
	fl.BoolVar(&o.dryRun, "dry-run", false, "do everything but write the files")
	fl.StringVar(&o.encryptTo, "encrypt-to", "", "store the tokens in this sops (.yaml/.json) or age (.age) file instead of the Nix config")
	o.keys.addRecipientFlag(fl)
	o.keys.addIdentityFlag(fl)
	return c
}

// importEntry is a token found in the file, for host.
type importEntry struct {
	key  string // the file's key, as it is there (untrusted)
	kind providers.Kind
	host string
	raw  string
}

// importSkip is a key that is not imported, and why.
type importSkip struct {
	key, why string
}

// batchSink is a sink that saves several tokens in one write, all or
// nothing, and names the file it wrote.
type batchSink interface {
	SaveAll(es []crypt.Entry) (string, error)
}

func runImport(ctx context.Context, f *Factory, config, path string, o *importOptions) error {
	data, err := safefile.ReadLimited(path, maxImportFile)
	switch {
	case errors.Is(err, safefile.ErrTooLarge):
		return &hintError{msg: fmt.Sprintf("%s is larger than %d MiB: not a secrets file", path, maxImportFile>>20),
			hints: []string{"give the JSON, YAML, sops or .age file that holds the tokens"}}
	case errors.Is(err, fs.ErrNotExist):
		return &hintError{msg: path + ": no such file", hints: []string{"check the path: import reads the secrets file (JSON, YAML, sops or .age) that holds the tokens"}}
	case err != nil:
		return err
	}
	var ids *crypt.Identities
	if looksEncrypted(data) {
		if ids, err = f.identities(o.keys.identities); err != nil {
			return err
		}
	} else {
		ids = &crypt.Identities{}
	}
	items, format, err := crypt.ReadSecrets(path, data, ids.List, ids.Tried)
	if err != nil {
		return err
	}
	if format == crypt.SecretsPlain {
		warnReadable(f, path)
	}
	found, skipped := mapSecrets(items)

	sink, err := f.openSink(sinkOptions{config: config, encryptTo: o.encryptTo, keys: &o.keys, dryRun: o.dryRun}, true)
	if err != nil {
		return err
	}
	batch, ok := sink.(batchSink)
	if !ok {
		return fmt.Errorf("%s cannot take several tokens in one write", sink.Path())
	}

	// Shape and sink first, for every token, before any forge is asked.
	var flows []*tokenFlow
	var toks []string
	for _, e := range found {
		fl, err := newFlow(f, sink, e.kind, e.host, "", "")
		if err != nil {
			return err
		}
		tok, err := fl.pasted(e.raw)
		if err != nil {
			skipped = append(skipped, importSkip{e.key, "the token " + strings.TrimSuffix(err.Error(), "; nothing was written")})
			continue
		}
		// Where the forge table sends it: a Codeberg token to netrc too,
		// a cache's to netrc alone.
		if err := sink.CheckSave(crypt.Entry{Host: e.host, Use: fl.use, Login: fl.netrcLogin(nil)}); err != nil {
			return err
		}
		flows, toks = append(flows, fl), append(toks, tok)
	}
	printSkipped(f, path, skipped)
	if len(flows) == 0 {
		return &hintError{msg: fmt.Sprintf("%s: no forge token to import; nothing was written", path),
			hints: []string{"name each forge's key github, gitlab, codeberg, sourcehut or its host (git.example.com), with the token as its value or its oauth_token, token or pat"}}
	}

	termsafe.Fprintf(f.IO.Out, "Tokens in %s:\n", path)
	var entries []crypt.Entry
	for i, fl := range flows {
		var st *providers.Status
		switch {
		case o.noValidate:
		case fl.p == nil:
			termsafe.Fprintf(f.IO.ErrOut, "nix-auth: note: %s is not a known forge, so its token was not validated\n", fl.host)
		default:
			st, err = fl.validate(ctx, toks[i], func(err error) error {
				return &hintError{
					msg:   fmt.Sprintf("could not validate the token for %s: %v; nothing was written", fl.host, err),
					hints: []string{"retry when the forge is reachable, or import anyway with --no-validate"},
				}
			})
			var he *hintError
			if st != nil && errors.As(err, &he) {
				// The forge said no: the file holds a dead token.
				he.hints = append(he.hints, "leave it out of "+path+", or import anyway with --no-validate")
			}
			if err != nil {
				return err
			}
		}
		e := fl.entry(toks[i], nil, st)
		entries = append(entries, e)
		who := ""
		if st != nil {
			who = " for " + termsafe.Field(orUnknown(st.User))
		}
		termsafe.Fprintf(f.IO.Out, "  %s: token %s%s\n", fl.host, providers.MaskToken(toks[i]), who)
	}
	written, err := batch.SaveAll(entries)
	if err != nil {
		return err
	}
	n := len(entries)
	if o.dryRun {
		termsafe.Fprintf(f.IO.Out, "Dry run: would import %d token%s into %s; nothing was written.\n", n, plural(n), written)
		return nil
	}
	termsafe.Fprintf(f.IO.Out, "Imported %d token%s from %s into %s.\n", n, plural(n), path, written)
	if o.encryptTo != "" {
		termsafe.Fprintf(f.IO.Out, "Deploy it with `nix-auth render %s` on each host (or the NixOS module).\n", written)
	}
	return nil
}

// looksEncrypted reports whether data needs identities: an age file or a
// sops file. A plain file is read without loading keys (and without
// asking a passphrase).
func looksEncrypted(data []byte) bool {
	s := string(data)
	return strings.HasPrefix(s, "age-encryption.org/") || strings.Contains(s, "-----BEGIN AGE ENCRYPTED FILE-----") ||
		strings.Contains(s, "ENC[AES256_GCM,")
}

// warnReadable warns that a plaintext secrets file is readable by other
// users: its tokens are theirs too.
func warnReadable(f *Factory, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return
	}
	f.warn(fmt.Sprintf("%s holds tokens in clear and other users can read it (mode %04o): once imported, delete it or `chmod 600 %s`, and revoke the tokens at their forges if others may have read them",
		path, fi.Mode().Perm(), path))
}

// printSkipped lists the keys that are not imported, escaped: the file's
// key names are untrusted text. Values are never shown.
func printSkipped(f *Factory, path string, skipped []importSkip) {
	if len(skipped) == 0 {
		return
	}
	termsafe.Fprintf(f.IO.Out, "Skipped in %s:\n", path)
	for _, s := range skipped {
		termsafe.Fprintf(f.IO.Out, "  %s: %s\n", s.key, s.why)
	}
}

// mapSecrets finds the forge tokens among the file's top-level keys.
func mapSecrets(items []crypt.Item) (found []importEntry, skipped []importSkip) {
	byHost := map[string]string{}
	for _, it := range items {
		key := termsafe.Field(it.Key)
		if providers.LooksLikeToken(it.Key) {
			// Never echoed: it is most likely a token put where a name goes.
			key = "(a key that looks like a token)"
		}
		kind, host, _, err := providers.SecretsKey(it.Key)
		var pe *providers.Error
		switch {
		case errors.Is(err, providers.ErrTokenArgument):
			skipped = append(skipped, importSkip{key, "it looks like a token, not a forge or host name"})
			continue
		case errors.Is(err, providers.ErrNotForgeKey):
			skipped = append(skipped, importSkip{key, "not a forge or a host name"})
			continue
		case errors.Is(err, providers.ErrSelfHosted) && errors.As(err, &pe):
			// gitea, forgejo: the host comes from the entry.
			h, ok := field(it.Value, "host")
			if !ok {
				skipped = append(skipped, importSkip{key, fmt.Sprintf("%s is self-hosted: add host: git.example.com beside the token, or use the host as the key", key)})
				continue
			}
			if kind, host, _, err = providers.Resolve(h, pe.Kind); err != nil {
				skipped = append(skipped, importSkip{key, "its host: " + termsafe.Field(err.Error())})
				continue
			}
		case err != nil:
			skipped = append(skipped, importSkip{key, termsafe.Field(err.Error())})
			continue
		}
		if err := nixconf.ValidateHost(host); err != nil {
			skipped = append(skipped, importSkip{key, termsafe.Field(err.Error())})
			continue
		}
		raw, why := tokenOf(it.Value)
		if why != "" {
			skipped = append(skipped, importSkip{key, why})
			continue
		}
		if prev, dup := byHost[host]; dup {
			skipped = append(skipped, importSkip{key, fmt.Sprintf("%s has a token from key %s already", host, prev)})
			continue
		}
		byHost[host] = key
		found = append(found, importEntry{key: key, kind: kind, host: host, raw: raw})
	}
	return found, skipped
}

// tokenOf is an entry's token: the value itself when it is a string, else
// the one token key of its mapping; why says otherwise.
func tokenOf(v any) (tok, why string) {
	switch v := v.(type) {
	case string:
		return v, ""
	case []crypt.Item:
		var keys []string
		for _, it := range v {
			if !providers.IsTokenKey(it.Key) {
				continue
			}
			s, err := crypt.TokenValue(it.Value)
			if err != nil {
				return "", termsafe.Field(it.Key) + " " + err.Error()
			}
			if tok != "" && s != tok {
				return "", "it has two tokens (" + termsafe.Field(keys[0]) + " and " + termsafe.Field(it.Key) + "): keep one"
			}
			tok = s
			keys = append(keys, it.Key)
		}
		if len(keys) == 0 {
			return "", "no " + joinWords(providers.TokenKeys(), "or") + " key"
		}
		return tok, ""
	}
	if _, err := crypt.TokenValue(v); err != nil {
		return "", "the value " + err.Error()
	}
	return "", "neither a token nor a mapping with one"
}

// field is the string value of key in an entry's mapping.
func field(v any, key string) (string, bool) {
	m, ok := v.([]crypt.Item)
	if !ok {
		return "", false
	}
	for _, it := range m {
		if strings.EqualFold(it.Key, key) {
			s, ok := it.Value.(string)
			return s, ok
		}
	}
	return "", false
}
