package forgetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// github answers as github.com (web on github.com, API on api.github.com)
// or, on any other host, as GitHub Enterprise Server (API under /api/v3).
func (s *Server) github(w http.ResponseWriter, r *http.Request, host string) {
	path := r.URL.Path
	enterprise := host != "github.com" && host != "api.github.com"
	api, isAPI := "", false
	switch {
	case host == "api.github.com":
		api, isAPI = path, true
	case enterprise && strings.HasPrefix(path, "/api/v3/"):
		api, isAPI = strings.TrimPrefix(path, "/api/v3"), true
	}
	if isAPI {
		switch api {
		case "/user":
			s.githubUser(w, r)
		case "/installation/repositories":
			s.githubInstallationRepos(w, r)
		case "/installation/token":
			s.githubRevokeInstallation(w, r)
		case "/credentials/revoke":
			s.githubRevokeCredentials(w, r, enterprise)
		case "/meta":
			body := map[string]any{"verifiable_password_authentication": true}
			if enterprise {
				w.Header().Set("X-GitHub-Enterprise-Version", "3.14.0")
				body["installed_version"] = "3.14.0"
			}
			writeJSON(w, http.StatusOK, body)
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
		}
		return
	}
	switch path {
	case "/login/device/code":
		s.deviceCode(w, r, host, GitHub)
	case "/login/oauth/access_token":
		s.deviceToken(w, r, GitHub)
	default:
		notFoundPage(w)
	}
}

// githubUser is GET /user with the headers GitHub sends: X-OAuth-Scopes
// (not for fine-grained tokens), GitHub-Authentication-Token-Expiration,
// X-RateLimit-*.
func (s *Server) githubUser(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookup(bearer(r))
	if !ok {
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "59")
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return
	}
	w.Header().Set("X-RateLimit-Limit", "5000")
	if t.RateLimited {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "API rate limit exceeded for user ID 1."})
		return
	}
	n := s.countCall(t)
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(5000-n))
	if t.Installation != nil {
		// No X-OAuth-Scopes: what tells gh (and nix-auth) that this is
		// an integration's token.
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Resource not accessible by integration",
			"documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "403"})
		return
	}
	switch {
	case t.ScopesHeader != "":
		w.Header().Set("X-OAuth-Scopes", t.ScopesHeader)
	case !t.HideScopes:
		w.Header().Set("X-OAuth-Scopes", strings.Join(t.Scopes, ", "))
		w.Header().Set("X-Accepted-OAuth-Scopes", "")
	}
	switch {
	case t.ExpiryHeader != "":
		w.Header().Set("GitHub-Authentication-Token-Expiration", t.ExpiryHeader)
	case !t.Expires.IsZero():
		w.Header().Set("GitHub-Authentication-Token-Expiration", t.Expires.Format("2006-01-02 15:04:05 -0700"))
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": t.User, "id": 1, "type": "User"})
}

