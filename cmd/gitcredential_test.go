package cmd

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runGitCredential runs `nix-auth git-credential ACTION` in-process with a
// nix.conf whose access-tokens line is tokens, and returns its exit code,
// stdout and stderr.
func runGitCredential(t *testing.T, tokens, action string, stdin io.Reader) (int, string, string) {
	t.Helper()
	home := t.TempDir()
	conf := filepath.Join(home, ".config", "nix", "nix.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("access-tokens = "+tokens+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home}
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:     &IOStreams{In: stdin, Out: &out, ErrOut: &errOut},
		Getenv: func(k string) string { return env[k] },
		Now:    time.Now,
	}
	code := Run(context.Background(), f, []string{"git-credential", action})
	return code, out.String(), errOut.String()
}

const credTokens = "github.com=ghp_gcSECRET0123456789 github.com/org=ghp_orgSECRET0123 " +
	"gitlab.com=PAT:glpat-gcSECRET01 gitlab.example.com=OAuth2:oauthSECRET01 " +
	"codeberg.org=cbSECRET01 git.sr.ht=srhtSECRET01 git.example.com:8443=portSECRET01"

func TestGitCredentialGet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		stderr         string // a substring of stderr; "" for none at all
	}{
		{"github", "protocol=https\nhost=github.com\n\n", "username=x-access-token\npassword=ghp_gcSECRET0123456789\n", ""},
		{"end of input ends the description", "protocol=https\nhost=github.com", "username=x-access-token\npassword=ghp_gcSECRET0123456789\n", ""},
		{"CRLF lines", "protocol=https\r\nhost=github.com\r\n\r\n", "username=x-access-token\npassword=ghp_gcSECRET0123456789\n", ""},
		{"host in capitals, explicit port 443", "protocol=https\nhost=GitHub.COM:443\n", "username=x-access-token\npassword=ghp_gcSECRET0123456789\n", ""},
		{"unknown keys skipped", "capability[]=authtype\ncapability[]=state\nwwwauth[]=Basic realm=\"GitHub\"\nprotocol=https\nhost=github.com\nquit=0\n\n",
			"username=x-access-token\npassword=ghp_gcSECRET0123456789\n", ""},
		{"useHttpPath picks the org key", "protocol=https\nhost=github.com\npath=org/repo.git\n", "username=x-access-token\npassword=ghp_orgSECRET0123\n", ""},
		{"useHttpPath, another owner", "protocol=https\nhost=github.com\npath=organisation/repo.git\n", "username=x-access-token\npassword=ghp_gcSECRET0123456789\n", ""},
		{"gitlab PAT", "protocol=https\nhost=gitlab.com\n", "username=oauth2\npassword=glpat-gcSECRET01\n", ""},
		{"gitlab OAuth", "protocol=https\nhost=gitlab.example.com\n", "username=oauth2\npassword=oauthSECRET01\n", ""},
		{"codeberg", "protocol=https\nhost=codeberg.org\n", "username=x-access-token\npassword=cbSECRET01\n", ""},
		{"port", "protocol=https\nhost=git.example.com:8443\n", "username=x-access-token\npassword=portSECRET01\n", ""},
		{"port must match", "protocol=https\nhost=git.example.com\n", "", ""},
		{"url= as git reads it", "url=https://github.com/org/repo.git\n", "username=x-access-token\npassword=ghp_orgSECRET0123\n", ""},
		{"the username git was given", "protocol=https\nhost=gitlab.com\nusername=oauth2\n", "username=oauth2\npassword=glpat-gcSECRET01\n", ""},
		{"another user's URL", "protocol=https\nhost=github.com\nusername=alice\n", "", ""},
		{"git has a password already", "protocol=https\nhost=github.com\nusername=x-access-token\npassword=given\n", "", ""},
		{"no token for the host", "protocol=https\nhost=example.org\n", "", ""},
		{"a subdomain is another host", "protocol=https\nhost=evil.github.com\n", "", ""},
		{"a suffix is another host", "protocol=https\nhost=github.com.evil.example\n", "", ""},
		{"sourcehut takes no token", "protocol=https\nhost=git.sr.ht\n", "", ""},
		{"no protocol", "host=github.com\n", "", ""},
		{"ssh", "protocol=ssh\nhost=github.com\n", "", ""},
		{"http is refused", "protocol=http\nhost=github.com\n", "", "not giving git the token for github.com over http://"},
		{"http for a host without a token says nothing", "protocol=http\nhost=example.org\n", "", ""},
		{"lines after the empty line are not read", "protocol=https\n\nhost=github.com\n", "", ""},
		{"a host with a path is no host", "protocol=https\nhost=github.com/org\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runGitCredential(t, credTokens, "get", strings.NewReader(tt.in))
			if code != 0 || out != tt.want {
				t.Errorf("exit %d, stdout %q; want 0, %q (stderr %q)", code, out, tt.want, errOut)
			}
			if tt.stderr == "" && errOut != "" || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr %q, want %q", errOut, tt.stderr)
			}
			if strings.Contains(errOut, "SECRET") {
				t.Errorf("stderr shows a token: %q", errOut)
			}
		})
	}
}

