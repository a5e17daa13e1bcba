// Package providers talks to the forges whose tokens Nix uses: it gets a
// token (OAuth device flow for GitHub and GitLab, a pasted personal token
// elsewhere), turns it into the value Nix's access-tokens setting needs, and
// validates it with as few requests as the forge's API allows.
//
// Nothing here keeps package-level state: the HTTP client, OAuth client ID
// and clock come in through Options, so tests run every forge against a
// local TLS fake (see internal/forgetest).
package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nix-auth/nix-auth/nixconf"
)

// Kind names a forge software, which decides the API and token format.
type Kind string

// The forges nix-auth knows. Codeberg runs Forgejo; git.sr.ht is SourceHut.
const (
	GitHub    Kind = "github"
	GitLab    Kind = "gitlab"
	Gitea     Kind = "gitea"
	Forgejo   Kind = "forgejo"
	SourceHut Kind = "sourcehut"
)

// Well-known hosts, so that the common cases need neither --provider nor a
// network probe.
const (
	githubHost    = "github.com"
	gitlabHost    = "gitlab.com"
	codebergHost  = "codeberg.org"
	sourcehutHost = "git.sr.ht"
)

// Options carries what a provider needs from outside.
type Options struct {
	// HTTPClient sends every request. Nil means NewHTTPClient(). Whatever
	// client is given, providers refuse redirects to another host so that a
	// token never follows one.
	HTTPClient *http.Client
	// ClientID is the OAuth application's client ID for the device flow.
	// Empty means the default for github.com and gitlab.com; GitHub
	// Enterprise and self-hosted GitLab have no default.
	ClientID string
	// PersonalToken makes Login prompt for a personal access token even on
	// forges that have a device flow.
	PersonalToken bool
	// Now is the clock used to turn expires_in answers into times. Nil
	// means time.Now.
	Now func() time.Time
}

// Provider is one forge host.
type Provider interface {
	// Kind is the forge software.
	Kind() Kind
	// Host is the host (with an optional /path) as Nix's access-tokens
	// names it.
	Host() string
	// Login gets a new token: the device flow, or the personal-token
	// prompt. It returns an error wrapping context.Canceled when ctx is
	// cancelled (Ctrl-C).
	Login(ctx context.Context, ui UI) (*Token, error)
	// NixToken is the value to write to access-tokens for t; for GitLab it
	// carries the OAuth2: or PAT: prefix that tells Nix which header to send.
	NixToken(t *Token) string
	// Validate asks the forge about nixToken (the access-tokens value). A
	// token the forge rejects gives Status.Valid=false and a nil error; the
	// error is for network and server trouble only.
	Validate(ctx context.Context, nixToken string) (*Status, error)
}

// UI is what a login shows and asks. Waiting is called from another
// goroutine than Login's, but never concurrently with other UI calls.
type UI interface {
	// ShowDeviceCode tells the user to enter userCode at verificationURI
	// before expiresAt.
	ShowDeviceCode(userCode, verificationURI string, expiresAt time.Time)
	// Waiting reports progress while the device flow polls.
	Waiting(elapsed time.Duration)
	// OpenTokenPage sends the user to the page where a personal token is
	// made; instructions say which permissions to give and how Nix uses it.
	OpenTokenPage(url, instructions string)
	// ReadSecret reads a token without echoing it.
	ReadSecret(prompt string) (string, error)
	// Warn tells the user about something that does not stop the login.
	Warn(msg string)
}

// TokenType says how a token was issued, which for GitLab decides the
// header Nix sends (PAT: -> PRIVATE-TOKEN, OAuth2: -> Authorization: Bearer).
type TokenType string

// Token types.
const (
	Personal TokenType = "personal"
	OAuth    TokenType = "oauth"
)