// githubInstallationRepos is GET /installation/repositories, which an
// installation's token may call: the repositories it may read.
func (s *Server) githubInstallationRepos(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookup(bearer(r))
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return
	}
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(5000-s.countCall(t)))
	if t.Installation == nil {
		// A user's token may not: the endpoint is an installation's.
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "You must authenticate with an installation access token in order to list repositories for an installation."})
		return
	}
	if !t.Expires.IsZero() {
		w.Header().Set("GitHub-Authentication-Token-Expiration", t.Expires.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	in := t.Installation
	var repos []any
	if in.Repositories > 0 {
		repos = append(repos, map[string]any{"id": 1, "full_name": in.Account + "/repo", "private": true,
			"owner": map[string]any{"login": in.Account, "type": "Organization"}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": in.Repositories, "repository_selection": in.Selection, "repositories": repos})
}

// githubRevokeInstallation is DELETE /installation/token: an installation
// token revokes itself.
func (s *Server) githubRevokeInstallation(w http.ResponseWriter, r *http.Request) {
	t, ok := s.lookup(bearer(r))
	switch {
	case r.Method != http.MethodDelete:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
	case !ok:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials"})
	case t.Installation == nil:
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "You must authenticate with an installation access token."})
	default:
		s.revoke(t.Value)
		w.WriteHeader(http.StatusNoContent)
	}
}

// githubRevocable are the prefixes POST /credentials/revoke takes.
var githubRevocable = []string{"ghp_", "github_pat_", "gho_", "ghu_", "ghr_"}

// githubRevokeCredentials is POST /credentials/revoke: on github.com
// unauthenticated (an authenticated request is refused with 403), on
// GitHub Enterprise Server authenticated. It answers 202 whatever the
// credentials, and revokes those it knows.
func (s *Server) githubRevokeCredentials(w http.ResponseWriter, r *http.Request, enterprise bool) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	auth := r.Header.Get("Authorization") != ""
	switch {
	case !enterprise && auth:
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "This endpoint does not accept authenticated requests."})
		return
	case enterprise:
		if _, ok := s.lookup(bearer(r)); !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Requires authentication"})
			return
		}
	}
	var body struct {
		Credentials []string `json:"credentials"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body) != nil || len(body.Credentials) == 0 || len(body.Credentials) > 1000 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	for _, c := range body.Credentials {
		for _, p := range githubRevocable {
			if strings.HasPrefix(c, p) {
				if _, ok := s.lookup(c); ok {
					s.revoke(c)
				}
			}
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{})
}

// gitlab answers the GitLab endpoints nix-auth uses.
func (s *Server) gitlab(w http.ResponseWriter, r *http.Request, host string) {
	switch r.URL.Path {
	case "/oauth/authorize_device":
		s.deviceCode(w, r, host, GitLab)
		return
	case "/oauth/token":
		if r.Method == http.MethodPost && r.PostForm.Get("grant_type") == "refresh_token" {
			s.gitlabRefresh(w, r)
			return
		}
		s.deviceToken(w, r, GitLab)
		return
	case "/oauth/revoke":
		s.gitlabOAuthRevoke(w, r)
		return
	case "/oauth/token/info":
		t, ok := s.lookup(bearer(r))
		if !ok || !t.OAuth {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token", "error_description": "The access token is invalid"})
			return
		}
		var secs any // null: does not expire
		if !t.Expires.IsZero() {
			secs = int64(time.Until(t.Expires).Seconds())
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"resource_owner_id": 42, "scope": t.Scopes, "scopes": t.Scopes,
			"expires_in": secs, "expires_in_seconds": secs,
			"application": map[string]any{"uid": "app"}, "created_at": time.Now().Add(-time.Minute).Unix(),
		})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v4/") {
		notFoundPage(w)
		return
	}
	t, ok := s.gitlabAuth(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
		return
	}
	w.Header().Set("RateLimit-Limit", "2000")
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(2000-s.countCall(t)))
	switch r.URL.Path {
	case "/api/v4/version":
		writeJSON(w, http.StatusOK, map[string]any{"version": "17.5.0-ee", "revision": "0123456789a"})
	case "/api/v4/user":
		if !hasAnyScope(t, "api", "read_api", "read_user") {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": "insufficient_scope",
				"error_description": "The request requires higher privileges than provided by the access token.", "scope": "api read_api read_user"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": 42, "username": t.User, "state": "active"})
	case "/api/v4/personal_access_tokens/self":
		if t.OAuth {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Not Found"})
			return
		}
		if r.Method == http.MethodDelete {
			s.revoke(t.Value)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var exp any
		if !t.Expires.IsZero() {
			exp = t.Expires.UTC().Format("2006-01-02")
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": 7, "name": "nix-auth", "revoked": false, "created_at": "2024-01-01T00:00:00.000Z",
			"scopes": t.Scopes, "user_id": 42, "last_used_at": nil, "active": true, "expires_at": exp,
		})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Not Found"})
	}
}

// gitlabOAuthLifetime is how long GitLab's OAuth access tokens last.
const gitlabOAuthLifetime = 2 * time.Hour

// gitlabInvalidGrant is Doorkeeper's description of invalid_grant.
const gitlabInvalidGrant = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."

// gitlabRefresh answers the refresh_token grant (RFC 6749 section 6) as
// GitLab does: a new access token and a new refresh token; the refresh
// token used is spent. An unknown, spent or foreign refresh token gets
// 400 invalid_grant.
func (s *Server) gitlabRefresh(w http.ResponseWriter, r *http.Request) {
	rt, clientID := r.PostForm.Get("refresh_token"), r.PostForm.Get("client_id")
	s.mu.Lock()
	var old Token
	found := false
	for _, t := range s.tokens {
		if t.OAuth && rt != "" && t.RefreshToken == rt && (t.ClientID == "" || t.ClientID == clientID) {
			old, found = t, true
			break
		}
	}
	var issued Token
	if found {
		s.seq++
		old.RefreshToken = ""
		s.tokens[old.Value] = old
		issued = old
		issued.Value = fmt.Sprintf("oauth-refreshed-%04d-0123456789abcdef", s.seq)
		issued.RefreshToken = fmt.Sprintf("refresh-rotated-%04d", s.seq)
		issued.ClientID = clientID
		if !old.Expires.IsZero() {
			issued.Expires = time.Now().Add(gitlabOAuthLifetime)
		}
		s.tokens[issued.Value] = issued
	}
	s.mu.Unlock()
	if !found {
		oauthError(w, r, GitLab, http.StatusBadRequest, "invalid_grant", gitlabInvalidGrant)
		return
	}
	body := map[string]any{
		"access_token": issued.Value, "token_type": "Bearer", "refresh_token": issued.RefreshToken,
		"scope": strings.Join(issued.Scopes, " "), "created_at": time.Now().Unix(),
	}
	if !issued.Expires.IsZero() {
		body["expires_in"] = int64(gitlabOAuthLifetime.Seconds())
	}
	writeJSON(w, http.StatusOK, body)
}

// gitlabOAuthRevoke is Doorkeeper's POST /oauth/revoke (RFC 7009): the
// token (access or refresh) and the public client's client_id in a form.
// It answers 200 for a token it does not know, as RFC 7009 asks, and 403
// for one issued to another application.
func (s *Server) gitlabOAuthRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		notFoundPage(w)
		return
	}
	tok, clientID := r.PostForm.Get("token"), r.PostForm.Get("client_id")
	if clientID == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client",
			"error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})
		return
	}
	s.mu.Lock()
	var found *Token
	for _, t := range s.tokens {
		if t.OAuth && tok != "" && (t.Value == tok || t.RefreshToken == tok) {
			found = &t
			break
		}
	}
	s.mu.Unlock()
	switch {
	case found == nil:
	case found.ClientID != "" && found.ClientID != clientID:
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "unauthorized_client", "error_description": "You are not authorized to revoke this token"})
		return
	default:
		s.revoke(found.Value)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// gitlabAuth reads GitLab's two token headers: PRIVATE-TOKEN takes
// personal tokens only, Authorization: Bearer takes both kinds.
func (s *Server) gitlabAuth(r *http.Request) (Token, bool) {
	if v := r.Header.Get("PRIVATE-TOKEN"); v != "" {
		t, ok := s.lookup(v)
		return t, ok && !t.OAuth
	}
	return s.lookup(bearer(r))
}

// gitea answers as Gitea or Forgejo.
func (s *Server) gitea(w http.ResponseWriter, r *http.Request, kind string) {
	version := "1.22.3"
	if kind == Forgejo {
		version = "9.0.1+gitea-1.22.0"
	}
	switch r.URL.Path {
	case "/api/v1/version":
		writeJSON(w, http.StatusOK, map[string]any{"version": version})
	case "/api/forgejo/v1/version":
		if kind != Forgejo {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"version": version})
	case "/api/v1/user":
		t, ok := s.lookup(bearer(r))
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "invalid username, password or token"})
			return
		}
		if !hasAnyScope(t, "all", "read:user", "write:user") {
			writeJSON(w, http.StatusForbidden, map[string]any{"message": "token does not have at least one of required scope(s): [read:user]"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "login": t.User, "full_name": ""})
	default:
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
			return
		}
		notFoundPage(w)
	}
}

// sourcehut answers meta.*'s GraphQL endpoint.
func (s *Server) sourcehut(w http.ResponseWriter, r *http.Request, host string) {
	if !strings.HasPrefix(host, "meta.") || r.URL.Path != "/query" || r.Method != http.MethodPost {
		notFoundPage(w)
		return
	}
	var q struct {
		Query string `json:"query"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&q) != nil || !strings.Contains(q.Query, "me") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []any{map[string]any{"message": "malformed query"}}})
		return
	}
	t, ok := s.lookup(bearer(r))
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []any{map[string]any{"message": "Invalid or expired OAuth 2.0 bearer token"}}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"me": map[string]any{"canonicalName": "~" + t.User}}})
}

