package providers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestParseDeviceCodeBounds: every number of a device-code answer is read
// within bounds, whatever the forge sends.
func TestParseDeviceCodeBounds(t *testing.T) {
	const uri = `"verification_uri":"https://github.com/login/device"`
	for _, c := range []struct {
		fields             string
		interval, lifetime time.Duration
	}{
		{`"interval":5,"expires_in":900`, 5 * time.Second, 15 * time.Minute},
		{``, defaultPollInterval, defaultDeviceLifetime},
		{`"interval":-5,"expires_in":-900`, defaultPollInterval, defaultDeviceLifetime},
		{`"interval":0,"expires_in":0`, defaultPollInterval, defaultDeviceLifetime},
		{`"interval":9223372036854775807,"expires_in":9223372036854775807`, defaultPollInterval, defaultDeviceLifetime},
		{`"interval":1e300,"expires_in":-1e300`, defaultPollInterval, defaultDeviceLifetime},
		{`"interval":3600,"expires_in":86400`, maxPollInterval, maxDeviceLifetime},
		{`"interval":0.2,"expires_in":"600"`, defaultPollInterval, 10 * time.Minute},
		{`"interval":"NaN","expires_in":"x"`, defaultPollInterval, defaultDeviceLifetime},
		{`"interval":1.5,"expires_in":null`, minPollInterval, defaultDeviceLifetime},
	} {
		body := `{"device_code":"d","user_code":"WDJB-MJHT",` + uri
		if c.fields != "" {
			body += "," + c.fields
		}
		body += "}"
		got, err := parseDeviceCode("github.com", 200, "application/json", []byte(body))
		if err != nil {
			t.Errorf("%s: %v", c.fields, err)
			continue
		}
		if got.interval != c.interval || got.lifetime != c.lifetime {
			t.Errorf("%s: interval %v lifetime %v, want %v %v", c.fields, got.interval, got.lifetime, c.interval, c.lifetime)
		}
	}
}

// TestParseDeviceCodeRefuses: pages that are not the forge's, codes a
// terminal would act on, and errors sent with 200.
func TestParseDeviceCodeRefuses(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"device_code":"d","user_code":"C","verification_uri":"javascript:alert(1)"}`, "not an https URL"},
		{`{"device_code":"d","user_code":"C","verification_uri":"file:///etc/passwd"}`, "not an https URL"},
		{`{"device_code":"d","user_code":"C","verification_uri":"http://github.com/login/device"}`, "not an https URL"},
		{`{"device_code":"d","user_code":"C","verification_uri":"https://evil.example.com/login/device"}`, "not a page of github.com"},
		{`{"device_code":"d","user_code":"C","verification_uri":"https://github.com.evil.example.com/"}`, "not a page of github.com"},
		{`{"device_code":"d","user_code":"C","verification_uri":"https://github.com@evil.example.com/"}`, "user information"},
		{`{"device_code":"d","user_code":"C","verification_uri":"https://github.com:8443/"}`, "not a page of github.com"},
		{`{"device_code":"d","user_code":"C","verification_uri":"https://github.com/login/device","verification_uri_complete":"javascript:x"}`, "not an https URL"},
		{`{"device_code":"d","user_code":"\u001b[2J","verification_uri":"https://github.com/login/device"}`, "not printable"},
		{`{"device_code":"d","user_code":"` + strings.Repeat("A", 65) + `","verification_uri":"https://github.com/login/device"}`, "longer than 64"},
		{`{"device_code":"d\r\n","user_code":"C","verification_uri":"https://github.com/login/device"}`, "not printable"},
		{`{"device_code":"d","verification_uri":"https://github.com/login/device"}`, "without a code or URL"},
	} {
		_, err := parseDeviceCode("github.com", 200, "application/json", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.body, err, c.want)
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Advice) == 0 {
			t.Errorf("%s: no advice", c.body)
		}
	}
	_, err := parseDeviceCode("github.com", 200, "application/json", []byte(`{"error":"unauthorized_client","error_description":"no"}`))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "unauthorized_client" {
		t.Errorf("error with 200: %v", err)
	}
	// Good ones pass, canonical.
	got, err := parseDeviceCode("github.com", 200, "application/json", []byte(`{"device_code":"d","user_code":"C","verification_uri":"HTTPS://GitHub.com:443/login/device"}`))
	if err != nil || got.verificationURI != "https://github.com:443/login/device" {
		t.Errorf("canonical URI: %+v %v", got, err)
	}
}

// TestBoundNames: scope lists and login names beyond what any forge has
// are kept out.
func TestBoundNames(t *testing.T) {
	long := strings.Repeat("x", maxName+1)
	got := splitScopes(strings.Repeat("repo,", 100000) + long)
	if len(got) != maxScopes {
		t.Errorf("%d scopes kept, want %d", len(got), maxScopes)
	}
	if got := boundScopes([]string{long, "repo"}); len(got) != 1 || got[0] != "repo" {
		t.Errorf("a scope longer than a name: %q", got)
	}
	if got := boundScopes([]string{}); got == nil {
		t.Error("an empty list became nil")
	}
	if boundName(long) != "" || boundName("octocat") != "octocat" {
		t.Error("boundName")
	}
}
