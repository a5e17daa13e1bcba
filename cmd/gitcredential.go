package cmd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// Bounds on what git sends a helper: git itself refuses a line of 64 KiB or
// more, and a description is a handful of lines, so anything larger is not
// git talking and is refused before it fills memory.
const (
	maxCredentialLine  = 64 << 10
	maxCredentialInput = 1 << 20
)

// credential is the part of git's credential description a helper uses.
type credential struct {
	protocol, host, path, username, password string
}

// credentialInputError is input that is not git's credential format. It
// says where, never what: the input may hold a password.
type credentialInputError struct{ msg string }

func (e *credentialInputError) Error() string { return "git-credential: " + e.msg }

func (e *credentialInputError) Hints() []string {
	return []string{"git runs this command as a credential helper: it reads key=value lines (see git-credential(1)), ending at an empty line"}
}

func credentialInputErrorf(format string, a ...any) error {
	return &credentialInputError{fmt.Sprintf(format, a...)}
}

// readCredential reads git's description (git-credential(1), "INPUT/OUTPUT
// FORMAT"): key=value lines, up to an empty line or the end of input. Keys
// a helper does not use (capability[], wwwauth[], quit...) are skipped, as
// git skips them; a key given twice keeps its last value, as in git.
func readCredential(r io.Reader) (*credential, error) {
	c := &credential{}
	br := bufio.NewReaderSize(r, maxCredentialLine)
	total := 0
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		total += len(line)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return nil, credentialInputErrorf("line %d of the input is longer than %d KiB", n, maxCredentialLine>>10)
		case total > maxCredentialInput:
			return nil, credentialInputErrorf("the input is larger than %d KiB", maxCredentialInput>>10)
		case err != nil && err != io.EOF:
			return nil, fmt.Errorf("git-credential: reading the input: %w", err)
		}
		eof := err == io.EOF
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r")) // git's strbuf_getline drops it too
		if len(line) == 0 {
			return c, nil
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, credentialInputErrorf("line %d of the input contains a NUL byte", n)
		}
		key, value, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return nil, credentialInputErrorf("line %d of the input is not a key=value line", n)
		}
		v := string(value)
		switch string(key) {
		case "protocol":
			c.protocol = v
		case "host":
			c.host = v
		case "path":
			c.path = v
		case "username":
			c.username = v
		case "password":
			c.password = v
		case "url":
			// git reads url= as its parts; people testing a helper by
			// hand write it.
			u, err := url.Parse(v)
			if err != nil || u.Scheme == "" || u.Host == "" {
				return nil, credentialInputErrorf("line %d of the input: url is not an absolute URL", n)
			}
			c.protocol, c.host, c.path = u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/")
			c.username, c.password = "", ""
			if u.User != nil {
				c.username = u.User.Username()
				c.password, _ = u.User.Password()
			}
		}
		if eof {
			return c, nil
		}
	}
}

func newGitCredentialCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "git-credential get|store|erase",
		Short: "Git credential helper that answers with the tokens Nix uses",
		Long: strings.TrimSpace(`
A git credential helper (gitcredentials(7)): git runs it, usually set up by
"nix-auth setup-git", and it answers with the token Nix uses for the host: the
access-tokens Nix reads from its config and the files it includes
(access-tokens.conf, files "nix-auth render" wrote).

get    prints username= and password= for an https:// URL whose host has a
       token, and nothing otherwise, so git asks its next helper or the user.
       The token goes as the password, without Nix's PAT:/OAuth2: prefix,
       with the username the forge expects: oauth2 for GitLab,
       x-access-token for GitHub, GitHub Enterprise, Gitea, Forgejo and
       Codeberg. git.sr.ht takes no token over HTTPS (pushes go over SSH), so
       it gets nothing. A URL that names another user (https://alice@host/)
       gets nothing. With credential.useHttpPath, a key such as
       github.com/org is chosen for github.com/org/repo, as Nix chooses it.
       An http:// URL never gets a token: it would travel in clear.
store  does nothing: git calls it after every successful fetch or push to
       save what it used, and nix-auth only hands out tokens that login,
       set-token or render put in place; it keeps no git passwords.
erase  does nothing either, and succeeds: git calls it when a credential
       was refused; a token is removed with "nix-auth logout", which git
       cannot know to run.`),
		Example: strings.Trim(`
  git config --global credential.https://github.com.helper '!nix-auth git-credential'
  printf 'protocol=https\nhost=github.com\n\n' | nix-auth git-credential get`, "\n"),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			switch a[0] {
			case "get":
				return gitCredentialGet(f, configFlag(c))
			default:
				// store, erase, and operations later versions of git may
				// add: gitcredentials(7) asks a helper to ignore what it
				// does not do. The input is drained (bounded) so git never
				// writes into a closed pipe.
				_, err := io.Copy(io.Discard, io.LimitReader(f.IO.In, maxCredentialInput))
				return err
			}
		},
	}
}

// gitCredentialGet answers git's get from the tokens Nix uses.
func gitCredentialGet(f *Factory, config string) error {
	c, err := readCredential(f.IO.In)
	if err != nil {
		return err
	}
	if c.host == "" || c.password != "" || c.protocol != "https" && c.protocol != "http" {
		return nil
	}
	// DNS names are case-insensitive and 443 is https's port; access-tokens
	// keys name neither.
	host := strings.TrimSuffix(strings.ToLower(c.host), ":443")
	if nixconf.ValidateHost(host) != nil || strings.Contains(host, "/") {
		return nil // no access-tokens key names it: nothing to give
	}
	path := strings.TrimSuffix(strings.Trim(c.path, "/"), ".git")
	store, err := openStore(f, config, false)
	if err != nil {
		return err
	}
	entries, err := store.Tokens()
	if err != nil {
		return err
	}
	e, ok := nixconf.TokenFor(entries, host, path)
	if !ok {
		return nil
	}
	user, password, ok := providers.GitCredential(host, e.Token)
	if !ok {
		return nil
	}
	if c.protocol != "https" {
		f.warn(fmt.Sprintf("not giving git the token for %s over http://, where it would travel in clear; use an https:// URL", e.Host))
		return nil
	}
	if c.username != "" && c.username != user {
		return nil
	}
	if err := nixconf.ValidateToken(password); err != nil {
		return fmt.Errorf("the token for %s (%s:%d) cannot be given to git: %w", e.Host, e.File, e.Line, err)
	}
	// The token passed ValidateToken (no whitespace or control
	// characters), so termsafe leaves it as it is, unless it is longer than
	// a line termsafe lets through: no forge issues such a token.
	if len(password) > termsafe.MaxLine {
		return fmt.Errorf("the token for %s (%s:%d) is longer than %d characters: not a token git can be given", e.Host, e.File, e.Line, termsafe.MaxLine)
	}
	_, err = termsafe.Fprintf(f.IO.Out, "username=%s\npassword=%s\n", user, password)
	return err
}
