package forgetest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitServer is a fake git smart-HTTP endpoint for the real git client, and
// the fake of what Nix's downloader fetches (forge archives, binary
// caches: see AddCache and download in cache.go). It
// serves, by Host, every private repository of the forges it knows: an
// info/refs?service=git-upload-pack request without credentials gets 401
// and WWW-Authenticate: Basic, as forges answer, and with credentials the
// forge would accept it gets a one-branch advertisement, enough for
// git ls-remote. What each forge accepts is its documented rule: GitHub
// any username with a token as password; GitLab a personal token with any
// username and an OAuth token only with oauth2; Gitea and Forgejo a token
// as password with any username, or as username with an empty or
// x-oauth-basic password; SourceHut no token over HTTPS at all.
//
// git reaches it through an HTTP proxy (ProxyURL, for git's http.proxy or
// https_proxy): CONNECT tunnels to the TLS server, whose certificate is
// valid for the real names (trust CAFile with GIT_SSL_CAINFO), and plain
// http:// requests are answered by the proxy itself, so a test sees what
// git would send in clear.
type GitServer struct {
	tls, proxy *httptest.Server
	caPath     string

	mu     sync.Mutex
	forges map[string]string
	tokens map[string]Token
	caches map[string][]CacheCredential
	log    []GitRequest
}

// GitRequest is one request the fake received.
type GitRequest struct {
	// Scheme is https (through a tunnel) or http (in clear).
	Scheme, Host, Path string
	// Auth is the Authorization scheme sent, lower-cased ("basic",
	// "bearer"), or empty; User and Password are the decoded Basic
	// credential.
	Auth, User, Password string
	// Status is the answer's status code.
	Status int
}

// GitAdvertisedCommit is the commit refs/heads/main points to.
const GitAdvertisedCommit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// NewGitServer starts the fake, knowing github.com, gitlab.com,
// codeberg.org (Forgejo) and git.sr.ht; it stops when the test ends.
func NewGitServer(t testing.TB) *GitServer {
	t.Helper()
	g, err := StartGitServer(t.TempDir())
	if err != nil {
		t.Fatalf("forgetest: %v", err)
	}
	t.Cleanup(g.Close)
	return g
}

// StartGitServer is NewGitServer for callers without a testing.TB (script
// commands): the CA file goes in dir, and the caller must Close it.
func StartGitServer(dir string) (*GitServer, error) {
	cert, caPEM, err := makeCert()
	if err != nil {
		return nil, err
	}
	g := &GitServer{
		caPath: filepath.Join(dir, "forgetest-git-ca.pem"),
		forges: map[string]string{"github.com": GitHub, "gitlab.com": GitLab, "codeberg.org": Forgejo, "git.sr.ht": SourceHut},
		tokens: map[string]Token{},
	}
	if err := os.WriteFile(g.caPath, caPEM, 0o644); err != nil {
		return nil, err
	}
	quiet := log.New(io.Discard, "", 0)
	g.tls = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, "https") }))
	g.tls.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	g.tls.Config.ErrorLog = quiet
	g.tls.StartTLS()
	g.proxy = httptest.NewUnstartedServer(http.HandlerFunc(g.serveProxy))
	g.proxy.Config.ErrorLog = quiet
	g.proxy.Start()
	return g, nil
}

// GitEnv is the environment that sends git to the fake (through the proxy
// variables; the clients ClientFromEnv builds ignore them) and keeps it
// from the machine's config and from prompting.
func (g *GitServer) GitEnv() []string {
	return []string{
		"http_proxy=" + g.ProxyURL(), "https_proxy=" + g.ProxyURL(), "no_proxy=",
		"GIT_SSL_CAINFO=" + g.CAFile(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
	}
}

// Close stops both servers.
func (g *GitServer) Close() {
	g.proxy.Close()
	g.tls.Close()
}

// ProxyURL is the proxy git must use to reach the fake.
func (g *GitServer) ProxyURL() string { return g.proxy.URL }

// CAFile is the path of the certificate to trust (PEM).
func (g *GitServer) CAFile() string { return g.caPath }

// AddForge makes host answer as kind.
func (g *GitServer) AddForge(host, kind string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forges[strings.ToLower(host)] = kind
}

// AddToken makes every forge accept t by its own rule (Token.OAuth marks a
// GitLab OAuth token).
func (g *GitServer) AddToken(t Token) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens[t.Value] = t
}

// Requests returns the requests received so far.
func (g *GitServer) Requests() []GitRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitRequest(nil), g.log...)
}

// serveProxy tunnels CONNECT to the TLS server and answers plain http://
// requests (sent to a proxy in absolute form) itself.
func (g *GitServer) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		g.serve(w, r, "http")
		return
	}
	upstream, err := net.DialTimeout("tcp", g.tls.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	// Whichever side closes first ends the tunnel both ways.
	go func() {
		io.Copy(upstream, rw.Reader)
		upstream.Close()
	}()
	io.Copy(conn, upstream)
	conn.Close()
}

func (g *GitServer) serve(w http.ResponseWriter, r *http.Request, scheme string) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	req := GitRequest{Scheme: scheme, Host: host, Path: r.URL.Path}
	if a := r.Header.Get("Authorization"); a != "" {
		s, cred, _ := strings.Cut(a, " ")
		req.Auth = strings.ToLower(s)
		if req.Auth == "basic" {
			if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
				req.User, req.Password, _ = strings.Cut(string(raw), ":")
			}
		}
	}
	g.mu.Lock()
	kind := g.forges[host]
	g.mu.Unlock()
	req.Status = g.answer(w, r, kind, req)
	g.mu.Lock()
	g.log = append(g.log, req)
	g.mu.Unlock()
}

// answer writes the response and returns its status.
func (g *GitServer) answer(w http.ResponseWriter, r *http.Request, kind string, req GitRequest) int {
	if status, ok := g.download(w, r, kind, req); ok {
		return status
	}
	if kind == "" || !strings.HasSuffix(r.URL.Path, "/info/refs") || r.URL.Query().Get("service") != "git-upload-pack" {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	if req.Auth != "basic" || !g.accepts(kind, req.User, req.Password) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", req.Host))
		http.Error(w, "Authentication required", http.StatusUnauthorized)
		return http.StatusUnauthorized
	}
	w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	bw := bufio.NewWriter(w)
	pkt(bw, "# service=git-upload-pack\n")
	bw.WriteString("0000")
	pkt(bw, GitAdvertisedCommit+" HEAD\x00symref=HEAD:refs/heads/main agent=forgetest\n")
	pkt(bw, GitAdvertisedCommit+" refs/heads/main\n")
	bw.WriteString("0000")
	bw.Flush()
	return http.StatusOK
}

// accepts is each forge's rule for a Basic credential on git's HTTP paths.
func (g *GitServer) accepts(kind, user, password string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	live := func(v string) (Token, bool) {
		t, ok := g.tokens[v]
		return t, ok && v != "" && (t.Expires.IsZero() || time.Now().Before(t.Expires))
	}
	switch kind {
	case GitHub:
		_, ok := live(password)
		return ok && user != ""
	case GitLab:
		t, ok := live(password)
		return ok && user != "" && (!t.OAuth || user == "oauth2")
	case Gitea, Forgejo:
		if password == "" || password == "x-oauth-basic" {
			_, ok := live(user)
			return ok
		}
		_, ok := live(password)
		return ok
	}
	return false
}

// pkt writes one pkt-line: four hex digits of length, then the data.
func pkt(w *bufio.Writer, s string) {
	fmt.Fprintf(w, "%04x%s", len(s)+4, s)
}