// endless is a reader that never ends: a helper must stop reading by
// itself.
type endless struct{ b byte }

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b
	}
	return len(p), nil
}

func TestGitCredentialHostileInput(t *testing.T) {
	t.Parallel()
	huge := "protocol=https\nhost=github.com\npath=" + strings.Repeat("a", 70<<10) + "\n\n"
	many := "protocol=https\nhost=github.com\n" + strings.Repeat("wwwauth[]="+strings.Repeat("x", 1000)+"\n", 1100) + "\n"
	tests := []struct {
		name   string
		in     io.Reader
		stderr string
	}{
		{"line over git's limit", strings.NewReader(huge), "line 3 of the input is longer than 64 KiB"},
		{"endless line", endless{'a'}, "line 1 of the input is longer than 64 KiB"},
		{"endless lines", io.MultiReader(strings.NewReader("protocol=https\n"), endless{'\n'}), ""},
		{"too much input", strings.NewReader(many), "the input is larger than 1024 KiB"},
		{"NUL", strings.NewReader("protocol=https\nhost=github.com\x00password=x\n"), "line 2 of the input contains a NUL byte"},
		{"no =", strings.NewReader("protocol=https\nhost github.com ghp_SECRETLINE\n"), "line 2 of the input is not a key=value line"},
		{"bad url", strings.NewReader("url=::ghp_SECRETURL\n"), "line 1 of the input: url is not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runGitCredential(t, credTokens, "get", tt.in)
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Contains(errOut, "SECRET") || strings.Contains(errOut, "aaaa") || len(errOut) > 1024 {
				t.Errorf("stderr echoes the input: %q", errOut)
			}
			if tt.stderr == "" {
				// An endless stream of empty lines ends at the first.
				if code != 0 || errOut != "" {
					t.Errorf("exit %d, stderr %q; want 0 and nothing", code, errOut)
				}
				return
			}
			if code != exitFail || !strings.HasPrefix(errOut, "nix-auth: error: git-credential: ") || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tt.stderr)
			}
		})
	}
}

func TestGitCredentialStoreEraseDoNothing(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"store", "erase", "some-future-operation"} {
		t.Run(action, func(t *testing.T) {
			in := "protocol=https\nhost=github.com\nusername=x-access-token\npassword=gitsOwnSECRET\n\n"
			code, out, errOut := runGitCredential(t, credTokens, action, strings.NewReader(in))
			if code != 0 || out != "" || errOut != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and no output", code, out, errOut)
			}
			// Endless input is read only up to the bound.
			if code, _, _ := runGitCredential(t, credTokens, action, endless{'x'}); code != 0 {
				t.Errorf("endless input: exit %d", code)
			}
		})
	}
}

func TestGitCredentialBadConfig(t *testing.T) {
	t.Parallel()
	// A token Nix would read but git cannot carry is an error naming the
	// file and line, without the token.
	code, out, errOut := runGitCredential(t, "github.com=ghp_\x01SECRET", "get", strings.NewReader("protocol=https\nhost=github.com\n"))
	if code != exitFail || out != "" || !strings.Contains(errOut, "nix.conf:1") || strings.Contains(errOut, "SECRET") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
