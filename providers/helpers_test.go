package providers_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

// fakeUI records what a login showed and answers ReadSecret.
type fakeUI struct {
	mu           sync.Mutex
	secret       string
	secretErr    error
	codes, uris  []string
	expiresAt    time.Time
	waits        int
	pages, instr []string
	prompts      []string
	onWait       func(n int) // called (outside the lock) on every Waiting
}

func (u *fakeUI) ShowDeviceCode(code, uri string, exp time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.codes = append(u.codes, code)
	u.uris = append(u.uris, uri)
	u.expiresAt = exp
}

func (u *fakeUI) Waiting(time.Duration) {
	u.mu.Lock()
	u.waits++
	n, f := u.waits, u.onWait
	u.mu.Unlock()
	if f != nil {
		f(n)
	}
}

func (u *fakeUI) OpenTokenPage(url, instructions string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pages = append(u.pages, url)
	u.instr = append(u.instr, instructions)
}

func (u *fakeUI) ReadSecret(prompt string) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.prompts = append(u.prompts, prompt)
	return u.secret, u.secretErr
}

func (u *fakeUI) waitCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.waits
}

// newProvider returns a provider talking to a fresh fake forge.
func newProvider(t *testing.T, kind providers.Kind, host string, o providers.Options) (providers.Provider, *forgetest.Server) {
	t.Helper()
	fake := forgetest.New(t)
	o.HTTPClient = fake.Client()
	if o.Now == nil {
		// Tests that assert on times give a fixed clock.
		o.Now = time.Now
	}
	p, err := providers.New(kind, host, o)
	if err != nil {
		t.Fatalf("New(%s, %s): %v", kind, host, err)
	}
	return p, fake
}

// hints returns the advice an error carries, as cmd would print it.
func hints(err error) []string {
	var h interface{ Hints() []string }
	if errors.As(err, &h) {
		return h.Hints()
	}
	return nil
}

// mask shows a token in test output: its first four characters only.
func mask(tok string) string {
	if len(tok) <= 4 {
		return "…"
	}
	return tok[:4] + "…"
}

// noSecret fails the test if the token shows in the error or its hints,
// printing only a masked form.
func noSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err == nil || secret == "" {
		return
	}
	text := err.Error() + "\n" + strings.Join(hints(err), "\n")
	if strings.Contains(text, secret) {
		t.Errorf("error text contains the token %s", mask(secret))
	}
}

// requestsTo lists the requests the fake got for host.
func requestsTo(fake *forgetest.Server, host string) []forgetest.Request {
	var out []forgetest.Request
	for _, r := range fake.Requests() {
		if r.Host == host {
			out = append(out, r)
		}
	}
	return out
}
