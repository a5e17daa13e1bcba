package providers_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

// The device-flow tests wait for real poll intervals (oauth2 polls in whole
// seconds), so they run in parallel.

func TestGitHubDeviceFlowSuccess(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	fake.ScriptDevice("github.com", forgetest.DeviceScript{
		ClientID: providers.DefaultGitHubClientID,
		Steps:    []string{"authorization_pending", "authorization_pending"},
		Token:    forgetest.Token{Value: "gho_devicetoken1234", User: "octocat", Scopes: []string{"repo"}},
		UserCode: "ABCD-1234",
	})
	ui := &fakeUI{}
	start := time.Now()
	tok, err := p.Login(context.Background(), ui)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if tok.Value != "gho_devicetoken1234" || tok.Type != providers.OAuth || !slices.Equal(tok.Scopes, []string{"repo"}) {
		t.Errorf("token = %s %s %v", mask(tok.Value), tok.Type, tok.Scopes)
	}
	if !tok.ExpiresAt.IsZero() {
		t.Errorf("GitHub OAuth app tokens do not expire, got %v", tok.ExpiresAt)
	}
	if got := p.NixToken(tok); got != tok.Value {
		t.Errorf("NixToken = %s", mask(got))
	}
	if len(ui.codes) != 1 || ui.codes[0] != "ABCD-1234" || ui.uris[0] != "https://github.com/login/device" {
		t.Errorf("ShowDeviceCode got %v %v", ui.codes, ui.uris)
	}
	if until := time.Until(ui.expiresAt); until < 14*time.Minute || until > 15*time.Minute {
		t.Errorf("expiresAt in %v, want ~15m", until)
	}
	if ui.waitCount() < 2 {
		t.Errorf("Waiting called %d times during ~3 s of polling", ui.waitCount())
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("finished after %v: polled faster than the 1 s interval", d)
	}
	var polls int
	for _, r := range requestsTo(fake, "github.com") {
		switch r.Path {
		case "/login/device/code":
			if r.Form.Get("scope") != "repo" || r.Form.Get("client_id") != providers.DefaultGitHubClientID {
				t.Errorf("device code request form: scope %q client_id %q", r.Form.Get("scope"), r.Form.Get("client_id"))
			}
		case "/login/oauth/access_token":
			polls++
			if !strings.Contains(r.Header.Get("Accept"), "application/json") {
				t.Errorf("token poll without Accept: application/json")
			}
			if r.Header.Get("Authorization") != "" {
				t.Errorf("token poll sent an Authorization header (public client)")
			}
		}
	}
	if polls != 3 {
		t.Errorf("%d polls, want 3 (2 pending + success): no duplicate auth-style probing", polls)
	}
}

func TestGitHubDeviceFlowSlowDown(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	fake.ScriptDevice("github.com", forgetest.DeviceScript{
		Steps: []string{"slow_down"},
		Token: forgetest.Token{Value: "gho_slow", User: "octocat", Scopes: []string{"repo"}},
	})
	start := time.Now()
	tok, err := p.Login(context.Background(), &fakeUI{})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	// slow_down adds 5 s to the 1 s interval (RFC 8628 section 3.5).
	if d := time.Since(start); d < 6*time.Second {
		t.Errorf("next poll after slow_down came after %v, want >= 6s", d)
	}
	if tok.Value != "gho_slow" {
		t.Errorf("wrong token")
	}
}

func TestDeviceFlowTerminalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		step string
		want error
		msg  string
	}{
		{"expired_token", providers.ErrExpired, "expired"},
		{"access_denied", providers.ErrDenied, "denied"},
		{"device_flow_disabled", providers.ErrClientID, "Device Flow"},
		{"unsupported_whatever", providers.ErrRefused, "unsupported_whatever"},
	}
	for _, tc := range tests {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
			fake.ScriptDevice("github.com", forgetest.DeviceScript{
				Steps: []string{tc.step},
				Token: forgetest.Token{Value: "gho_never"},
			})
			_, err := p.Login(context.Background(), &fakeUI{})
			if err == nil {
				t.Fatal("Login succeeded")
			}
			// The kind is what the commands turn into advice (cmd's
			// TestFlagHints checks that each gets some).
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			text := err.Error() + strings.Join(hints(err), " ")
			if !strings.Contains(text, tc.msg) {
				t.Errorf("error %q (hints %q) does not mention %q", err, hints(err), tc.msg)
			}
		})
	}
}

