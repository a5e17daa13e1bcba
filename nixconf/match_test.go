package nixconf

import "testing"

func TestTokenFor(t *testing.T) {
	t.Parallel()
	entries := []Entry{
		{Host: "github.com", Token: "host"},
		{Host: "github.com/org", Token: "org"},
		{Host: "github.com/org/special", Token: "repo"},
		{Host: "gitlab.com/group/sub", Token: "subgroup"},
		{Host: "git.example.com:8443", Token: "port"},
	}
	tests := []struct {
		host, path string
		want       string // "" for no token
	}{
		{"github.com", "", "host"},
		{"github.com", "someone/repo", "host"},
		{"github.com", "org/repo", "org"},
		{"github.com", "org", "org"},
		{"github.com", "org/special", "repo"},
		{"github.com", "org/special/deeper", "repo"},
		// A prefix that does not end at a segment is no match.
		{"github.com", "organisation/repo", "host"},
		{"github.com", "org/specialist", "org"},
		{"gitlab.com", "group/sub/repo", "subgroup"},
		{"gitlab.com", "group/repo", ""},
		{"gitlab.com", "", ""},
		{"git.example.com:8443", "o/r", "port"},
		{"git.example.com", "o/r", ""},
		// Exact hosts only: no suffix, no subdomain, no prefix.
		{"evilgithub.com", "", ""},
		{"github.com.evil.example", "", ""},
		{"api.github.com", "", ""},
		{"github.co", "", ""},
	}
	for _, tt := range tests {
		e, ok := TokenFor(entries, tt.host, tt.path)
		if got := map[bool]string{true: e.Token}[ok]; got != tt.want {
			t.Errorf("TokenFor(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
}