// deviceCode starts a scripted device flow (RFC 8628 section 3.2).
func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request, host, style string) {
	if r.Method != http.MethodPost {
		notFoundPage(w)
		return
	}
	s.mu.Lock()
	queue := s.scripts[host]
	if len(queue) == 0 {
		s.mu.Unlock()
		oauthError(w, r, style, http.StatusBadRequest, "unauthorized_client", "forgetest: no device script for "+host)
		return
	}
	script := queue[0]
	if script.ClientID != "" && r.PostForm.Get("client_id") != script.ClientID {
		s.mu.Unlock()
		// Both forges refuse an unknown client before issuing a code.
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "unknown client_id"})
		return
	}
	s.scripts[host] = queue[1:]
	s.seq++
	code := fmt.Sprintf("device-code-%d", s.seq)
	if script.Interval == 0 {
		script.Interval = 1
	}
	if script.ExpiresIn == 0 {
		script.ExpiresIn = 900
	}
	if script.UserCode == "" {
		script.UserCode = "WDJB-MJHT"
	}
	s.devices[code] = &device{host: host, script: script, expires: time.Now().Add(time.Duration(script.ExpiresIn) * time.Second)}
	s.mu.Unlock()

	body := map[string]any{
		"device_code": code, "user_code": script.UserCode,
		"expires_in": script.ExpiresIn, "interval": script.Interval,
	}
	if style == GitHub {
		body["verification_uri"] = "https://" + host + "/login/device"
	} else {
		body["verification_uri"] = "https://" + host + "/oauth/device"
		body["verification_uri_complete"] = "https://" + host + "/oauth/device?user_code=" + script.UserCode
	}
	for k, v := range script.Answer {
		body[k] = v
	}
	oauthWrite(w, r, style, http.StatusOK, body)
}

