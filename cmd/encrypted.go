package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// keyOptions are the flags that name who can decrypt a store (recipients)
// and what this process decrypts it with (identities).
type keyOptions struct {
	recipients []string
	identities []string
}

func (o *keyOptions) addRecipientFlag(fl *pflag.FlagSet) {
	fl.StringArrayVar(&o.recipients, "recipient", nil,
		"who can decrypt a new store: age1..., \"ssh-ed25519 ...\", or a file of them (ssh-keyscan output works); default: .sops.yaml or secrets.nix")
}

func (o *keyOptions) addIdentityFlag(fl *pflag.FlagSet) {
	fl.StringArrayVar(&o.identities, "identity", nil,
		"age identity file or ssh ed25519 private key to decrypt with, besides the sops defaults (SOPS_AGE_KEY_FILE...)")
}

// identities loads the decrypting keys in sops's order plus --identity.
// A passphrase is asked on the terminal only; without one a protected key
// is an error that says so.
func (f *Factory) identities(extra []string) (*crypt.Identities, error) {
	var ask func(string) ([]byte, error)
	if f.IO.InTTY && f.IO.ReadPassword != nil {
		ask = func(path string) ([]byte, error) {
			fmt.Fprintf(f.IO.ErrOut, "Passphrase for %s: ", path)
			b, err := f.IO.ReadPassword()
			fmt.Fprintln(f.IO.ErrOut)
			return b, err
		}
	}
	return crypt.LoadIdentities(f.Getenv, extra, ask)
}

// storeRecipients says who a store at path is encrypted to: the flags when
// given, else the .sops.yaml creation rule (sops files, which is returned
// too) or the agenix secrets.nix entry (.age files). sops files get the
// converted age1 keys, which sops-nix decrypts with; .age files keep ssh
// keys as ssh recipients, which agenix decrypts with.
func (f *Factory) storeRecipients(path string, flags []string) ([]string, *crypt.SopsRule, error) {
	format, err := crypt.FormatOf(path)
	if err != nil {
		return nil, nil, err
	}
	var recips []crypt.Recipient
	var rule *crypt.SopsRule
	switch {
	case len(flags) > 0:
		recips, err = crypt.ResolveRecipientFlags(flags)
	case format == crypt.FormatSOPS:
		rule, err = crypt.SopsCreationRule(path, f.Getenv)
		if errors.Is(err, crypt.ErrNoSopsConfig) {
			return nil, nil, noRecipients(path, ".sops.yaml creation rule")
		}
		if err == nil {
			recips = rule.Recipients
		}
	default:
		recips, _, err = crypt.AgenixRecipients(path)
		if errors.Is(err, crypt.ErrNoSecretsNix) {
			return nil, nil, noRecipients(path, "secrets.nix entry")
		}
	}
	if err != nil {
		return nil, nil, err
	}
	out := make([]string, 0, len(recips))
	for _, r := range recips {
		if format == crypt.FormatAge && r.SSH != "" {
			out = append(out, r.SSH)
		} else {
			out = append(out, r.Age)
		}
	}
	return out, rule, nil
}

// formatOf is crypt.FormatOf for a store named on the command line: a name
// whose format nix-auth cannot tell is a wrong call (exit 2), refused
// before anything is read.
func formatOf(path string) (crypt.Format, error) {
	format, err := crypt.FormatOf(path)
	if err != nil {
		return "", &usageError{err}
	}
	return format, nil
}

func noRecipients(path, where string) error {
	return &hintError{
		msg: fmt.Sprintf("%s does not exist and no %s or --recipient says who may decrypt it", path, where),
		hints: []string{
			"pass --recipient age1... or --recipient \"$(ssh-keyscan -t ed25519 HOST)\" (repeatable), or a file of keys",
			"or add a creation rule to .sops.yaml (sops) / an entry to secrets.nix (agenix)",
		},
	}
}

// openEncrypted loads the store at path, or starts a new one when it does
// not exist, to hold host's token. It runs before any login flow so that a
// missing key, or rules that would store the token in clear, fail before
// the user goes through a browser.
func (f *Factory) openEncrypted(path, host string, o *keyOptions) (*crypt.File, error) {
	if _, err := formatOf(path); err != nil {
		return nil, err
	}
	var file *crypt.File
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		recips, rule, err := f.storeRecipients(path, o.recipients)
		if err != nil {
			return nil, err
		}
		if file, err = crypt.Create(path, recips, crypt.CreateOptions{Now: f.Now, SopsRule: rule}); err != nil {
			return nil, err
		}
		file.Warn = f.warn
	} else if len(o.recipients) > 0 {
		return nil, usagef("--recipient only applies when creating %s; change who can decrypt it with `nix-auth rekey %s --recipient ...`", path, path)
	} else if file, err = f.openExisting(path, o.identities); err != nil {
		return nil, err
	}
	if err := file.CheckEncrypts(host); err != nil {
		return nil, err
	}
	return file, nil
}

// openExisting loads a store that must already exist.
func (f *Factory) openExisting(path string, identities []string) (*crypt.File, error) {
	if _, err := formatOf(path); err != nil {
		return nil, err
	}
	ids, err := f.identities(identities)
	if err != nil {
		return nil, err
	}
	file, err := crypt.Load(path, ids.List, ids.Tried, f.Now)
	if err != nil {
		return nil, err
	}
	file.Warn = f.warn
	return file, nil
}

// saveEncrypted puts host's token into the store and writes it.
func saveEncrypted(f *Factory, file *crypt.File, e crypt.Entry, dryRun bool) error {
	_, existed := file.Entry(e.Host)
	if err := file.Put(e); err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(f.IO.Out, "Dry run: would write %s=%s to %s; nothing was written.\n", e.Host, nixconf.MaskToken(e.Token), file.Path())
		return nil
	}
	// A new store in the flake repo may be the first file in its folder.
	if err := os.MkdirAll(filepath.Dir(file.Path()), 0o755); err != nil {
		return fmt.Errorf("creating the folder of %s: %w", file.Path(), err)
	}
	if err := file.Save(); err != nil {
		return err
	}
	verb := "Saved"
	if existed {
		verb = "Replaced"
	}
	fmt.Fprintf(f.IO.Out, "%s the token for %s in %s (encrypted to %d recipient%s).\n",
		verb, e.Host, file.Path(), len(file.Recipients()), plural(len(file.Recipients())))
	fmt.Fprintf(f.IO.Out, "Deploy it with `nix-auth render %s` on each host (or the NixOS module).\n", file.Path())
	return nil
}

// entryFor makes the store entry for a validated token.
func entryFor(f *Factory, kind providers.Kind, host, nixTok string, tok *providers.Token, st *providers.Status) crypt.Entry {
	e := crypt.Entry{Host: host, Token: nixTok, Provider: string(kind), Created: f.Now().UTC().Truncate(time.Second)}
	if st != nil {
		e.User, e.Scopes, e.Expires = st.User, st.Scopes, st.ExpiresAt
	}
	if tok != nil {
		e.RefreshToken = tok.RefreshToken
		if e.Expires.IsZero() {
			e.Expires = tok.ExpiresAt
		}
	}
	return e
}

// oauthClientID is the OAuth application a device-flow login or refresh
// used: the --client-id given, else the provider's default, which applies
// only where a flow without one succeeds (github.com, gitlab.com).
func oauthClientID(kind providers.Kind, flag string) string {
	switch {
	case flag != "":
		return flag
	case kind == providers.GitHub:
		return providers.DefaultGitHubClientID
	case kind == providers.GitLab:
		return providers.DefaultGitLabClientID
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}
