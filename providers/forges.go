package providers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Forge is one row of the forge table: everything nix-auth knows about one
// forge software, from the names users type to what Nix does with its
// tokens. Resolve, Detect, New, NormalizeToken, LooksLikeToken, MaskToken,
// GitCredential and the commands' help texts all read the table, so adding
// a forge is adding a row (and, for a new API, its Validate).
type Forge struct {
	// Kind is the software; its string is the canonical name.
	Kind Kind
	// Title is the name in messages: "GitHub", "Forgejo".
	Title string
	// Names are what users type for the software (--provider, and a login
	// target when no public host claims the name), lower case, the
	// canonical name first.
	Names []string
	// API is the kind whose API this forge speaks, when another's:
	// Forgejo speaks Gitea's, so either name serves the other's hosts.
	API Kind
	// Public are the public hosts that run the software, known without a
	// probe.
	Public []PublicHost
	// probes identify the software on a host nix-auth does not know
	// (Detect); a forge without probes is only ever named.
	probes []probe
	// DeviceFlow is how login gets a token by the OAuth device flow; nil
	// means the user pastes a personal token made on TokenPage.
	DeviceFlow *DeviceFlow
	// TokenPage is where a personal token is made on the forge whose API
	// is at apiHost: the page's host (which the URL must name) and the URL.
	TokenPage func(apiHost string) (pageHost, url string)
	// Instructions, shown with TokenPage when login asks for a personal
	// token, say which permissions to give and what Nix does with it.
	Instructions func(apiHost string) string
	// TokenPrefixes are the prefixes the forge gives its tokens: they make
	// a token recognisable where a host was expected (LooksLikeToken) and
	// are shown when a token is masked (MaskToken).
	TokenPrefixes []TokenPrefix
	// NixTypes are the type prefixes that Nix's fetcher for this forge
	// reads off an access-tokens value, the first being the one a pasted
	// token without any gets. None means the value is the token alone, and
	// another forge's type prefix is refused.
	NixTypes []NixType
	// Fetchers are the Nix fetchers that send this forge's access-tokens
	// entry; none means Nix itself never sends it.
	Fetchers []string
	// GitUser is the username git sends with the token over HTTPS (the
	// token is the password); empty when the forge takes no token over
	// HTTPS git.
	GitUser string
	// Netrc says whether the credential also goes, or goes only, to the
	// netrc file Nix's downloader (curl) reads.
	Netrc NetrcUse
	// InstallationPath is an API call (below the API's base) that a token
	// acting for an app installation rather than a user may make: GitHub
	// App installation tokens and Actions' GITHUB_TOKEN may not read the
	// user, and validation asks this instead when the forge says the
	// token is an integration's. Empty: the forge has no such tokens.
	InstallationPath string
	// Revokers are the API calls that revoke a token with nothing but the
	// token (and, for an OAuth token, the application it was issued to);
	// the first that takes the token is used. A token none takes is
	// revoked by hand on RevokePage, and NoRevoke says why.
	Revokers []Revoker
	// NoRevoke says why the forge's API cannot revoke a token with the
	// token alone, for the tokens no Revoker takes: a clause that stands
	// after "cannot revoke the token: ".
	NoRevoke string
	// RevokePage is where the user revokes tok (the token without Nix's
	// type prefix, which says its type t) by hand on the forge whose API
	// is at apiHost: the page's host (which the URL must name) and the
	// URL; "" when there is no such page.
	RevokePage func(apiHost string, t TokenType, tok string) (pageHost, url string)
	// apiBase is the root of the forge's REST API on apiHost.
	apiBase func(apiHost string) string
	// new makes the provider for one host.
	new func(b base) Provider
}

// NetrcUse is what the netrc file Nix's downloader reads is to a forge's
// credential. Nix sends access-tokens to the fetchers a row lists, and
// netrc's Basic credentials on every other download it makes with curl:
// archives, builtins.fetchTarball, binary caches.
type NetrcUse int

const (
	// NoNetrc: the credential goes to access-tokens only, which the
	// forge's Nix fetcher sends.
	NoNetrc NetrcUse = iota
	// AlsoNetrc: to access-tokens and netrc, as `machine HOST login USER
	// password TOKEN`: Nix has no fetcher for the forge, so its archives
	// authenticate through netrc alone.
	AlsoNetrc
	// OnlyNetrc: to netrc alone: a binary cache, which Nix reaches with
	// curl only.
	OnlyNetrc
)

