// Package providers talks to the forges whose tokens Nix uses: it gets a
// token (OAuth device flow where the forge has one, a pasted personal token
// elsewhere), turns it into the value Nix's access-tokens setting needs, and
// validates it with as few requests as the forge's API allows. What it
// knows of each forge is one row of the forge table (forges.go).
//
// Nothing here keeps state that changes: the HTTP client, OAuth client ID
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

// The forges nix-auth knows. Codeberg runs Forgejo; git.sr.ht is
// SourceHut. Cache is a binary cache (cache.go), which the table keeps
// with the forges: its credential is one more that Nix uses.
const (
	GitHub    Kind = "github"
	GitLab    Kind = "gitlab"
	Gitea     Kind = "gitea"
	Forgejo   Kind = "forgejo"
	SourceHut Kind = "sourcehut"
	Cache     Kind = "cache"
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
	// Login is the username sent with the token where a server takes the
	// token as the password of HTTP Basic auth, as Nix sends it from netrc
	// (a binary cache); empty means DefaultNetrcLogin.
	Login string
	// Now is the clock used to turn expires_in answers into times and to
	// judge rate-limit resets; New refuses a nil one.
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
	// Revoke revokes nixToken at the forge, where its API allows it with
	// the token alone (see Forge.Revokers); clientID is the OAuth
	// application an OAuth token was issued to, "" for the host's
	// default.
	Revoke(ctx context.Context, nixToken, clientID string) (*Revocation, error)
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
	// Misstored is a token that is stored in a form Nix cannot send (a
	// GitLab token without its type prefix): storing it again fixes it.
	Misstored bool
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
	// Installation is set for a token that acts for an app installation
	// rather than a user (a GitHub App installation token, Actions'
	// GITHUB_TOKEN): what the forge says of it. User is empty then.
	Installation *Installation
}

// Installation is what a forge says of an app installation's token.
type Installation struct {
	// Account owns the repositories the installation may read ("" when
	// it may read none).
	Account string
	// Repositories is how many it may read; Selection is the forge's word
	// for which ("all", "selected"), "" when it does not say.
	Repositories int
	Selection    string
}

// New returns the provider for kind at host (host[/path] as access-tokens
// names it; the path is ignored for API calls).
func New(kind Kind, host string, o Options) (Provider, error) {
	h := hostPart(host)
	if h == "" {
		return nil, errors.New("no host given")
	}
	f := forgeOf(kind)
	if f == nil {
		return nil, unknownKind(kind)
	}
	if o.Now == nil {
		return nil, errors.New("providers.New: no clock")
	}
	p := f.new(base{
		forge:    f,
		host:     host,
		apiHost:  h,
		client:   safeClient(o.HTTPClient),
		clientID: o.ClientID,
		login:    o.Login,
		now:      o.Now,
	})
	p.(interface{ setSelf(Provider) }).setSelf(p)
	return p, nil
}

// unknownKind is a forge name nix-auth does not know.
func unknownKind(kind Kind) error {
	return fmt.Errorf("unknown provider %q: use %s", kind, joinWords(Names(), "or"))
}

// base holds what every provider shares.
type base struct {
	forge    *Forge
	host     string // as given: host[/path]
	apiHost  string // host[:port] that requests go to
	client   *http.Client
	clientID string
	login    string // Options.Login
	now      func() time.Time
	// self is the provider b is part of: base's own methods validate
	// with its forge's Validate.
	self Provider
}

func (b *base) setSelf(p Provider) { b.self = p }

// Kind is the forge software.
func (b *base) Kind() Kind { return b.forge.Kind }

// Host is the host as access-tokens names it.
func (b *base) Host() string { return b.host }

// origin is where API requests go: https://host[:port].
func (b *base) origin() string { return "https://" + b.apiHost }

// NixToken is the access-tokens value for t: the token with the type
// prefix the forge's Nix fetcher needs, if any.
func (b *base) NixToken(t *Token) string { return b.forge.nixToken(t) }

// Login runs the forge's device flow, or asks for a personal token where
// it has none.
func (b *base) Login(ctx context.Context, ui UI) (*Token, error) {
	flow := b.forge.DeviceFlow
	if flow == nil {
		return b.personalLogin(ui)
	}
	clientID := b.clientID
	if clientID == "" {
		clientID = DefaultClientID(b.apiHost)
	}
	if clientID == "" {
		_, page := b.forge.TokenPage(b.apiHost)
		return nil, &ClientIDError{Host: b.host, Forge: b.forge.Title,
			AppPage: b.origin() + flow.AppPage, App: flow.App, TokenPage: page}
	}
	d := &deviceFlow{
		host:     b.apiHost,
		client:   b.client,
		clientID: clientID,
		authURL:  b.origin() + flow.AuthPath,
		tokenURL: b.origin() + flow.TokenPath,
		scopes:   flow.Scopes,
		now:      b.now,
	}
	return d.run(ctx, ui)
}

