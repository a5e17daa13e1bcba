// Package forgetest is a fake forge for tests: one TLS server that answers,
// by Host header, as GitHub (and GitHub Enterprise), GitLab, Gitea,
// Forgejo and SourceHut do for the API calls nix-auth makes, including the
// OAuth device flow with scripted states and failure modes (500, HTML,
// redirects to another host, dropped connections, hangs).
//
// Its certificate is valid for the real names (github.com, gitlab.com,
// codeberg.org, git.sr.ht, ...), example.org and *.example.com, and Client() dials the
// server whatever host a URL names, so code under test builds its real
// URLs and nothing reaches the internet. For a subprocess (the built
// binary under testscript), Env() passes the address and CA to
// ClientFromEnv(), which only test code calls.
package forgetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Forge kinds, as AddForge takes them (the same strings as providers.Kind).
const (
	GitHub    = "github"
	GitLab    = "gitlab"
	Gitea     = "gitea"
	Forgejo   = "forgejo"
	SourceHut = "sourcehut"
)

// Environment variables that Env sets and ClientFromEnv reads.
const (
	EnvAddr = "NIX_AUTH_FORGETEST_ADDR" // host:port of the fake
	EnvCA   = "NIX_AUTH_FORGETEST_CA"   // path of its CA certificate (PEM)
)

// RedirectHost is where FailRedirect sends requests; the server answers
// for it too, so a test can check that nothing was sent there.
const RedirectHost = "elsewhere.example.com"

// Token is a token the fake accepts.
type Token struct {
	// Value is the token as the forge issued it (no PAT:/OAuth2: prefix).
	Value string
	// User is the account name (SourceHut answers "~" + User).
	User   string
	Scopes []string
	// HideScopes leaves out X-OAuth-Scopes, as GitHub does for
	// fine-grained tokens.
	HideScopes bool
	// ScopesHeader, when set, is sent verbatim as GitHub's X-OAuth-Scopes
	// instead of one made from Scopes (a hostile or broken forge's).
	ScopesHeader string
	// Expires is when the token stops working; zero is never.
	Expires time.Time
	// ExpiryHeader, when set, is sent verbatim as GitHub's
	// GitHub-Authentication-Token-Expiration instead of one made from
	// Expires.
	ExpiryHeader string
	// OAuth marks a GitLab OAuth token: it works only as a Bearer token
	// and has /oauth/token/info rather than personal_access_tokens/self.
	OAuth bool
	// RefreshToken is returned by a GitLab device flow and renews the
	// token with the refresh_token grant at /oauth/token.
	RefreshToken string
	// ClientID is the OAuth application a GitLab OAuth token belongs to; a
	// refresh with another client_id is refused, as GitLab does. A device
	// flow sets it from the request; empty accepts any.
	ClientID string
	// RateLimited makes GitHub answer 403 with X-RateLimit-Remaining: 0.
	RateLimited bool
	// Installation makes a GitHub App installation token (ghs_, what
	// Actions' GITHUB_TOKEN is): GET /user answers 403 "Resource not
	// accessible by integration" without X-OAuth-Scopes, and GET
	// /installation/repositories lists what it may read.
	Installation *Installation
}

// Installation is what GitHub says of an app installation's token.
type Installation struct {
	// Account owns the repositories the installation may read.
	Account string
	// Repositories is their number; Selection is "all" or "selected".
	Repositories int
	Selection    string
}

// DeviceScript scripts one device-flow login: each poll of the token
// endpoint answers the next of Steps; after them Token is issued, or, if
// Token.Value is empty, authorization_pending goes on until the code
// expires.
type DeviceScript struct {
	// ClientID is the client ID the forge knows; empty accepts any.
	ClientID string
	// Steps are OAuth error codes: "authorization_pending", "slow_down",
	// "expired_token", "access_denied", or any other.
	Steps []string
	Token Token
	// UserCode is shown to the user; empty gives "WDJB-MJHT".
	UserCode string
	// Interval is the poll interval in seconds; 0 gives 1 (oauth2 waits
	// 5 s when the server sends none).
	Interval int
	// ExpiresIn is the code's lifetime in seconds; 0 gives 900.
	ExpiresIn int
	// Answer replaces or adds fields of the device-code answer as sent,
	// whatever their type: a hostile forge's "interval": -5 or
	// "verification_uri": "javascript:...". The fake itself keeps using
	// the script's own values.
	Answer map[string]any
	// Description, when set, is the error_description of every scripted
	// step's answer.
	Description string
}