// Token is what a login produced.
type Token struct {
	// Value is the token as the forge issued it, without Nix's GitLab
	// prefix; use Provider.NixToken for the access-tokens value.
	Value string
	Type  TokenType
	// RefreshToken renews an expiring OAuth token (GitLab's last 2 hours).
	RefreshToken string
	// ExpiresAt is zero when the token does not expire or nobody said.
	ExpiresAt time.Time
	// Scopes are those the forge granted, when it said.
	Scopes []string
}

// Status is what a forge said about a token.
type Status struct {
	Valid bool
	// Problem says why a token is not valid, in words for the user.
	Problem string
	// User is the account name; empty when the token may not read it.
	User string
	// Scopes are the token's scopes; ScopesKnown is false when the forge
	// does not say (GitHub fine-grained tokens, Gitea, Forgejo, SourceHut).
	Scopes      []string
	ScopesKnown bool
	// ExpiresAt is zero when the token does not expire or the forge does
	// not say.
	ExpiresAt time.Time
	// RateLimitRemaining is the API calls left, -1 when unknown.
	RateLimitRemaining int
}

// New returns the provider for kind at host (host[/path] as access-tokens
// names it; the path is ignored for API calls).
func New(kind Kind, host string, o Options) (Provider, error) {
	h := hostPart(host)
	if h == "" {
		return nil, errors.New("no host given")
	}
	b := base{
		kind:     kind,
		host:     host,
		apiHost:  h,
		client:   safeClient(o.HTTPClient),
		clientID: o.ClientID,
		personal: o.PersonalToken,
		now:      o.Now,
	}
	if b.now == nil {
		b.now = time.Now
	}
	switch kind {
	case GitHub:
		return newGitHub(b), nil
	case GitLab:
		return newGitLab(b), nil
	case Gitea, Forgejo:
		return newGitea(b), nil
	case SourceHut:
		return newSourceHut(b), nil
	}
	return nil, fmt.Errorf("unknown provider %q: use github, gitlab, gitea, forgejo or sourcehut", kind)
}

// base holds what every provider shares.
type base struct {
	kind     Kind
	host     string // as given: host[/path]
	apiHost  string // host[:port] that requests go to
	client   *http.Client
	clientID string
	personal bool
	now      func() time.Time
}

// Kind is the forge software.
func (b *base) Kind() Kind { return b.kind }

// Host is the host as access-tokens names it.
func (b *base) Host() string { return b.host }

// origin is where API requests go: https://host[:port].
func (b *base) origin() string { return "https://" + b.apiHost }

// personalLogin is the personal-token flow: send the user to the settings
// page (on pageHost), then read the token without echo.
func (b *base) personalLogin(ui UI, pageHost, page, instructions string) (*Token, error) {
	page, err := forgeURL(page, pageHost)
	if err != nil {
		return nil, err
	}
	ui.OpenTokenPage(page, instructions)
	raw, err := ui.ReadSecret(fmt.Sprintf("Paste the token for %s (input is hidden): ", b.host))
	if err != nil {
		return nil, err
	}
	nixTok, err := NormalizeToken(b.kind, raw)
	if err != nil {
		return nil, err
	}
	t := &Token{Value: nixTok, Type: Personal}
	if b.kind == GitLab {
		prefix, rest, _ := splitGitLabPrefix(nixTok)
		t.Value = rest
		if prefix == gitlabOAuthPrefix {
			t.Type = OAuth
		}
	}
	return t, nil
}

// Nix's GitLab fetcher reads the part before the first ':' as the token
// type: OAuth2 sends "Authorization: Bearer", PAT sends "PRIVATE-TOKEN"; a
// token without a known type gets no usable header at all.
const (
	gitlabPATPrefix   = "PAT:"
	gitlabOAuthPrefix = "OAuth2:"
)

// splitGitLabPrefix returns the canonical prefix and the rest when tok
// starts with PAT: or OAuth2: (in any letter case, which Nix would not
// accept, so it is canonicalised).
func splitGitLabPrefix(tok string) (prefix, rest string, ok bool) {
	for _, p := range []string{gitlabPATPrefix, gitlabOAuthPrefix} {
		if len(tok) >= len(p) && strings.EqualFold(tok[:len(p)], p) {
			return p, tok[len(p):], true
		}
	}
	return "", tok, false
}