func TestDeviceFlowCodeExpiresWhilePending(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	fake.ScriptDevice("github.com", forgetest.DeviceScript{ExpiresIn: 2}) // pending until it expires
	start := time.Now()
	_, err := p.Login(context.Background(), &fakeUI{})
	if !errors.Is(err, providers.ErrExpired) {
		t.Fatalf("Login error = %v, want ErrExpired", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v; the code expired after 2s", d)
	}
}

func TestDeviceFlowCancel(t *testing.T) {
	t.Parallel()
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
	fake.ScriptDevice("github.com", forgetest.DeviceScript{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ui := &fakeUI{onWait: func(n int) {
		if n == 2 { // after a second of polling, as a Ctrl-C would
			cancel()
		}
	}}
	start := time.Now()
	_, err := p.Login(ctx, ui)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Login error = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancel took effect after %v", d)
	}
	n := ui.waitCount()
	time.Sleep(1200 * time.Millisecond)
	if ui.waitCount() != n {
		t.Error("Waiting was called after Login returned")
	}
}

func TestGitHubEnterpriseDeviceFlow(t *testing.T) {
	t.Parallel()
	const host = "ghe.example.com"
	t.Run("needs client ID", func(t *testing.T) {
		t.Parallel()
		p, fake := newProvider(t, providers.GitHub, host, providers.Options{})
		fake.AddForge(host, forgetest.GitHub)
		_, err := p.Login(context.Background(), &fakeUI{})
		if err == nil || !strings.Contains(err.Error(), "client ID") {
			t.Fatalf("Login error = %v, want one asking for a client ID", err)
		}
		var ce *providers.ClientIDError
		if !errors.As(err, &ce) || ce.AppPage != "https://ghe.example.com/settings/applications/new" || !strings.Contains(ce.App, "Enable Device Flow") ||
			ce.TokenPage != "https://ghe.example.com/settings/tokens/new?scopes=repo&description=nix-auth" || ce.Host != host {
			t.Errorf("error %#v does not say how to get a client ID", err)
		}
		if len(fake.Requests()) != 0 {
			t.Errorf("sent %d requests before failing", len(fake.Requests()))
		}
	})
	t.Run("with client ID", func(t *testing.T) {
		t.Parallel()
		p, fake := newProvider(t, providers.GitHub, host, providers.Options{ClientID: "Iv1.enterprise"})
		fake.AddForge(host, forgetest.GitHub)
		fake.ScriptDevice(host, forgetest.DeviceScript{
			ClientID: "Iv1.enterprise",
			Token:    forgetest.Token{Value: "gho_enterprise", User: "hubot", Scopes: []string{"repo"}},
		})
		ui := &fakeUI{}
		tok, err := p.Login(context.Background(), ui)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if ui.uris[0] != "https://ghe.example.com/login/device" {
			t.Errorf("verification URI %q", ui.uris[0])
		}
		st, err := p.Validate(context.Background(), p.NixToken(tok))
		if err != nil || !st.Valid || st.User != "hubot" {
			t.Fatalf("Validate = %+v, %v", st, err)
		}
		if len(requestsTo(fake, "api.github.com")) != 0 {
			t.Error("GitHub Enterprise validation went to api.github.com")
		}
	})
	t.Run("unknown client ID", func(t *testing.T) {
		t.Parallel()
		p, fake := newProvider(t, providers.GitHub, host, providers.Options{ClientID: "Iv1.wrong"})
		fake.AddForge(host, forgetest.GitHub)
		fake.ScriptDevice(host, forgetest.DeviceScript{ClientID: "Iv1.right"})
		_, err := p.Login(context.Background(), &fakeUI{})
		if err == nil || !strings.Contains(err.Error(), "Iv1.wrong") || !errors.Is(err, providers.ErrClientID) {
			t.Fatalf("Login error = %v, want ErrClientID", err)
		}
	})
}

func TestGitLabDeviceFlow(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, fake := newProvider(t, providers.GitLab, "gitlab.com", providers.Options{Now: func() time.Time { return now }})
	fake.ScriptDevice("gitlab.com", forgetest.DeviceScript{
		ClientID: providers.DefaultGitLabClientID,
		Steps:    []string{"authorization_pending"},
		Token: forgetest.Token{Value: "gloat-device", User: "tanuki", Scopes: []string{"read_api"},
			Expires: time.Now().Add(2 * time.Hour), RefreshToken: "refresh-me"},
	})
	ui := &fakeUI{}
	tok, err := p.Login(context.Background(), ui)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if tok.Type != providers.OAuth || tok.RefreshToken != "refresh-me" || !slices.Equal(tok.Scopes, []string{"read_api"}) {
		t.Errorf("token: type %s, refresh token kept: %v, scopes %v", tok.Type, tok.RefreshToken == "refresh-me", tok.Scopes)
	}
	if d := tok.ExpiresAt.Sub(now); d < 119*time.Minute || d > 2*time.Hour {
		t.Errorf("ExpiresAt = now + %v, want ~2h from the injected clock", d)
	}
	if ui.uris[0] != "https://gitlab.com/oauth/device" {
		t.Errorf("verification URI %q", ui.uris[0])
	}
	nix := p.NixToken(tok)
	if nix != "OAuth2:gloat-device" {
		t.Errorf("NixToken = %s", mask(nix))
	}
	for _, r := range requestsTo(fake, "gitlab.com") {
		if r.Path == "/oauth/authorize_device" && r.Form.Get("scope") != "read_api" {
			t.Errorf("requested scope %q, want read_api", r.Form.Get("scope"))
		}
	}
	st, err := p.Validate(context.Background(), nix)
	if err != nil || !st.Valid || st.User != "tanuki" || !st.ScopesKnown || !slices.Equal(st.Scopes, []string{"read_api"}) {
		t.Fatalf("Validate = %+v, %v", st, err)
	}
	if d := st.ExpiresAt.Sub(now); d < 118*time.Minute || d > 2*time.Hour {
		t.Errorf("Validate ExpiresAt = now + %v, want ~2h", d)
	}
}

func TestGitLabSelfManagedNeedsClientID(t *testing.T) {
	p, _ := newProvider(t, providers.GitLab, "gitlab.example.com", providers.Options{})
	_, err := p.Login(context.Background(), &fakeUI{})
	var ce *providers.ClientIDError
	if !errors.As(err, &ce) || ce.AppPage != "https://gitlab.example.com/-/user_settings/applications" || !strings.Contains(ce.App, "read_api") {
		t.Fatalf("Login error = %v, want a ClientIDError", err)
	}
}

func TestDeviceFlowServerTrouble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		failure forgetest.Failure
		path    string
		want    string
	}{
		{"500 on device code", forgetest.Fail500, "/login/device/code", "500"},
		{"HTML on device code", forgetest.FailHTML, "/login/device/code", "github.com"},
		{"redirect on device code", forgetest.FailRedirect, "/login/device/code", forgetest.RedirectHost},
		{"dropped device code", forgetest.FailDrop, "/login/device/code", "cannot reach github.com"},
		{"500 on token poll", forgetest.Fail500, "/login/oauth/access_token", "500"},
		{"redirect on token poll", forgetest.FailRedirect, "/login/oauth/access_token", forgetest.RedirectHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
			fake.ScriptDevice("github.com", forgetest.DeviceScript{Token: forgetest.Token{Value: "gho_x"}})
			fake.Fail("github.com", tc.path, tc.failure)
			_, err := p.Login(context.Background(), &fakeUI{})
			if err == nil {
				t.Fatal("Login succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "<") {
				t.Errorf("error %q carries the server's body", err)
			}
			if len(hints(err)) == 0 {
				t.Errorf("error %q has no hint", err)
			}
			if n := len(requestsTo(fake, forgetest.RedirectHost)); n != 0 {
				t.Errorf("followed the redirect: %d requests to %s", n, forgetest.RedirectHost)
			}
		})
	}
}

