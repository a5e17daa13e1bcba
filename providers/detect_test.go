package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

func TestDetect(t *testing.T) {
	t.Parallel()
	type failure struct {
		path string
		f    forgetest.Failure
	}
	tests := []struct {
		name     string
		forge    string
		failures []failure
		want     providers.Kind
	}{
		{name: "GitHub Enterprise", forge: forgetest.GitHub, want: providers.GitHub},
		// The fake GitLab requires a token for /api/v4/version, as
		// gitlab.com does: a 401 with GitLab's JSON identifies it.
		{name: "GitLab by its 401", forge: forgetest.GitLab, want: providers.GitLab},
		{name: "Gitea", forge: forgetest.Gitea, want: providers.Gitea},
		{name: "Forgejo", forge: forgetest.Forgejo, want: providers.Forgejo},
		{name: "Forgejo with /api/v1/version dropping", forge: forgetest.Forgejo,
			failures: []failure{{"/api/v1/version", forgetest.FailDrop}}, want: providers.Forgejo},
		{name: "GitLab while other probes fail", forge: forgetest.GitLab,
			failures: []failure{{"/api/v3/meta", forgetest.FailDrop}, {"/api/v1/version", forgetest.Fail500},
				{"/api/forgejo/v1/version", forgetest.FailHang}}, want: providers.GitLab},
		{name: "Gitea while GHE probe redirects away", forge: forgetest.Gitea,
			failures: []failure{{"/api/v3/meta", forgetest.FailRedirect}}, want: providers.Gitea},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := forgetest.New(t)
			fake.AddForge("forge.example.com", tc.forge)
			for _, f := range tc.failures {
				fake.Fail("forge.example.com", f.path, f.f)
			}
			start := time.Now()
			kind, err := providers.Detect(context.Background(), "forge.example.com/some/org", fake.Client())
			if err != nil || kind != tc.want {
				t.Fatalf("Detect = %q, %v; want %q", kind, err, tc.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v: a hanging probe held up a conclusive one", d)
			}
			for _, r := range fake.Requests() {
				if r.Header.Get("Authorization") != "" || r.Header.Get("PRIVATE-TOKEN") != "" {
					t.Errorf("probe %s sent credentials", r.Path)
				}
			}
			if n := len(requestsTo(fake, forgetest.RedirectHost)); n != 0 {
				t.Errorf("followed a redirect to %s", forgetest.RedirectHost)
			}
		})
	}
}

func TestDetectNotAForge(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t) // example.com is nobody's forge: 404 pages
	_, err := providers.Detect(context.Background(), "example.com", fake.Client())
	if err == nil || !strings.Contains(err.Error(), "does not look like") || !strings.Contains(err.Error(), "/api/v4/version: 404") {
		t.Fatalf("Detect error = %v", err)
	}
	if !errors.Is(err, providers.ErrNotForge) {
		t.Errorf("Detect error %v is not ErrNotForge", err)
	}
}

func TestDetectUnreachable(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t)
	fake.AddForge("down.example.com", forgetest.Gitea)
	for _, p := range []string{"/api/v3/meta", "/api/v4/version", "/api/v1/version", "/api/forgejo/v1/version"} {
		fake.Fail("down.example.com", p, forgetest.FailDrop)
	}
	_, err := providers.Detect(context.Background(), "down.example.com", fake.Client())
	if err == nil || !strings.Contains(err.Error(), "cannot reach down.example.com") || len(hints(err)) == 0 {
		t.Fatalf("Detect error = %v, hints %q", err, hints(err))
	}
	if errors.Is(err, providers.ErrNotForge) {
		t.Error("an unreachable host is ErrNotForge")
	}
}

func TestDetectTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	fake := forgetest.New(t)
	fake.AddForge("slow.example.com", forgetest.Gitea)
	for _, p := range []string{"/api/v3/meta", "/api/v4/version", "/api/v1/version", "/api/forgejo/v1/version"} {
		fake.Fail("slow.example.com", p, forgetest.FailHang)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := providers.Detect(ctx, "slow.example.com", fake.Client())
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("Detect with deadline: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = providers.Detect(ctx, "slow.example.com", fake.Client())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Detect cancelled: %v, want context.Canceled", err)
	}
}
