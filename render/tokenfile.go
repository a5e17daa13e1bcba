package render

// Token files: one token per file, as sops-nix deploys each key of a sops
// file (/run/secrets/github/oauth_token) and agenix each .age file
// (/run/agenix/github-token). The file holds the token and, as editors and
// `echo` leave it, a trailing newline; nothing else.

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/nix-auth/nix-auth/crypt"
	"github.com/nix-auth/nix-auth/internal/safefile"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// TokenFile is a host's token kept in a file of its own.
type TokenFile struct {
	Host, Path string
}

// maxTokenFile bounds the read of a token file: a token is at most 16 KiB
// (nixconf's limit), and a larger file is refused before it is read.
const maxTokenFile = 64 << 10

// ErrTokenFile is a token file that does not hold one token alone.
var ErrTokenFile = errors.New("not a token file")

// ErrDuplicateHost is a host that two inputs give a token for: render
// does not pick one.
var ErrDuplicateHost = errors.New("a host has two tokens")

// tokenFileHint says what a token file must hold.
const tokenFileHint = "a token file holds the token alone, on one line, as sops-nix and agenix deploy a secret: fix the secret and deploy it again; nothing was written"

// ReadTokenFile reads host's token from a token file and returns it as the
// entry render writes (to access-tokens, and to netrc too where the forge
// table sends a forge known by its host's name, crypt.UseOf, with
// providers.DefaultNetrcLogin): one trailing line break trimmed, the
// forge's type prefix added where its Nix fetcher needs one (PAT: for a
// token for gitlab.com that has none), and held to the rules of the line
// (nixconf.ValidateToken). Several lines, a "host=token" line, an empty
// file, control characters and a file too large are refused with an
// *Error (ErrTokenFile) naming the file, never quoting its content. A
// path that is not a regular file (a FIFO, a directory) is refused without
// being opened for reading; symlinks are followed, as sops-nix and agenix
// deploy through them.
func ReadTokenFile(tf TokenFile) (crypt.Entry, error) {
	bad := func(format string, a ...any) error {
		return &Error{msg: fmt.Sprintf("%s: the token file for %s: %s", tf.Path, tf.Host, fmt.Sprintf(format, a...)),
			kind: ErrTokenFile, hints: []string{tokenFileHint}}
	}
	if err := nixconf.ValidateHost(tf.Host); err != nil {
		return crypt.Entry{}, &Error{msg: fmt.Sprintf("the token file %s: %v", tf.Path, err), kind: ErrTokenFile,
			hints: []string{"name the host as access-tokens does: github.com, gitlab.example.com:8443, github.com/org"}}
	}
	data, err := safefile.ReadLimited(tf.Path, maxTokenFile)
	switch {
	case errors.Is(err, safefile.ErrTooLarge):
		return crypt.Entry{}, bad("larger than %d KiB: not a token", maxTokenFile>>10)
	case errors.Is(err, safefile.ErrNotRegular):
		return crypt.Entry{}, &Error{msg: err.Error(), kind: ErrTokenFile, hints: []string{tokenFileHint}}
	case errors.Is(err, fs.ErrNotExist):
		return crypt.Entry{}, &Error{msg: fmt.Sprintf("%s: the token file for %s does not exist", tf.Path, tf.Host), kind: fs.ErrNotExist,
			hints: []string{"check the path, and that the unit which deploys the secret (sops-nix, agenix) runs before render"}}
	case err != nil:
		return crypt.Entry{}, err
	}
	tok := string(data)
	tok = strings.TrimSuffix(strings.TrimSuffix(tok, "\n"), "\r")
	if tok == "" {
		return crypt.Entry{}, bad("the file is empty")
	}
	if n := strings.Count(tok, "\n"); n > 0 {
		return crypt.Entry{}, bad("the file has %d lines; it must hold one token", n+1)
	}
	// ValidateToken's error never quotes the token.
	if err := nixconf.ValidateToken(tok); err != nil {
		return crypt.Entry{}, bad("%v", err)
	}
	if h, rest, ok := strings.Cut(tok, "="); ok && strings.Trim(rest, "=") != "" && strings.ContainsAny(h, ".:") && nixconf.ValidateHost(h) == nil {
		// A "host=token" line (an access-tokens fragment) would become
		// host=host=token.
		return crypt.Entry{}, bad("the file holds a host=token pair, not a token alone")
	}
	kind, ok := providers.HostKind(tf.Host)
	if ok {
		if tok, err = providers.NormalizeToken(kind, tok); err != nil {
			return crypt.Entry{}, bad("%v", err)
		}
	}
	// Again with the prefix: it counts towards the length.
	if err := nixconf.ValidateToken(tok); err != nil {
		return crypt.Entry{}, bad("%v", err)
	}
	// Where it goes is the forge table's rule, as for a store's entry
	// that login wrote: a Codeberg token to netrc too.
	e := crypt.Entry{Host: tf.Host, Token: tok, Use: crypt.UseOf(kind, tf.Host)}
	if e.Use.Netrc() {
		e.Login = providers.DefaultNetrcLogin
	}
	return e, nil
}