// TestDeviceFlowPollTimeoutIsNotExpiry: a poll that times out is a
// network problem, not an expired code.
func TestDeviceFlowPollTimeoutIsNotExpiry(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t)
	c := fake.Client()
	c.Timeout = 500 * time.Millisecond
	p, err := providers.New(providers.GitHub, "github.com", providers.Options{HTTPClient: c, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	fake.ScriptDevice("github.com", forgetest.DeviceScript{})
	fake.Fail("github.com", "/login/oauth/access_token", forgetest.FailHang)
	_, err = p.Login(context.Background(), &fakeUI{})
	if err == nil || errors.Is(err, providers.ErrExpired) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("Login error = %v", err)
	}
}

// TestDeviceFlowRefusesForeignPages: a verification page that is not an
// https page of the forge stops the login before anything is shown or
// polled.
func TestDeviceFlowRefusesForeignPages(t *testing.T) {
	t.Parallel()
	for _, answer := range []map[string]any{
		{"verification_uri": "javascript:alert(document.cookie)"},
		{"verification_uri": "file:///etc/passwd"},
		{"verification_uri": "https://evil.example.com/login/device"},
		{"verification_uri": "https://github.com@evil.example.com/login/device"},
		{"verification_uri_complete": "https://evil.example.com/?user_code=X"},
		{"user_code": "\x1b]0;pwned\x07"},
	} {
		p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{})
		fake.ScriptDevice("github.com", forgetest.DeviceScript{Answer: answer, Token: forgetest.Token{Value: "gho_never"}})
		ui := &fakeUI{}
		_, err := p.Login(context.Background(), ui)
		if err == nil || len(hints(err)) == 0 {
			t.Errorf("%v: Login error %v, hints %q", answer, err, hints(err))
		}
		if len(ui.uris) != 0 || len(ui.codes) != 0 {
			t.Errorf("%v: shown %v %v", answer, ui.codes, ui.uris)
		}
		for _, r := range fake.Requests() {
			if r.Path == "/login/oauth/access_token" {
				t.Errorf("%v: polled after a refused answer", answer)
			}
		}
	}
}

