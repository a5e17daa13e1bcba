package crypt

import "errors"

// ErrPassphrase is wrapped by errors about an OpenSSH private key that is
// passphrase-protected when no passphrase, or a wrong one, was given.
var ErrPassphrase = errors.New("ssh private key is passphrase-protected")

// ErrNoSopsConfig is wrapped by SopsCreationRule when no .sops.yaml (or no
// creation_rules in it) applies, so callers can fall back to --recipient flags
// exactly when sops would fall back to its command-line keys.
var ErrNoSopsConfig = errors.New("no sops config")

// ErrNoSecretsNix is wrapped by AgenixRecipients when there is no agenix
// secrets.nix, so callers can fall back to --recipient flags.
var ErrNoSecretsNix = errors.New("no agenix secrets.nix")

// ErrDeclaration is wrapped by errors about a declaration of recipients
// that cannot be used (agenix's secrets.nix cannot be found, evaluated, or
// has no entry for the file): the commands take recipients from their
// flags instead.
var ErrDeclaration = errors.New("the recipients' declaration cannot be used")

// keyError is an error about keys, recipients or identities that carries
// advice: cmd prints Error() and then each hint on its own line.
type keyError struct {
	msg   string
	err   error // cause, kept for errors.Is; never holds key material
	kind  error // an Err* kind the error also is, without its text
	hints []string
}

// Is reports whether target is e's kind.
func (e *keyError) Is(target error) bool { return e.kind != nil && target == e.kind }

func (e *keyError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *keyError) Unwrap() error { return e.err }

// Hints returns advice for the user, one line each.
func (e *keyError) Hints() []string { return e.hints }
