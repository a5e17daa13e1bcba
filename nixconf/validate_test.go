package nixconf

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateHost(t *testing.T) {
	good := []string{
		"github.com", "gitlab.example.com", "git.sr.ht", "codeberg.org", "localhost",
		"gitea.internal:3000", "[::1]:8443", "[2001:db8::1]", "github.com/org", "gitlab.com/group/sub",
		"my_host.lan", "xn--bcher-kva.example",
	}
	for _, h := range good {
		if err := ValidateHost(h); err != nil {
			t.Errorf("ValidateHost(%q) = %v", h, err)
		}
	}
	bad := map[string]string{
		"":                        "empty",
		"git hub.com":             "whitespace",
		"github.com\textra":       "whitespace",
		"github.com\nfoo = bar":   "control character",
		"github.com\r":            "control character",
		"a.com\x00":               "control character",
		"a.com\x7f":               "control character",
		"a.com=evil":              "'='",
		"a.com#x":                 "'#'",
		"bücher.de":               "non-ASCII",
		"a.com\xff":               "UTF-8",
		"a..com":                  "empty label",
		".a.com":                  "empty label",
		"-a.com":                  "starts or ends",
		"a.com:":                  "port",
		"a.com:0":                 "port",
		"a.com:99999":             "port",
		"a.com:+1":                "port",
		"[::1":                    "']'",
		"[1.2.3.4]":               "IPv6",
		":80":                     "empty",
		"github.com/":             "empty part",
		"github.com//x":           "empty part",
		"/org":                    "empty",
		"a!b.com":                 "contains",
		strings.Repeat("a", 2000): "long",
		strings.Repeat("a", 64):   "63",
		strings.Repeat("a.", 130): "253",
		"a.com\u00a0":             "non-ASCII",
		"a.com\u2028x":            "non-ASCII",
		"evil.test/../x":          "'..' part",
		"evil.test/./x":           "'..' part",
		"evil.test/x/..":          "'..' part",
		"evil.test/%2e%2E/x":      "'..' part",
		"evil.test/%2e":           "'..' part",
		"evil.test/%zz":           "%-escape",
		"./":                      "empty label",
		"../x":                    "empty label",
	}
	for h, want := range bad {
		err := ValidateHost(h)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateHost(%q) = %v, want an error containing %q", h, err, want)
		}
	}
}

func TestValidateToken(t *testing.T) {
	for _, tok := range []string{"ghp_abc123", "PAT:glpat-xyz", "OAuth2:abc", "a=b==", "x"} {
		if err := ValidateToken(tok); err != nil {
			t.Errorf("ValidateToken(%s) = %v", maskTok(tok), err)
		}
	}
	const secret = "SECRETPART"
	bad := map[string]string{
		"":                                  "empty",
		secret + " other":                   "whitespace",
		secret + "\textra":                  "whitespace",
		secret + "\nextra-substituters = x": "control character",
		secret + "\r":                       "control character",
		secret + "#c":                       "'#'",
		secret + "\xff":                     "UTF-8",
		secret + "é":                        "non-ASCII",
		secret + strings.Repeat("x", 17000): "long",
	}
	for tok, want := range bad {
		err := ValidateToken(tok)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateToken(%s) = %v, want an error containing %q", maskTok(tok), err, want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error for %q shows the token", want)
		}
	}
}

// maskTok names a token in a test failure without showing it.
func maskTok(tok string) string { return fmt.Sprintf("<token of %d bytes>", len(tok)) }