// TestDeviceFlowNegativeInterval: the answer that used to panic oauth2's
// poll loop now polls at RFC 8628's default 5 s, and the code's lifetime
// shown comes from the injected clock.
func TestDeviceFlowNegativeInterval(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, fake := newProvider(t, providers.GitHub, "github.com", providers.Options{Now: func() time.Time { return now }})
	fake.ScriptDevice("github.com", forgetest.DeviceScript{
		Answer: map[string]any{"interval": -5, "expires_in": -1e30},
		Token:  forgetest.Token{Value: "gho_after_negative", User: "octocat"},
	})
	ui := &fakeUI{}
	start := time.Now()
	tok, err := p.Login(context.Background(), ui)
	if err != nil || tok.Value != "gho_after_negative" {
		t.Fatalf("Login: %v", err)
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Errorf("first poll after %v, want the default 5s", d)
	}
	if !ui.expiresAt.Equal(now.Add(15 * time.Minute)) {
		t.Errorf("expiresAt %v, want the injected now + the default 15m", ui.expiresAt)
	}
}

// TestTokenPageOnlyForTheHost: a personal-token page built from a host
// that does not name one https host is refused, never opened.
func TestTokenPageOnlyForTheHost(t *testing.T) {
	for _, host := range []string{"git.example.com@evil.example.com", "git.example.com#@evil.example.com", "git.example.com\\@evil.example.com"} {
		p, err := providers.New(providers.Gitea, host, providers.Options{HTTPClient: forgetest.New(t).Client()})
		if err != nil {
			continue
		}
		ui := &fakeUI{secret: "tok"}
		if _, err := p.Login(context.Background(), ui); err == nil || len(ui.pages) != 0 {
			t.Errorf("%q: Login error %v, pages opened %q", host, err, ui.pages)
		}
	}
}
