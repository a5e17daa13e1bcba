package forgetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

func get(t *testing.T, c *http.Client, rawURL string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, rawURL string, form url.Values, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestCertificateCoversRealNames(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	for _, host := range []string{"github.com", "api.github.com", "gitlab.com", "codeberg.org", "meta.sr.ht", "git.sr.ht",
		"example.com", "ghe.example.com", "example.org", "localhost"} {
		resp, _ := get(t, c, "https://"+host+"/", nil)
		if resp.TLS == nil {
			t.Errorf("%s: not TLS", host)
		}
	}
	// A name outside the certificate fails verification: the client
	// really checks it.
	if _, err := c.Get("https://gitlab.example.org/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestClientFromEnv(t *testing.T) {
	s := forgetest.New(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c, err := forgetest.ClientFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, c, "https://codeberg.org/api/v1/version", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "+gitea-") {
		t.Errorf("codeberg version: %d %s", resp.StatusCode, body)
	}
	t.Setenv(forgetest.EnvCA, "")
	if _, err := forgetest.ClientFromEnv(); err == nil {
		t.Error("ClientFromEnv without the CA succeeded")
	}
}

func TestGitHubDeviceScript(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	s.ScriptDevice("github.com", forgetest.DeviceScript{
		ClientID: "cid",
		Steps:    []string{"authorization_pending", "slow_down"},
		Token:    forgetest.Token{Value: "gho_scripted", User: "octocat", Scopes: []string{"repo"}},
		Interval: 2,
	})
	resp, body := post(t, c, "https://github.com/login/device/code", url.Values{"client_id": {"cid"}, "scope": {"repo"}}, "application/json")
	var dc struct {
		DeviceCode      string `json:"device_code"`
		VerificationURI string `json:"verification_uri"`
		Interval        int    `json:"interval"`
		ExpiresIn       int    `json:"expires_in"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &dc) != nil {
		t.Fatalf("device code: %d %s", resp.StatusCode, body)
	}
	if dc.Interval != 2 || dc.ExpiresIn != 900 || dc.VerificationURI != "https://github.com/login/device" {
		t.Errorf("device code answer %+v", dc)
	}
	poll := url.Values{"client_id": {"cid"}, "device_code": {dc.DeviceCode}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}
	// GitHub answers errors with 200, form-encoded unless JSON is asked for.
	resp, body = post(t, c, "https://github.com/login/oauth/access_token", poll, "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "x-www-form-urlencoded") || !strings.Contains(body, "error=authorization_pending") {
		t.Errorf("first poll: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = post(t, c, "https://github.com/login/oauth/access_token", poll, "application/json")
	if resp.StatusCode != 200 || !strings.Contains(body, `"error":"slow_down"`) {
		t.Errorf("second poll: %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, c, "https://github.com/login/oauth/access_token", poll, "application/json")
	if resp.StatusCode != 200 || !strings.Contains(body, `"access_token":"gho_scripted"`) || !strings.Contains(body, `"scope":"repo"`) {
		t.Errorf("third poll: %d, no access token or scope in the answer (body not printed: it holds a token)", resp.StatusCode)
	}
	// The issued token now works on the API.
	resp, _ = get(t, c, "https://api.github.com/user", map[string]string{"Authorization": "Bearer gho_scripted"})
	if resp.StatusCode != 200 || resp.Header.Get("X-OAuth-Scopes") != "repo" {
		t.Errorf("issued token: %d scopes %q", resp.StatusCode, resp.Header.Get("X-OAuth-Scopes"))
	}
	// The code is used up, and an unscripted host refuses.
	_, body = post(t, c, "https://github.com/login/oauth/access_token", poll, "application/json")
	if !strings.Contains(body, "bad_verification_code") {
		t.Errorf("reused code: %s", body)
	}
	_, body = post(t, c, "https://github.com/login/device/code", url.Values{"client_id": {"cid"}}, "application/json")
	if !strings.Contains(body, "no device script") {
		t.Errorf("unscripted: %s", body)
	}
	var polls int
	for _, r := range s.Requests() {
		if r.Path == "/login/oauth/access_token" && r.Form.Get("device_code") == dc.DeviceCode {
			polls++
		}
	}
	if polls != 4 {
		t.Errorf("request log has %d polls, want 4", polls)
	}
}

func TestGitLabDeviceScriptErrorsAre400(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	s.ScriptDevice("gitlab.com", forgetest.DeviceScript{Steps: []string{"access_denied"}})
	_, body := post(t, c, "https://gitlab.com/oauth/authorize_device", url.Values{"client_id": {"x"}}, "")
	var dc struct {
		Code     string `json:"device_code"`
		Complete string `json:"verification_uri_complete"`
	}
	if json.Unmarshal([]byte(body), &dc) != nil || dc.Complete == "" {
		t.Fatalf("device code: %s", body)
	}
	poll := url.Values{"device_code": {dc.Code}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}
	resp, body := post(t, c, "https://gitlab.com/oauth/token", poll, "")
	if resp.StatusCode != 400 || !strings.Contains(body, `"error":"access_denied"`) {
		t.Errorf("poll: %d %s", resp.StatusCode, body)
	}
}

func TestDeviceCodeExpiresOnTheServer(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	s.ScriptDevice("gitlab.com", forgetest.DeviceScript{ExpiresIn: 1})
	_, body := post(t, c, "https://gitlab.com/oauth/authorize_device", url.Values{"client_id": {"x"}}, "")
	var dc struct {
		Code string `json:"device_code"`
	}
	_ = json.Unmarshal([]byte(body), &dc)
	poll := url.Values{"device_code": {dc.Code}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}
	if _, body := post(t, c, "https://gitlab.com/oauth/token", poll, ""); !strings.Contains(body, "authorization_pending") {
		t.Errorf("before expiry: %s", body)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, body := post(t, c, "https://gitlab.com/oauth/token", poll, ""); !strings.Contains(body, "expired_token") {
		t.Errorf("after expiry: %s", body)
	}
}

func TestGitLabAuth(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	s.AddToken(forgetest.Token{Value: "pat", User: "tanuki"})
	s.AddToken(forgetest.Token{Value: "oauth", User: "tanuki", OAuth: true})
	s.AddToken(forgetest.Token{Value: "old", User: "tanuki", Expires: time.Now().Add(-time.Hour)})
	resp, body := get(t, c, "https://gitlab.com/api/v4/version", nil)
	if resp.StatusCode != 401 || strings.TrimSpace(body) != `{"message":"401 Unauthorized"}` {
		t.Errorf("anonymous version: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		hdr  map[string]string
		want int
	}{
		{map[string]string{"PRIVATE-TOKEN": "pat"}, 200},
		{map[string]string{"Authorization": "Bearer pat"}, 200},
		{map[string]string{"Authorization": "Bearer oauth"}, 200},
		{map[string]string{"PRIVATE-TOKEN": "oauth"}, 401},
		{map[string]string{"PRIVATE-TOKEN": "old"}, 401},
	} {
		if resp, _ := get(t, c, "https://gitlab.com/api/v4/user", tc.hdr); resp.StatusCode != tc.want {
			t.Errorf("%v: %d, want %d", tc.hdr, resp.StatusCode, tc.want)
		}
	}
}

func TestFailures(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.Fail("codeberg.org", "/500", forgetest.Fail500)
	s.Fail("codeberg.org", "/html", forgetest.FailHTML)
	s.Fail("codeberg.org", "/redirect", forgetest.FailRedirect)
	s.Fail("codeberg.org", "/drop", forgetest.FailDrop)
	s.Fail("codeberg.org", "/hang", forgetest.FailHang)

	if resp, _ := get(t, c, "https://codeberg.org/500", nil); resp.StatusCode != 500 {
		t.Errorf("Fail500: %d", resp.StatusCode)
	}
	if resp, body := get(t, c, "https://codeberg.org/html", nil); resp.StatusCode != 200 || !strings.HasPrefix(body, "<!DOCTYPE html>") {
		t.Errorf("FailHTML: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, c, "https://codeberg.org/redirect?x=1", nil); resp.StatusCode != 302 ||
		resp.Header.Get("Location") != "https://"+forgetest.RedirectHost+"/redirect?x=1" {
		t.Errorf("FailRedirect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := c.Get("https://codeberg.org/drop"); err == nil {
		t.Error("FailDrop answered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://codeberg.org/hang", nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("FailHang: %v", err)
	}
}

func TestCloseReleasesHangingHandlers(t *testing.T) {
	s := forgetest.New(t)
	s.Fail("gitlab.com", "/hang", forgetest.FailHang)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Client().Get("https://gitlab.com/hang")
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging handler")
	}
	<-done
}

func TestForgeAnswers(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	s.AddForge("ghe.example.com", forgetest.GitHub)
	s.AddForge("gitea.example.com", forgetest.Gitea)
	s.AddToken(forgetest.Token{Value: "t1", User: "alice", Scopes: []string{"read:repository"}})
	s.AddToken(forgetest.Token{Value: "t2", User: "bob"})

	resp, body := get(t, c, "https://ghe.example.com/api/v3/meta", nil)
	if resp.Header.Get("X-GitHub-Enterprise-Version") == "" || !strings.Contains(body, "installed_version") {
		t.Errorf("GHE meta: %s", body)
	}
	if resp, _ := get(t, c, "https://ghe.example.com/api/v3/user", map[string]string{"Authorization": "token t2"}); resp.StatusCode != 200 {
		t.Errorf("GHE user: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, "https://gitea.example.com/api/forgejo/v1/version", nil); resp.StatusCode != 404 {
		t.Errorf("Gitea has no Forgejo API: %d", resp.StatusCode)
	}
	if resp, body := get(t, c, "https://gitea.example.com/api/v1/user", map[string]string{"Authorization": "token t1"}); resp.StatusCode != 403 || !strings.Contains(body, "read:user") {
		t.Errorf("Gitea scoped token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, c, "https://unknown.example.com/", nil); resp.StatusCode != 404 {
		t.Errorf("unknown host: %d", resp.StatusCode)
	}
}

// TestLatency checks only lower bounds: how much later an answer comes
// depends on the machine, but it never comes before the latency.
func TestLatency(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	const d = 100 * time.Millisecond
	s.SetLatency(d)
	start := time.Now()
	if resp, _ := get(t, c, "https://api.github.com/meta", nil); resp.StatusCode != 200 {
		t.Errorf("meta with latency: %d", resp.StatusCode)
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, before the %v latency", el, d)
	}

	// A client that gives up is let go without waiting out the latency.
	s.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.github.com/meta", nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hour-long latency, 50ms deadline: %v", err)
	}
}

// TestGitLabRefreshGrant: a refresh token buys a new access token and a
// rotated refresh token, once; unknown, spent and foreign ones get
// GitLab's 400 invalid_grant.
func TestGitLabRefreshGrant(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	// Expired: refreshing is what an expired OAuth token is for.
	s.AddToken(forgetest.Token{Value: "oauth-old", User: "tanuki", OAuth: true, Scopes: []string{"read_api"},
		Expires: time.Now().Add(-time.Minute), RefreshToken: "R1", ClientID: "app"})
	refresh := func(rt, clientID string) (*http.Response, map[string]any) {
		t.Helper()
		resp, body := post(t, c, "https://gitlab.com/oauth/token",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}, "")
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("refresh answer is not JSON: %v", err)
		}
		return resp, m
	}
	if resp, m := refresh("R1", "other-app"); resp.StatusCode != 400 || m["error"] != "invalid_grant" {
		t.Errorf("foreign client: %d %v", resp.StatusCode, m["error"])
	}
	resp, m := refresh("R1", "app")
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %v", resp.StatusCode, m["error"])
	}
	access, _ := m["access_token"].(string)
	rotated, _ := m["refresh_token"].(string)
	if access == "" || access == "oauth-old" || rotated == "" || rotated == "R1" {
		t.Errorf("refresh did not issue a new access token and a rotated refresh token")
	}
	if m["expires_in"] != float64(7200) || m["scope"] != "read_api" || m["token_type"] != "Bearer" {
		t.Errorf("refresh answer: expires_in %v scope %v token_type %v", m["expires_in"], m["scope"], m["token_type"])
	}
	if resp, _ := get(t, c, "https://gitlab.com/oauth/token/info", map[string]string{"Authorization": "Bearer " + access}); resp.StatusCode != 200 {
		t.Errorf("new token not accepted: %d", resp.StatusCode)
	}
	if resp, m := refresh("R1", "app"); resp.StatusCode != 400 || m["error"] != "invalid_grant" {
		t.Errorf("spent refresh token: %d %v", resp.StatusCode, m["error"])
	}
	if resp, m := refresh("unknown", "app"); resp.StatusCode != 400 || m["error"] != "invalid_grant" || m["error_description"] == "" {
		t.Errorf("unknown refresh token: %d %v", resp.StatusCode, m)
	}
	if resp, _ := refresh(rotated, "app"); resp.StatusCode != 200 {
		t.Errorf("rotated refresh token: %d", resp.StatusCode)
	}
}

// TestHostileScripts: the knobs that make the fake a hostile forge send
// what they are given, verbatim.
func TestHostileScripts(t *testing.T) {
	s := forgetest.New(t)
	c := s.Client()
	s.ScriptDevice("github.com", forgetest.DeviceScript{
		Steps:       []string{"access_denied"},
		Answer:      map[string]any{"interval": -5, "verification_uri": "javascript:alert(1)", "user_code": "\x1b[2J"},
		Description: "\r\nnix-auth: hint: forged",
	})
	_, body := post(t, c, "https://github.com/login/device/code", url.Values{"client_id": {"x"}}, "application/json")
	var dc map[string]any
	if err := json.Unmarshal([]byte(body), &dc); err != nil {
		t.Fatal(err)
	}
	if dc["interval"] != float64(-5) || dc["verification_uri"] != "javascript:alert(1)" || dc["user_code"] != "\x1b[2J" {
		t.Errorf("device answer: %v", dc)
	}
	poll := url.Values{"device_code": {dc["device_code"].(string)}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}
	if _, body := post(t, c, "https://github.com/login/oauth/access_token", poll, "application/json"); !strings.Contains(body, `"error_description":"\r\nnix-auth: hint: forged"`) {
		t.Errorf("scripted description: %s", body)
	}

	s.AddToken(forgetest.Token{Value: "tok", User: "u", ScopesHeader: "a,\u202eb"})
	if resp, _ := get(t, c, "https://api.github.com/user", map[string]string{"Authorization": "Bearer tok"}); resp.Header.Get("X-OAuth-Scopes") != "a,\u202eb" {
		t.Errorf("X-OAuth-Scopes = %q", resp.Header.Get("X-OAuth-Scopes"))
	}

	s.Respond("codeberg.org", "/api/v1/user", forgetest.Answer{Status: 403, Header: map[string]string{"Content-Type": "application/json"}, Body: `{"message":"\u001b]0;x\u0007"}`})
	if resp, body := get(t, c, "https://codeberg.org/api/v1/user", nil); resp.StatusCode != 403 || !strings.Contains(body, `\u001b]0;x`) {
		t.Errorf("Respond: %d %s", resp.StatusCode, body)
	}
}