// Answer is a response scripted verbatim with Respond.
type Answer struct {
	Status int
	Header map[string]string
	Body   string
}

// Failure is a way for one endpoint to misbehave.
type Failure int

// Failure modes.
const (
	// Fail500 answers 500 with a JSON error.
	Fail500 Failure = iota + 1
	// FailHTML answers 200 with a web page, as a login portal does.
	FailHTML
	// FailRedirect answers 302 to the same path on RedirectHost.
	FailRedirect
	// FailDrop closes the connection without an answer.
	FailDrop
	// FailHang never answers; the client has to give up.
	FailHang
)

// Request is one request the fake received.
type Request struct {
	Host, Method, Path string
	Header             http.Header
	// Form holds the POSTed form (client_id, scope, grant_type...).
	Form url.Values
}

// Server is the fake forge.
type Server struct {
	srv     *httptest.Server
	pool    *x509.CertPool
	caPEM   []byte
	caPath  string
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	forges   map[string]string
	tokens   map[string]Token
	calls    map[string]int
	scripts  map[string][]DeviceScript
	devices  map[string]*device
	failures map[string]Failure
	answers  map[string]Answer
	caches   map[string][]CacheCredential
	revoked  map[string]bool
	log      []Request
	seq      int
	latency  time.Duration
}

type device struct {
	host    string
	script  DeviceScript
	step    int
	expires time.Time
}

// certNames are the names the certificate is valid for. example.org
// answers as a web site that runs no forge, as the real one does; any
// other name (gitlab.example.org) fails TLS verification, as an
// unreachable or misconfigured host would.
func certNames() []string {
	return []string{
		"github.com", "api.github.com", "gitlab.com", "codeberg.org",
		"meta.sr.ht", "git.sr.ht", "example.com", "*.example.com", "example.org", "localhost",
	}
}

// New starts a fake forge that knows github.com, gitlab.com, codeberg.org
// (Forgejo) and git.sr.ht/meta.sr.ht; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	cert, caPEM, err := makeCert()
	if err != nil {
		t.Fatalf("forgetest: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	caPath := filepath.Join(t.TempDir(), "forgetest-ca.pem")
	if err := os.WriteFile(caPath, caPEM, 0o644); err != nil {
		t.Fatalf("forgetest: %v", err)
	}
	s := &Server{
		pool:     pool,
		caPEM:    caPEM,
		caPath:   caPath,
		closing:  make(chan struct{}),
		forges:   map[string]string{},
		tokens:   map[string]Token{},
		calls:    map[string]int{},
		scripts:  map[string][]DeviceScript{},
		devices:  map[string]*device{},
		failures: map[string]Failure{},
		answers:  map[string]Answer{},
		revoked:  map[string]bool{},
	}
	for h, k := range map[string]string{
		"github.com": GitHub, "api.github.com": GitHub, "gitlab.com": GitLab,
		"codeberg.org": Forgejo, "git.sr.ht": SourceHut, "meta.sr.ht": SourceHut,
	} {
		s.forges[h] = k
	}
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Dropped connections and clients that give up are part of the tests;
	// their log lines are noise.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// makeCert makes a self-signed certificate (its own CA) for certNames.
func makeCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"nix-auth forgetest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              certNames(),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}

// Close stops the server, releasing handlers that hang.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// CAPEM is the server's certificate, to trust it.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Client returns an HTTP client that sends every request, whatever the
// host, to the fake and trusts its certificate. It has no redirect policy
// of its own, so tests see the policy of the code under test.
func (s *Server) Client() *http.Client { return routedClient(s.Addr(), s.pool) }

// Env is the environment a subprocess needs for ClientFromEnv.
func (s *Server) Env() []string {
	return []string{EnvAddr + "=" + s.Addr(), EnvCA + "=" + s.caPath}
}

// ClientFromEnv builds, in a subprocess started with Env, the client that
// Client returns. Only test code calls it (the test binary's main).
func ClientFromEnv() (*http.Client, error) {
	addr, caPath := os.Getenv(EnvAddr), os.Getenv(EnvCA)
	if addr == "" || caPath == "" {
		return nil, fmt.Errorf("forgetest: %s and %s must both be set", EnvAddr, EnvCA)
	}
	pemData, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("forgetest: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("forgetest: no certificate in " + caPath)
	}
	return routedClient(addr, pool), nil
}

func routedClient(addr string, pool *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "tcp", addr)
			},
			TLSClientConfig:       &tls.Config{RootCAs: pool},
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		Timeout: 30 * time.Second,
	}
}

