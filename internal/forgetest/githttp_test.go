package forgetest

import (
	"archive/tar"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
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

// TestGitServerDownloads: archives and cache files through the proxy, as
// Nix's downloader fetches them: 401 and a Basic challenge without a
// credential, the content with one the host accepts.
func TestGitServerDownloads(t *testing.T) {
	t.Parallel()
	g := NewGitServer(t)
	g.AddToken(Token{Value: "cb_good"})
	g.AddCache("cache.example.com", CacheCredential{User: "alice", Password: "c_good"})
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(g.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	proxy, _ := url.Parse(g.ProxyURL())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(u, user, password string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if user != "" || password != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	archive := "https://codeberg.org/owner/private/archive/main.tar.gz"
	if code, _, h := get(archive, "", ""); code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("archive without a credential: %d %v", code, h)
	}
	if code, _, _ := get(archive, "anyone", "cb_bad"); code != 401 {
		t.Fatalf("archive with a bad token: %d", code)
	}
	code, body, _ := get(archive, "anyone", "cb_good")
	if code != 200 {
		t.Fatalf("archive with the token: %d", code)
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "private/,private/default.nix" {
		t.Fatalf("archive holds %v", names)
	}
	if code, _, _ := get("https://cache.example.com/nix-cache-info", "bob", "c_good"); code != 401 {
		t.Fatalf("cache with another user: %d", code)
	}
	if code, body, _ := get("https://cache.example.com/nix-cache-info", "alice", "c_good"); code != 200 || body != CacheInfo {
		t.Fatalf("cache with the credential: %d %q", code, body)
	}
	last := g.Requests()[len(g.Requests())-1]
	if last.Host != "cache.example.com" || last.User != "alice" || last.Password != "c_good" || last.Status != 200 {
		t.Fatalf("logged %+v", last)
	}
}