// NormalizeToken turns a token as pasted into the value for access-tokens:
// surrounding whitespace goes; a GitLab token keeps its OAuth2: or PAT:
// prefix and a bare one gets PAT:, since Nix sends nothing for a bare
// GitLab token. The error never contains the token.
func NormalizeToken(kind Kind, raw string) (string, error) {
	tok := strings.TrimSpace(raw)
	if tok == "" {
		return "", errors.New("the token is empty")
	}
	prefix, rest, typed := splitGitLabPrefix(tok)
	switch kind {
	case GitLab:
		if !typed {
			return gitlabPATPrefix + tok, nil
		}
		if strings.TrimSpace(rest) == "" {
			return "", fmt.Errorf("the token is only a %s prefix, with nothing after it", prefix)
		}
		return prefix + rest, nil
	case GitHub, Gitea, Forgejo, SourceHut:
		if typed {
			return "", &Error{
				Msg:    fmt.Sprintf("the token starts with %s, a prefix only GitLab tokens take", prefix),
				Advice: []string{fmt.Sprintf("paste the %s token alone, without %s", kind, prefix)},
			}
		}
		return tok, nil
	}
	return "", fmt.Errorf("unknown provider %q", kind)
}

// parseKind accepts a provider name as users type it.
func parseKind(s string) (Kind, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "github":
		return GitHub, true
	case "gitlab":
		return GitLab, true
	case "gitea":
		return Gitea, true
	case "forgejo", "codeberg":
		return Forgejo, true
	case "sourcehut", "srht":
		return SourceHut, true
	}
	return "", false
}

// aliasHost maps the provider names that stand for one public host.
func aliasHost(name string) (Kind, string, bool) {
	switch strings.ToLower(name) {
	case "github":
		return GitHub, githubHost, true
	case "gitlab":
		return GitLab, gitlabHost, true
	case "codeberg":
		return Forgejo, codebergHost, true
	case "sourcehut", "srht":
		return SourceHut, sourcehutHost, true
	}
	return "", "", false
}

// knownHost is the kind of the public forges, found without a probe.
func knownHost(h string) (Kind, bool) {
	switch h {
	case githubHost:
		return GitHub, true
	case gitlabHost:
		return GitLab, true
	case codebergHost:
		return Forgejo, true
	case sourcehutHost:
		return SourceHut, true
	}
	return "", false
}

// compatible reports whether an explicit --provider agrees with what a host
// is known to run; Gitea and Forgejo share their API, so either will do.
func compatible(want, got Kind) bool {
	if want == got {
		return true
	}
	isGitea := func(k Kind) bool { return k == Gitea || k == Forgejo }
	return isGitea(want) && isGitea(got)
}

// Resolve turns a login target (a provider name such as "github" or
// "codeberg", or a host, optionally with a /path or an https:// in front)
// and an optional --provider into a kind and the host for access-tokens.
// It is where every command parses a host argument, so it refuses one that
// looks like a token (ErrTokenArgument) before anything could send it.
// known is false when the host is not a public forge and no provider was
// given: the caller should Detect it.
func Resolve(target string, provider Kind) (kind Kind, host string, known bool, err error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", "", false, errors.New("no provider or host given")
	}
	// Before anything else, and never echoed: a token here would go to DNS
	// and into the messages below.
	if LooksLikeToken(t) || LooksLikeToken(string(provider)) {
		return "", "", false, ErrTokenArgument
	}
	var want Kind
	if provider != "" {
		k, ok := parseKind(string(provider))
		if !ok {
			return "", "", false, fmt.Errorf("unknown provider %q: use github, gitlab, gitea, forgejo, codeberg or sourcehut", provider)
		}
		want = k
	}
	if k, h, ok := aliasHost(t); ok {
		if want != "" && !compatible(want, k) {
			return "", "", false, fmt.Errorf("%s is %s, not %s", t, k, want)
		}
		return k, h, true, nil
	}
	if k, ok := parseKind(t); ok {
		// gitea and forgejo name software, not a host.
		return "", "", false, fmt.Errorf("%s is self-hosted: name the host, e.g. `nix-auth login git.example.com --provider %s`", t, k)
	}
	host, err = normalizeHost(t)
	if err != nil {
		return "", "", false, err
	}
	if k, ok := knownHost(hostPart(host)); ok {
		if want != "" && !compatible(want, k) {
			return "", "", false, fmt.Errorf("%s runs %s, not %s", hostPart(host), k, want)
		}
		if want != "" {
			k = want
		}
		return k, host, true, nil
	}
	if want != "" {
		return want, host, true, nil
	}
	return "", host, false, nil
}