// DefaultNetrcLogin is the login sent with a token as password when the
// account is not known: Gitea, Forgejo and token caches (Attic, Cachix)
// take any, and curl needs one (it drops a password-only entry once
// another entry follows it).
const DefaultNetrcLogin = gitUserToken

// Revoker is one API call that revokes a token.
type Revoker struct {
	// Prefixes are the token prefixes the call takes, and Type the type
	// of token (by Nix's type prefix, GitLab's PAT: or OAuth2:); what is
	// not set takes any.
	Prefixes []string
	Type     TokenType
	// Hosts are the hosts of the forge that have the call.
	Hosts HostClass
	// Method and Path are the call: Path below the API's base, or on the
	// forge's web host when Web is set.
	Method, Path string
	Web          bool
	// Auth is how the token authenticates the call: "Bearer"
	// (Authorization: Bearer), the name of another header (GitLab's
	// PRIVATE-TOKEN), or "" for an unauthenticated call.
	Auth string
	// Body is what the call sends.
	Body RevokeBody
	// Done are the statuses that say the token is revoked, Accepted those
	// that say the forge took the request and revokes it shortly.
	Done, Accepted []int
	// Confirm is set when the answer says nothing of the token (RFC 7009
	// revocation answers 200 for any token): the token is validated
	// afterwards, and one that still works is a failed revocation.
	Confirm bool
}

// HostClass is a kind of host of a forge.
type HostClass int

// Host classes of a Revoker.
const (
	// AnyHost: every host of the forge.
	AnyHost HostClass = iota
	// PublicHosts: the forge's public hosts (github.com).
	PublicHosts
	// SelfHosted: the others (GitHub Enterprise Server).
	SelfHosted
)

// RevokeBody is what a revocation call sends.
type RevokeBody int

// Revocation bodies.
const (
	// NoBody: the call revokes the token it is authenticated with.
	NoBody RevokeBody = iota
	// CredentialsBody: GitHub's {"credentials": [TOKEN]}.
	CredentialsBody
	// OAuthBody: an RFC 7009 form, token=TOKEN&client_id=ID, for a
	// public OAuth client (no secret).
	OAuthBody
)

// PublicHost is a public instance of a forge.
type PublicHost struct {
	// Host is the host as access-tokens names it.
	Host string
	// Names are what users type for the host (`nix-auth login codeberg`),
	// lower case.
	Names []string
	// Title is the host's name in messages when it is not the forge's:
	// "Codeberg" runs Forgejo.
	Title string
	// ClientID is the OAuth application the device flow uses on the host
	// when none is given; empty means one must be given.
	ClientID string
}

// DeviceFlow is a forge's OAuth device flow (RFC 8628).
type DeviceFlow struct {
	// AuthPath and TokenPath are the endpoints, on the forge's web host.
	AuthPath, TokenPath string
	// Scopes are those asked for: what Nix's fetcher needs.
	Scopes []string
	// AppPage is the path where an OAuth application is made, and App
	// what to make there, for hosts without a default application.
	AppPage, App string
}

// TokenPrefix is a prefix a forge gives its tokens.
type TokenPrefix struct {
	Prefix string
	// MinRest is the least length of random text after Prefix: shorter is
	// a name that happens to start alike.
	MinRest int
	// NotForNix, when set, says why Nix cannot use a token of this kind:
	// saving one is refused with it.
	NotForNix string
}

// NixType is a type prefix of an access-tokens value, which tells Nix's
// fetcher how to send the rest.
type NixType struct {
	Prefix string
	Type   TokenType
}

// Public hosts that provider code knows by name: GitHub's API lives on
// another host, and the public GitLab and GitHub have default OAuth
// applications.
const (
	githubHost = "github.com"
	gitlabHost = "gitlab.com"
)

// gitUserToken is the username git sends with a token to a host whose
// forge is not known offline: GitHub (Enterprise), Gitea and Forgejo all
// accept it.
const gitUserToken = "x-access-token"

// forges is the table. Its order is the order of help texts and probes.
// It is filled in init because rows read the table (the Gitea row's
// instructions list the fetchers of the others).
var forges []Forge

func init() { forges = table() }