// personalLogin is the personal-token flow: send the user to the settings
// page, then read the token without echo.
func (b *base) personalLogin(ui UI) (*Token, error) {
	pageHost, page := b.forge.TokenPage(b.apiHost)
	page, err := forgeURL(page, pageHost)
	if err != nil {
		return nil, err
	}
	ui.OpenTokenPage(page, b.forge.Instructions(b.apiHost))
	raw, err := ui.ReadSecret(fmt.Sprintf("Paste the token for %s (input is hidden): ", b.host))
	if err != nil {
		return nil, err
	}
	return ParseToken(b.forge.Kind, raw)
}

// NormalizeToken turns a token as pasted into the value for access-tokens:
// surrounding whitespace goes; on a forge whose Nix fetcher reads a type
// prefix (GitLab's OAuth2: or PAT:) the token keeps its own and a bare one
// gets the first (PAT:), since Nix sends nothing for a bare GitLab token;
// elsewhere a type prefix is refused. The error never contains the token.
func NormalizeToken(kind Kind, raw string) (string, error) {
	f := forgeOf(kind)
	if f == nil {
		return "", unknownKind(kind)
	}
	tok := strings.TrimSpace(raw)
	if tok == "" {
		return "", errors.New("the token is empty")
	}
	nt, rest, owner, typed := splitNixType(tok)
	for _, p := range f.TokenPrefixes {
		if p.NotForNix != "" && strings.HasPrefix(rest, p.Prefix) {
			return "", &Error{Kind: kind, Msg: "the token was not saved: " + p.NotForNix,
				Advice: []string{"give Nix a personal, project or group access token with the read_api scope instead; in CI, keep it in a masked CI/CD variable and pipe that in"}}
		}
	}
	switch {
	case typed && owner != f:
		return "", &Error{
			Msg:    fmt.Sprintf("the token starts with %s, a prefix only %s tokens take", nt.Prefix, owner.Title),
			Advice: []string{fmt.Sprintf("paste the %s token alone, without %s", kind, nt.Prefix)},
		}
	case typed && strings.TrimSpace(rest) == "":
		return "", fmt.Errorf("the token is only a %s prefix, with nothing after it", nt.Prefix)
	case typed:
		return nt.Prefix + rest, nil
	case len(f.NixTypes) > 0:
		return f.NixTypes[0].Prefix + tok, nil
	}
	return tok, nil
}

// ForgeToken is nixToken (an access-tokens value) as the forge issued
// it: without the type prefix Nix's fetcher reads off it (GitLab's PAT:
// and OAuth2:) on a forge whose fetcher reads one, or on a host whose
// forge is not known (kind ""). Elsewhere Nix sends the value whole, and
// it is returned as it is.
func ForgeToken(kind Kind, nixToken string) string {
	if f := forgeOf(kind); f != nil && len(f.NixTypes) == 0 {
		return nixToken
	}
	if _, rest, _, ok := splitNixType(nixToken); ok {
		return rest
	}
	return nixToken
}

// ParseToken is a pasted token as a Token: NormalizeToken's value, its
// type prefix (if any) taken off into Type.
func ParseToken(kind Kind, raw string) (*Token, error) {
	nixTok, err := NormalizeToken(kind, raw)
	if err != nil {
		return nil, err
	}
	t := &Token{Value: nixTok, Type: Personal}
	if nt, rest, _, ok := splitNixType(nixTok); ok {
		t.Value, t.Type = rest, nt.Type
	}
	return t, nil
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
			return "", "", false, unknownKind(provider)
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
		return "", "", false, &Error{Kind: k, Msg: fmt.Sprintf("%s is self-hosted: name the host", t), class: ErrSelfHosted}
	}
	host, err = normalizeHost(t)
	if err != nil {
		return "", "", false, err
	}
	if k, ok := knownHost(hostPart(host)); ok {
		if want != "" && forgeOf(want).Netrc == OnlyNetrc {
			// A binary cache may be served anywhere; asking it says
			// whether one is.
			return want, host, true, nil
		}
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
	out := u.String()
	// url keeps a query as it came (RawQuery): a space or a control there
	// would reach the browser's command line and the terminal.
	if strings.IndexFunc(out, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return "", bad("a URL with spaces or characters a URL cannot hold")
	}
	return out, nil
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