// normalizeHost accepts "host", "host/path" or a URL and returns the
// lower-case host with the path, as Nix's access-tokens keys look.
func normalizeHost(s string) (string, error) {
	raw := s
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme := strings.ToLower(raw[:i])
		if scheme != "https" && scheme != "http" {
			return "", fmt.Errorf("%q: expected a host such as git.example.com", s)
		}
		raw = raw[i+3:]
	}
	if strings.Contains(raw, "@") {
		// Not echoed: user information in a URL may be a password.
		return "", errors.New("not a host name: it contains user information (@); give the host alone, e.g. git.example.com")
	}
	u, err := url.Parse("https://" + raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a host name: expected e.g. git.example.com or git.example.com/org", s)
	}
	host := strings.ToLower(u.Host)
	if p := strings.Trim(u.EscapedPath(), "/"); p != "" {
		host += "/" + p
	}
	return host, nil
}

// tokenProblem says why a token cannot be sent or saved (empty, or with
// whitespace, control characters, '#' or non-ASCII bytes, which no forge
// issues and which would break the header or the access-tokens line);
// empty when it can. It is nixconf's verdict: one token validator.
func tokenProblem(tok string) string {
	if err := nixconf.ValidateToken(tok); err != nil {
		return err.Error()
	}
	return ""
}

// maxQuotedURL bounds how much of a refused URL an error quotes.
const maxQuotedURL = 200

// forgeURL checks a URL before nix-auth shows it or hands it to a browser:
// a device flow's verification page comes from the forge, a token page is
// built from a host the user typed. Only an https page on host (the forge
// being logged in to, host[:port]; :443 is the same) passes, without user
// information, which browsers show as if it were the host. It returns the
// URL in canonical form, non-ASCII escaped.
func forgeURL(raw, host string) (string, error) {
	bad := func(why string) error {
		q := raw
		if len(q) > maxQuotedURL {
			q = q[:maxQuotedURL] + "..."
		}
		return &Error{Host: host,
			Msg:    fmt.Sprintf("%s gave %q as the page to open, which is %s; refused: nothing was opened or saved", host, q, why),
			Advice: []string{fmt.Sprintf("check that %s is the forge you meant: its pages are https://%s/...", host, host)}}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", bad("not a URL")
	case u.Scheme != "https" || u.Opaque != "" || u.Host == "":
		return "", bad("not an https URL")
	case u.User != nil:
		return "", bad("a URL with user information")
	case !sameHost(u.Host, host):
		return "", bad("not a page of " + host)
	}
	u.Host = strings.ToLower(u.Host)
	return u.String(), nil
}

// sameHost compares two host[:port]s as a browser would reach them.
func sameHost(a, b string) bool {
	norm := func(h string) string { return strings.TrimSuffix(strings.ToLower(h), ":443") }
	return norm(a) == norm(b)
}

// hostPart drops the /path of an access-tokens host key.
func hostPart(host string) string {
	h, _, _ := strings.Cut(host, "/")
	return strings.ToLower(h)
}