func table() []Forge {
	return []Forge{
		{
			Kind: GitHub, Title: "GitHub", Names: []string{"github"},
			Public: []PublicHost{{Host: githubHost, Names: []string{"github"}, ClientID: DefaultGitHubClientID}},
			probes: []probe{{path: "/api/v3/meta", identify: isGitHubEnterprise}},
			DeviceFlow: &DeviceFlow{AuthPath: "/login/device/code", TokenPath: "/login/oauth/access_token", Scopes: []string{githubScope},
				AppPage: "/settings/applications/new", App: `an OAuth app with "Enable Device Flow" checked`},
			TokenPage: func(h string) (string, string) {
				return h, "https://" + h + "/settings/tokens/new?scopes=" + githubScope + "&description=nix-auth"
			},
			// docs.github.com "About authentication to GitHub": ghp_ personal,
			// gho_ OAuth, ghu_ user-to-server, ghs_ server-to-server, ghr_
			// refresh, github_pat_ fine-grained.
			TokenPrefixes: []TokenPrefix{{"github_pat_", 20, ""}, {"ghp_", 20, ""}, {"gho_", 20, ""}, {"ghu_", 20, ""}, {"ghs_", 20, ""}, {"ghr_", 20, ""}},
			Fetchers:      []string{"github:"},
			// GitHub takes any username with a personal or OAuth token, and
			// requires x-access-token with an app installation token (ghs_).
			GitUser: gitUserToken,
			// One repository is enough: the answer's total_count says
			// how many the installation may read.
			InstallationPath: "/installation/repositories?per_page=1",
			// docs.github.com REST "Revoke an installation access token"
			// and "Revoke a list of credentials". The latter is meant for
			// leaked tokens and takes any token it knows, unauthenticated
			// on github.com (an authenticated call gets 403; 60 calls an
			// hour), authenticated on Enterprise Server (3.19 and later),
			// which takes personal tokens only. GitHub also has DELETE
			// /applications/{client_id}/token for OAuth tokens, but it
			// authenticates with the application's client secret, which a
			// device-flow client does not have.
			Revokers: []Revoker{
				{Prefixes: []string{"ghs_"}, Method: http.MethodDelete, Path: "/installation/token", Auth: "Bearer", Done: []int{http.StatusNoContent}},
				{Prefixes: []string{"ghp_", "github_pat_", "gho_", "ghu_", "ghr_"}, Hosts: PublicHosts, Method: http.MethodPost, Path: "/credentials/revoke",
					Body: CredentialsBody, Accepted: []int{http.StatusAccepted}},
				{Prefixes: []string{"ghp_", "github_pat_"}, Hosts: SelfHosted, Method: http.MethodPost, Path: "/credentials/revoke",
					Auth: "Bearer", Body: CredentialsBody, Accepted: []int{http.StatusAccepted}},
			},
			NoRevoke:   "GitHub's API revokes only tokens with a known prefix (ghp_, github_pat_, gho_, ghu_, ghr_, ghs_), and GitHub Enterprise Server only personal ones",
			RevokePage: githubRevokePage,
			apiBase: func(h string) string {
				if h == githubHost {
					return "https://api." + githubHost
				}
				return "https://" + h + "/api/v3"
			},
			new: func(b base) Provider { return newGitHub(b) },
		},
		{
			Kind: GitLab, Title: "GitLab", Names: []string{"gitlab"},
			Public: []PublicHost{{Host: gitlabHost, Names: []string{"gitlab"}, ClientID: DefaultGitLabClientID}},
			probes: []probe{{path: "/api/v4/version", identify: isGitLab}},
			DeviceFlow: &DeviceFlow{AuthPath: "/oauth/authorize_device", TokenPath: "/oauth/token", Scopes: []string{gitlabScope},
				AppPage: "/-/user_settings/applications", App: "a non-confidential application with the " + gitlabScope + " scope"},
			TokenPage: func(h string) (string, string) {
				return h, "https://" + h + "/-/user_settings/personal_access_tokens?name=nix-auth&scopes=" + gitlabScope
			},
			// docs.gitlab.com "Token prefixes": personal, OAuth application
			// secret, deploy, runner, CI/CD job, trigger, feed, incoming mail,
			// agent, SCIM, feature flags client, legacy runner registration.
			TokenPrefixes: []TokenPrefix{{"glpat-", 16, ""}, {"gloas-", 16, ""}, {"gldt-", 16, ""}, {"glrt-", 16, ""}, {"glcbt-", 16, gitlabJobToken}, {"glptt-", 16, ""},
				{"glft-", 16, ""}, {"glimt-", 16, ""}, {"glagent-", 16, ""}, {"glsoat-", 16, ""}, {"glffct-", 16, ""}, {"gr1348941", 16, ""}},
			// Nix's GitLab fetcher reads the part before the first ':' as the
			// token type: PAT sends "PRIVATE-TOKEN", OAuth2 "Authorization:
			// Bearer"; a token without a known type gets no usable header.
			NixTypes: []NixType{{"PAT:", Personal}, {"OAuth2:", OAuth}},
			Fetchers: []string{"gitlab:"},
			// GitLab requires oauth2 with an OAuth token and takes any
			// username with a personal, project or group token.
			GitUser: "oauth2",
			// docs.gitlab.com "Revoke a personal access token using the
			// request header" (project and group tokens too), and
			// Doorkeeper's RFC 7009 endpoint for OAuth tokens, which a
			// public client calls with its client_id and no secret.
			Revokers: []Revoker{
				{Type: Personal, Method: http.MethodDelete, Path: "/personal_access_tokens/self", Auth: "PRIVATE-TOKEN", Done: []int{http.StatusNoContent}},
				{Type: OAuth, Method: http.MethodPost, Path: "/oauth/revoke", Web: true, Body: OAuthBody, Done: []int{http.StatusOK}, Confirm: true},
			},
			NoRevoke: "GitLab's API revokes only tokens stored with their PAT: or OAuth2: prefix",
			RevokePage: func(h string, t TokenType, _ string) (string, string) {
				if t == OAuth {
					return h, "https://" + h + "/-/user_settings/applications"
				}
				return h, "https://" + h + "/-/user_settings/personal_access_tokens"
			},
			apiBase: func(h string) string { return "https://" + h + "/api/v4" },
			new:     func(b base) Provider { return newGitLab(b) },
		},
		{
			Kind: Gitea, Title: "Gitea", Names: []string{"gitea"},
			// Gitea answers it; so does Forgejo, whose version may say so.
			probes:       []probe{{path: "/api/v1/version", identify: isGitea}},
			TokenPage:    giteaTokenPage,
			Instructions: giteaInstructions("Gitea"),
			// Gitea and Forgejo read the password as the token and the
			// account from the token, whatever the username.
			GitUser:    gitUserToken,
			Netrc:      AlsoNetrc,
			NoRevoke:   giteaNoRevoke,
			RevokePage: func(h string, _ TokenType, _ string) (string, string) { return giteaTokenPage(h) },
			apiBase:    giteaAPI,
			new:        func(b base) Provider { return newGitea(b) },
		},
		{
			Kind: Forgejo, Title: "Forgejo", Names: []string{"forgejo"}, API: Gitea,
			Public:       []PublicHost{{Host: "codeberg.org", Names: []string{"codeberg"}, Title: "Codeberg"}},
			probes:       []probe{{path: "/api/forgejo/v1/version", identify: isForgejo}},
			TokenPage:    giteaTokenPage,
			Instructions: giteaInstructions("Forgejo"),
			GitUser:      gitUserToken,
			Netrc:        AlsoNetrc,
			NoRevoke:     giteaNoRevoke,
			RevokePage:   giteaRevokePage,
			apiBase:      giteaAPI,
			new:          func(b base) Provider { return newGitea(b) },
		},
		{
			Kind: SourceHut, Title: "SourceHut", Names: []string{"sourcehut", "srht"},
			Public: []PublicHost{{Host: "git.sr.ht", Names: []string{"sourcehut", "srht"}}},
			// Accounts and tokens live on the meta host.
			TokenPage: func(h string) (string, string) {
				return metaHost(h), "https://" + metaHost(h) + "/oauth2/personal-token"
			},
			Instructions: sourcehutInstructions,
			Fetchers:     []string{"sourcehut:"},
			// git.sr.ht serves clones of public repositories and takes pushes
			// over SSH only: a token sent over HTTPS would travel for nothing.
			GitUser:  "",
			NoRevoke: "nix-auth revokes no SourceHut token through its API: meta.sr.ht manages personal tokens on its web pages",
			RevokePage: func(h string, _ TokenType, _ string) (string, string) {
				return metaHost(h), "https://" + metaHost(h) + "/oauth2"
			},
			apiBase: func(h string) string { return "https://" + metaHost(h) },
			new:     func(b base) Provider { return newSourceHut(b) },
		},
		{
			// Attic, Cachix, Harmonia, nix-serve: any HTTP cache behind
			// Basic auth, or a bearer token it also takes as a Basic
			// password. No probes: a host is a cache when the user says so.
			Kind: Cache, Title: "binary cache", Names: []string{"cache"},
			Netrc:    OnlyNetrc,
			NoRevoke: "binary caches have no common API to revoke a token: revoke it where the cache issued it (attic, cachix, the cache's admin)",
			new:      func(b base) Provider { return &cache{b} },
		},
	}
}