// AddForge makes host answer as kind (GitHub hosts other than github.com
// answer as GitHub Enterprise, with the API under /api/v3).
func (s *Server) AddForge(host, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forges[strings.ToLower(host)] = kind
}

// AddToken makes every forge accept t.
func (s *Server) AddToken(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.Value] = t
}

// ScriptDevice queues d for the next device-code request to host.
func (s *Server) ScriptDevice(host string, d DeviceScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[host] = append(s.scripts[host], d)
}

// Fail makes requests for path on host misbehave as f.
func (s *Server) Fail(host, path string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[strings.ToLower(host)+path] = f
}

// Respond makes every request for path on host get a (status 0 gives
// 200, with the headers and body as given), as a hostile or broken forge
// would answer.
func (s *Server) Respond(host, path string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[strings.ToLower(host)+path] = a
}

// Revoked reports whether the forge revoked the token value (by any of
// its revocation endpoints).
func (s *Server) Revoked(value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[value]
}

// revoke makes value stop working, as a revocation does.
func (s *Server) revoke(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, value)
	s.revoked[value] = true
}

// SetLatency makes every later request wait d before it is answered, as a
// distant forge does, so that benchmarks can show whether requests to
// several hosts overlap. Zero answers at once.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ServeHTTP dispatches by Host header to the forge that host runs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		_ = r.ParseForm()
	}
	s.mu.Lock()
	s.log = append(s.log, Request{Host: host, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: r.PostForm})
	failure := s.failures[host+r.URL.Path]
	answer, scripted := s.answers[host+r.URL.Path]
	kind := s.forges[host]
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 && !s.wait(r, latency) {
		// The client gave up (or the server is closing): abort without an
		// answer. Returning normally would make net/http send an empty
		// 200, and a client mid-close (TLS close_notify sent, which cancels
		// this request's context, TCP not yet closed) can still read it
		// and return it instead of its own deadline error.
		panic(http.ErrAbortHandler)
	}
	if failure != 0 {
		s.misbehave(w, r, failure)
		return
	}
	if scripted {
		for k, v := range answer.Header {
			w.Header().Set(k, v)
		}
		if answer.Status == 0 {
			answer.Status = http.StatusOK
		}
		w.WriteHeader(answer.Status)
		io.WriteString(w, answer.Body)
		return
	}
	switch kind {
	case GitHub:
		s.github(w, r, host)
	case GitLab:
		s.gitlab(w, r, host)
	case Gitea, Forgejo:
		s.gitea(w, r, kind)
	case SourceHut:
		s.sourcehut(w, r, host)
	case Cache:
		s.cache(w, r, host)
	default:
		notFoundPage(w)
	}
}

// wait sleeps d, or less when the client gives up or the server closes
// (then it reports false and the caller must abort the request).
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

func (s *Server) misbehave(w http.ResponseWriter, r *http.Request, f Failure) {
	switch f {
	case Fail500:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "Internal Server Error"})
	case FailHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!DOCTYPE html><html><body><h1>Sign in to continue</h1></body></html>")
	case FailRedirect:
		http.Redirect(w, r, "https://"+RedirectHost+r.URL.RequestURI(), http.StatusFound)
	case FailDrop:
		// net/http closes the connection without an answer and logs nothing.
		panic(http.ErrAbortHandler)
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		// Never answer, not even once the client has given up: an empty
		// 200 could still reach a client that half-closed.
		panic(http.ErrAbortHandler)
	}
}

// lookup finds a live token.
func (s *Server) lookup(value string) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[value]
	if !ok || value == "" || (!t.Expires.IsZero() && time.Now().After(t.Expires)) {
		return Token{}, false
	}
	return t, true
}

// countCall counts an API call with t and returns how many were made.
func (s *Server) countCall(t Token) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[t.Value]++
	return s.calls[t.Value]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFoundPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, "<html><body>404 Not Found</body></html>")
}

// bearer returns the token of an "Authorization: Bearer|token X" header.
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "token "} {
		if len(a) > len(p) && strings.EqualFold(a[:len(p)], p) {
			return a[len(p):]
		}
	}
	return ""
}

func hasAnyScope(t Token, want ...string) bool {
	if len(t.Scopes) == 0 {
		return true // no scopes recorded: unrestricted
	}
	for _, s := range t.Scopes {
		for _, w := range want {
			if s == w {
				return true
			}
		}
	}
	return false
}
