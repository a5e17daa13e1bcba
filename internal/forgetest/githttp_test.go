package forgetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// gitLsRemote runs the real git against the fake with url (credentials in
// it, or none) and no helper at all.
func gitLsRemote(t *testing.T, g *GitServer, url string) (string, error) {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is not installed: the git fake is tested with the real client")
	}
	cmd := exec.Command(git, "ls-remote", url)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, g.GitEnv()...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestGitServerRules(t *testing.T) {
	t.Parallel()
	g := NewGitServer(t)
	g.AddToken(Token{Value: "ghp_good"})
	g.AddToken(Token{Value: "oauth_good", OAuth: true})
	g.AddToken(Token{Value: "cb_good"})
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://x-access-token:ghp_good@github.com/o/r.git", true},
		{"https://anyone:ghp_good@github.com/o/r.git", true},
		{"https://x-access-token:ghp_bad@github.com/o/r.git", false},
		{"https://github.com/o/r.git", false},
		{"https://anyone:ghp_good@gitlab.com/o/r.git", true},
		{"https://oauth2:oauth_good@gitlab.com/o/r.git", true},
		{"https://anyone:oauth_good@gitlab.com/o/r.git", false},
		{"https://anyone:cb_good@codeberg.org/o/r.git", true},
		{"https://cb_good:x-oauth-basic@codeberg.org/o/r.git", true},
		{"https://x-access-token:ghp_good@git.sr.ht/~o/r", false},
		{"https://x-access-token:ghp_good@unknown.example.com/o/r.git", false},
	}
	for _, tt := range tests {
		out, err := gitLsRemote(t, g, tt.url)
		if ok := err == nil && strings.Contains(out, GitAdvertisedCommit+"\trefs/heads/main"); ok != tt.ok {
			t.Errorf("git ls-remote %s: ok=%v, want %v; output:\n%s", tt.url, ok, tt.ok, out)
		}
	}
	reqs := g.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request reached the fake")
	}
	first := reqs[0]
	if first.Scheme != "https" || first.Host != "github.com" || first.Path != "/o/r.git/info/refs" || first.Status != 401 || first.Auth != "" {
		t.Errorf("first request %+v: want git's unauthenticated https probe answered 401", first)
	}
	var sawCred bool
	for _, r := range reqs {
		sawCred = sawCred || r.Auth == "basic" && r.User == "x-access-token" && r.Password == "ghp_good" && r.Status == 200
	}
	if !sawCred {
		t.Errorf("no request decoded to x-access-token:ghp_good with 200: %+v", reqs)
	}
}

func TestGitServerSeesCleartext(t *testing.T) {
	t.Parallel()
	g := NewGitServer(t)
	g.AddToken(Token{Value: "ghp_good"})
	if _, err := gitLsRemote(t, g, "http://x-access-token:ghp_good@github.com/o/r.git"); err != nil {
		t.Fatalf("http:// through the proxy: %v", err)
	}
	for _, r := range g.Requests() {
		if r.Scheme != "http" {
			t.Errorf("request %+v: want it seen as sent in clear", r)
		}
	}
}