// Forges returns the forge table, in its order.
func Forges() []Forge { return slices.Clone(forges) }

// ForgeOf returns the table's row for kind.
func ForgeOf(kind Kind) (Forge, bool) {
	if f := forgeOf(kind); f != nil {
		return *f, true
	}
	return Forge{}, false
}

func forgeOf(kind Kind) *Forge {
	for i := range forges {
		if forges[i].Kind == kind {
			return &forges[i]
		}
	}
	return nil
}

// Known reports whether k is a forge in the table.
func (k Kind) Known() bool { return forgeOf(k) != nil }

// api is the kind whose API k speaks.
func (f *Forge) api() Kind {
	if f.API != "" {
		return f.API
	}
	return f.Kind
}

// KindNames are the canonical names of the forges, for --provider.
func KindNames() []string {
	var out []string
	for _, f := range forges {
		out = append(out, f.Names[0])
	}
	return out
}

// Names are the names Resolve takes for a forge: the canonical ones, then
// the first name of each public host that is not one of them (codeberg).
func Names() []string {
	out := KindNames()
	for _, f := range forges {
		for _, p := range f.Public {
			if !slices.Contains(out, p.Names[0]) {
				out = append(out, p.Names[0])
			}
		}
	}
	return out
}

// HostNames are the first names of the public hosts, which a login target
// may be instead of a host (github, gitlab, codeberg, sourcehut).
func HostNames() []string {
	var out []string
	for _, f := range forges {
		for _, p := range f.Public {
			out = append(out, p.Names[0])
		}
	}
	return out
}