// deviceToken answers a poll (RFC 8628 section 3.4/3.5) with the script's
// next step.
func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request, style string) {
	if r.Method != http.MethodPost {
		notFoundPage(w)
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" {
		oauthError(w, r, style, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	s.mu.Lock()
	d, ok := s.devices[r.PostForm.Get("device_code")]
	var step string
	var issue *Token
	switch {
	case !ok:
		step = "bad_verification_code"
		if style == GitLab {
			step = "invalid_grant"
		}
	case d.script.ClientID != "" && r.PostForm.Get("client_id") != d.script.ClientID:
		step = "incorrect_client_credentials"
		if style == GitLab {
			step = "invalid_client"
		}
	case time.Now().After(d.expires):
		step = "expired_token"
	case d.step < len(d.script.Steps):
		step = d.script.Steps[d.step]
		d.step++
	case d.script.Token.Value == "":
		step = "authorization_pending"
	default:
		t := d.script.Token
		if style == GitLab {
			t.OAuth = true
			t.ClientID = r.PostForm.Get("client_id")
		}
		s.tokens[t.Value] = t
		delete(s.devices, r.PostForm.Get("device_code"))
		issue = &t
	}
	s.mu.Unlock()

	if issue == nil {
		desc := describe(step)
		if ok && d.script.Description != "" {
			desc = d.script.Description
		}
		oauthError(w, r, style, http.StatusBadRequest, step, desc)
		return
	}
	body := map[string]any{"access_token": issue.Value}
	if style == GitHub {
		body["token_type"] = "bearer"
		body["scope"] = strings.Join(issue.Scopes, ",")
	} else {
		body["token_type"] = "Bearer"
		body["scope"] = strings.Join(issue.Scopes, " ")
		body["created_at"] = time.Now().Unix()
		if issue.RefreshToken != "" {
			body["refresh_token"] = issue.RefreshToken
		}
		if !issue.Expires.IsZero() {
			body["expires_in"] = int64(time.Until(issue.Expires).Seconds())
		}
	}
	oauthWrite(w, r, style, http.StatusOK, body)
}

func describe(code string) string {
	switch code {
	case "authorization_pending":
		return "The authorization request is still pending."
	case "slow_down":
		return "Too many requests have been made in the same timeframe."
	case "expired_token":
		return "The device_code has expired."
	case "access_denied":
		return "The authorization request was denied."
	}
	return ""
}

// oauthError answers an OAuth error: GitHub with 200 (its documented
// habit), GitLab (Doorkeeper) with the given status.
func oauthError(w http.ResponseWriter, r *http.Request, style string, status int, code, desc string) {
	body := map[string]any{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	if style == GitHub {
		body["error_uri"] = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"
		status = http.StatusOK
	}
	oauthWrite(w, r, style, status, body)
}

// oauthWrite encodes an OAuth answer: GitHub sends JSON only when asked
// with Accept: application/json and form encoding otherwise.
func oauthWrite(w http.ResponseWriter, r *http.Request, style string, status int, body map[string]any) {
	if style == GitHub && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		v := url.Values{}
		for k, x := range body {
			v.Set(k, fmt.Sprint(x))
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, v.Encode())
		return
	}
	writeJSON(w, status, body)
}
