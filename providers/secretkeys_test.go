package providers

import (
	"errors"
	"testing"
)

func TestSecretsKey(t *testing.T) {
	for _, c := range []struct {
		key  string
		kind Kind
		host string
		err  error
	}{
		{"github", GitHub, "github.com", nil},
		{"GitLab", GitLab, "gitlab.com", nil},
		{"codeberg", Forgejo, "codeberg.org", nil},
		{"sourcehut", SourceHut, "git.sr.ht", nil},
		{"srht", SourceHut, "git.sr.ht", nil},
		{"github.com", GitHub, "github.com", nil},
		{"git.example.com", "", "git.example.com", nil},
		{"gitlab.example.com:8443", "", "gitlab.example.com:8443", nil},
		{"gitea", "", "", ErrSelfHosted},
		{"forgejo", "", "", ErrSelfHosted},
		{"tailscale", "", "", ErrNotForgeKey},
		{"github/oauth_token", "", "", ErrNotForgeKey},
		{"github.com/org", GitHub, "github.com/org", nil},
		{"restic_password", "", "", ErrNotForgeKey},
		{"ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "", "", ErrTokenArgument},
	} {
		kind, host, _, err := SecretsKey(c.key)
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) || kind != c.kind || host != c.host {
			t.Errorf("SecretsKey(%q) = %q, %q, %v; want %q, %q, %v", c.key, kind, host, err, c.kind, c.host, c.err)
		}
	}
	var e *Error
	if _, _, _, err := SecretsKey("gitea"); !errors.As(err, &e) || e.Kind != Gitea {
		t.Errorf("gitea: %v", err)
	}
}

func TestTokenKeys(t *testing.T) {
	for _, k := range []string{"oauth_token", "token", "pat", "PAT", "Token"} {
		if !IsTokenKey(k) {
			t.Errorf("%s is a token key", k)
		}
	}
	for _, k := range []string{"host", "user", "password", "authkey"} {
		if IsTokenKey(k) {
			t.Errorf("%s is no token key", k)
		}
	}
}

func TestHostKind(t *testing.T) {
	if k, ok := HostKind("gitlab.com/group"); !ok || k != GitLab {
		t.Errorf("gitlab.com/group: %q %v", k, ok)
	}
	if _, ok := HostKind("gitlab.example.com"); ok {
		t.Error("a self-hosted GitLab is known offline")
	}
}