// DefaultClientID is the OAuth application the device flow uses on host
// (host[/path]) when none is given, or "" when there is none.
func DefaultClientID(host string) string {
	if _, p := publicHost(hostPart(host)); p != nil {
		return p.ClientID
	}
	return ""
}

// parseKind accepts a forge name as users type it: a software's name or a
// public host's.
func parseKind(s string) (Kind, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, f := range forges {
		if slices.Contains(f.Names, s) {
			return f.Kind, true
		}
		for _, p := range f.Public {
			if slices.Contains(p.Names, s) {
				return f.Kind, true
			}
		}
	}
	return "", false
}

// aliasHost maps a name that stands for a public host to it.
func aliasHost(name string) (Kind, string, bool) {
	name = strings.ToLower(name)
	for _, f := range forges {
		for _, p := range f.Public {
			if slices.Contains(p.Names, name) {
				return f.Kind, p.Host, true
			}
		}
	}
	return "", "", false
}

// publicHost finds the public host h (host[:port], lower case).
func publicHost(h string) (*Forge, *PublicHost) {
	for i := range forges {
		for j := range forges[i].Public {
			if forges[i].Public[j].Host == h {
				return &forges[i], &forges[i].Public[j]
			}
		}
	}
	return nil, nil
}

// knownHost is the kind of the public forges, found without a probe.
func knownHost(h string) (Kind, bool) {
	if f, _ := publicHost(h); f != nil {
		return f.Kind, true
	}
	return "", false
}

// compatible reports whether an explicit --provider agrees with what a host
// is known to run: the same software, or one that speaks its API.
func compatible(want, got Kind) bool {
	w, g := forgeOf(want), forgeOf(got)
	return w != nil && g != nil && w.api() == g.api()
}

// splitNixType finds a type prefix of any forge at the start of tok, in
// any letter case (which Nix would not accept, so the returned type has
// the canonical spelling), and returns the rest and the forge it is of.
func splitNixType(tok string) (t NixType, rest string, owner *Forge, ok bool) {
	for i := range forges {
		for _, nt := range forges[i].NixTypes {
			if len(tok) >= len(nt.Prefix) && strings.EqualFold(tok[:len(nt.Prefix)], nt.Prefix) {
				return nt, tok[len(nt.Prefix):], &forges[i], true
			}
		}
	}
	return NixType{}, tok, nil, false
}

