package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/safefile"
	"github.com/nix-auth/nix-auth/internal/termsafe"
)

// keyOptions are the flags that name who can decrypt a store (recipients)
// and what this process decrypts it with (identities).
type keyOptions struct {
	recipients []string
	identities []string
	// format is --format (gitcrypt.go): "" decides by git and the name.
	format string
}

func (o *keyOptions) addRecipientFlag(fl *pflag.FlagSet) {
	fl.StringArrayVar(&o.recipients, "recipient", nil,
		"who can decrypt a new store, or what an .age store is written to: age1..., \"ssh-ed25519 ...\", or a file of them (ssh-keyscan output works); default: .sops.yaml or secrets.nix")
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
			termsafe.Fprintf(f.IO.ErrOut, "Passphrase for %s: ", path)
			b, err := f.IO.ReadPassword()
			termsafe.Fprintln(f.IO.ErrOut)
			return b, err
		}
	}
	return crypt.LoadIdentities(f.Getenv, extra, ask, f.warn, f.pluginUI())
}

// storeRecipients says who a store at path is declared to be encrypted to:
// the flags when given, else the .sops.yaml creation rule (sops files,
// which is returned too: a new file follows its encryption rules) or the
// agenix secrets.nix entry (.age files); never the file itself. crypt
// encrypts sops files to the converted age1 keys, which sops-nix decrypts
// with, and .age files to ssh keys as they are, which agenix decrypts with.
func (f *Factory) storeRecipients(path string, flags []string) ([]crypt.Recipient, *crypt.SopsRule, error) {
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
		recips, _, err = crypt.AgenixRecipients(path, f.Getenv)
		if errors.Is(err, crypt.ErrNoSecretsNix) {
			return nil, nil, noRecipients(path, "secrets.nix entry")
		}
	}
	return recips, rule, err
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

// noRecipients says that nothing declares who may decrypt path. For an
// existing .age file that stops every write: its own recipients are not
// known (see crypt.File.Declare).
func noRecipients(path, where string) error {
	if _, err := os.Lstat(path); err != nil {
		e := &hintError{
			msg: fmt.Sprintf("%s does not exist and no %s or --recipient says who may decrypt it", path, where),
			hints: []string{
				"pass --recipient age1... or --recipient \"$(ssh-keyscan -t ed25519 HOST)\" (repeatable), or a file of keys",
				"or add a creation rule to .sops.yaml (sops) / an entry to secrets.nix (agenix)",
			},
		}
		if format, _ := crypt.FormatOf(path); format == crypt.FormatSOPS {
			// A JSON/YAML store can also be git-crypt's, which needs no
			// recipients: never written in clear where git-crypt is not.
			e.msg = fmt.Sprintf("%s does not exist, no %s or --recipient says who may decrypt it, and git-crypt's filter does not cover it; nothing was written", path, where)
			e.hints = append(e.hints, fmt.Sprintf("or let git-crypt encrypt it: add `%s filter=git-crypt diff=git-crypt` to the repository's .gitattributes (after `git-crypt init`)", filepath.ToSlash(path)))
		}
		return e
	}
	return &hintError{
		msg: fmt.Sprintf("%s: no %s or --recipient says who may decrypt it, and an age file does not say who it is encrypted to; nothing was written", path, where),
		hints: []string{
			fmt.Sprintf("declare them once in agenix's secrets.nix: %q.publicKeys = [ \"ssh-ed25519 AAAA...\" \"age1...\" ];", filepath.Base(path)),
			fmt.Sprintf("or give them to each write: --recipient age1... / --recipient \"ssh-ed25519 ...\" / --recipient keys.txt; `nix-auth rekey %s --recipient ...` re-encrypts without changing a token", path),
		},
	}
}

// openEncrypted loads the store at path, or starts a new one when it does
// not exist. It runs before any login flow so that a missing key fails
// before the user goes through a browser (storeSink.CheckSave then checks
// that the file's rules would encrypt the host's token). Its format is
// --format, or git-crypt where git says git-crypt encrypts the path, or
// its name's (storeFormat).
func (f *Factory) openEncrypted(path string, o *keyOptions) (*crypt.File, error) {
	if _, err := forcedFormat(path, o.format); err != nil {
		return nil, err
	}
	if _, err := formatOf(path); err != nil {
		return nil, err
	}
	// A store nix-auth would refuse to write (a link at it or its lock, a
	// folder others can change) is refused before a login flow too.
	if err := safefile.Check(path, false); err != nil {
		return nil, err
	}
	format, err := f.storeFormat(path, o.format)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return f.openFormat(path, format, o)
	}
	var recips []crypt.Recipient
	var rule *crypt.SopsRule
	if format == crypt.FormatGitCrypt {
		err = gitCryptRecipients(path, o)
	} else {
		recips, rule, err = f.storeRecipients(path, o.recipients)
	}
	if err != nil {
		return nil, err
	}
	file, err := crypt.Create(path, recips, crypt.CreateOptions{Now: f.Now, SopsRule: rule, Format: format, Git: f.git(), PluginUI: f.pluginUI()})
	if err != nil {
		return nil, err
	}
	file.Warn = f.warn
	return file, nil
}

// openExisting loads a store that must already exist, for a write (see
// openFormat).
func (f *Factory) openExisting(path string, o *keyOptions) (*crypt.File, error) {
	if _, err := forcedFormat(path, o.format); err != nil {
		return nil, err
	}
	if _, err := formatOf(path); err != nil {
		return nil, err
	}
	format, err := f.storeFormat(path, o.format)
	if err != nil {
		return nil, err
	}
	return f.openFormat(path, format, o)
}

// openFormat loads an existing store of the given format for a write, and
// declares its recipients (crypt.File.Declare has the rule): an .age store
// is written to --recipient or its secrets.nix entry and is refused
// without either; a sops store keeps its own recipients, and only rekey
// changes them, so --recipient is a wrong call there, and .sops.yaml, when
// it has a rule for the file, is only compared. A git-crypt store has no
// recipients of nix-auth's.
func (f *Factory) openFormat(path string, format crypt.Format, o *keyOptions) (*crypt.File, error) {
	if format == crypt.FormatGitCrypt {
		if err := gitCryptRecipients(path, o); err != nil {
			return nil, err
		}
		file, err := crypt.Open(path, crypt.OpenOptions{Now: f.Now, Format: format, Git: f.git()})
		if err != nil {
			return nil, err
		}
		file.Warn = f.warn
		return file, nil
	}
	if format == crypt.FormatSOPS && len(o.recipients) > 0 {
		return nil, usagef("--recipient only applies when creating %s; change who can decrypt it with `nix-auth rekey %s --recipient ...`", path, path)
	}
	ids, err := f.identities(o.identities)
	if err != nil {
		return nil, err
	}
	file, err := crypt.Open(path, crypt.OpenOptions{Identities: ids.List, Tried: ids.Tried, Now: f.Now, Format: format})
	if err != nil {
		return nil, err
	}
	file.Warn, file.PluginUI = f.warn, f.pluginUI()
	recips, _, err := f.storeRecipients(path, o.recipients)
	switch {
	case err == nil:
		err = file.Declare(recips)
	case format == crypt.FormatSOPS:
		// The file's own recipients apply; a config that cannot say
		// otherwise changes nothing.
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return file, nil
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