// nixToken is the access-tokens value for t on forge f: the token with
// the type prefix Nix's fetcher needs (an existing one kept, canonically
// spelt), or the token alone.
func (f *Forge) nixToken(t *Token) string {
	if len(f.NixTypes) == 0 {
		return t.Value
	}
	if nt, rest, _, ok := splitNixType(t.Value); ok {
		return nt.Prefix + rest
	}
	for _, nt := range f.NixTypes {
		if nt.Type == t.Type {
			return nt.Prefix + t.Value
		}
	}
	return f.NixTypes[0].Prefix + t.Value
}

// accessTokenFetchers lists, for messages, the Nix fetchers that read
// access-tokens at all.
func accessTokenFetchers() string {
	var fs []string
	for _, f := range forges {
		fs = append(fs, f.Fetchers...)
	}
	return joinWords(fs, "and")
}

// joinWords lists items as prose: "a", "a and b", "a, b and c".
func joinWords(items []string, conj string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

func giteaTokenPage(h string) (string, string) {
	return h, "https://" + h + "/user/settings/applications"
}

func giteaRevokePage(h string, _ TokenType, _ string) (string, string) { return giteaTokenPage(h) }

// gitlabJobToken: docs.gitlab.com "CI/CD job token" lists the few
// endpoints a job token may call, and takes it in the JOB-TOKEN header
// (or as git's gitlab-ci-token password); Nix's gitlab: fetcher sends
// PRIVATE-TOKEN or Authorization: Bearer, to the repository archive,
// which is not among them.
const gitlabJobToken = "it is a GitLab CI/CD job token (CI_JOB_TOKEN), which Nix cannot use: GitLab takes a job token only in its JOB-TOKEN header " +
	"(or as git's gitlab-ci-token password) and only for a short list of endpoints, while Nix's gitlab: fetcher sends PRIVATE-TOKEN or " +
	"a Bearer token to fetch repository archives, which are not on that list"

func giteaAPI(h string) string { return "https://" + h + "/api/v1" }

// giteaNoRevoke: Gitea's and Forgejo's DELETE
// /api/v1/users/{username}/tokens/{token} requires basic authentication
// with the account's password.
const giteaNoRevoke = "the Gitea API (Forgejo's too) deletes a token only with the account's password (basic authentication), not with the token itself"

// githubRevokePage is the settings page that lists tok's kind of token.
// An installation token (ghs_) has none: it expires within an hour.
func githubRevokePage(h string, _ TokenType, tok string) (string, string) {
	switch {
	case strings.HasPrefix(tok, "ghs_"):
		return h, ""
	case strings.HasPrefix(tok, "gho_"), strings.HasPrefix(tok, "ghu_"), strings.HasPrefix(tok, "ghr_"):
		return h, "https://" + h + "/settings/applications"
	case strings.HasPrefix(tok, "github_pat_"):
		return h, "https://" + h + "/settings/personal-access-tokens"
	}
	return h, "https://" + h + "/settings/tokens"
}

// giteaInstructions say plainly what Nix does with the token: it reads
// access-tokens only in the fetchers the table lists, and it has no Gitea
// or Forgejo fetcher.
func giteaInstructions(title string) func(string) string {
	return func(h string) string {
		return fmt.Sprintf("Nix has no %[1]s fetcher: it uses access-tokens only in its %[3]s fetchers, "+
			"so nix-auth also writes this token to the netrc file Nix's downloader reads, and archives and tarballs from %[2]s "+
			"authenticate with it; git+https fetches take git's credential helper. "+
			"Give it read permission on \"repository\" and \"user\".", title, h, accessTokenFetchers())
	}
}

func sourcehutInstructions(h string) string {
	return fmt.Sprintf("Nix sends this token as a Bearer token with its sourcehut: fetcher (flake inputs such as sourcehut:~user/repo) to %s. "+
		"Nix's own source notes that SourceHut does not accept it for archives of private repositories yet, so it helps with refs more than with private tarballs. "+
		"nix-auth checks the token on %s: grant it read access to the meta.sr.ht profile and to git.sr.ht repositories.",
		h, metaHost(h))
}
