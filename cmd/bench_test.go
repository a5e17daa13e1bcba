package cmd

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

// forgeLatency is how long the fake forge takes to answer each request: a
// forge on another continent. Checked one after another, 20 hosts would
// take 20 × forgeLatency = 4 s at least.
const forgeLatency = 200 * time.Millisecond

// BenchmarkStatus20Hosts runs `nix-auth status` (the whole command: flags,
// config load, validation, table) over 20 hosts on a fake forge that
// answers every request after forgeLatency. The wall time per op shows the
// checks overlap: about one forgeLatency for hosts on known forges, about
// two for self-hosted ones (a probe to detect the forge, then the check),
// against the serial-ms a one-by-one check would take. Each op uses a new
// HTTP client, so TLS handshakes are counted, as in a real process; the
// latency=0s runs show that local cost (both ends of every handshake run
// in this process) apart from the waiting.
func BenchmarkStatus20Hosts(b *testing.B) {
	const hosts = 20
	for _, kind := range []string{"known", "self-hosted"} {
		for _, latency := range []time.Duration{0, forgeLatency} {
			b.Run(fmt.Sprintf("%s/latency=%v", kind, latency), func(b *testing.B) {
				benchStatus(b, kind, hosts, latency)
			})
		}
	}
}

// benchStatus is one BenchmarkStatus20Hosts case: kind of hosts, latency
// of every answer.
func benchStatus(b *testing.B, kind string, hosts int, latency time.Duration) {
	fake := forgetest.New(b)
	var line strings.Builder
	line.WriteString("access-tokens =")
	for i := range hosts {
		host, tok := benchHost(fake, kind, i)
		fmt.Fprintf(&line, " %s=%s", host, tok)
	}
	conf := filepath.Join(b.TempDir(), "nix.conf")
	if err := os.WriteFile(conf, []byte(line.String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	fake.SetLatency(latency)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var out, errOut bytes.Buffer
		client := fake.Client()
		f := &Factory{
			IO:         &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
			HTTPClient: func() *http.Client { return client },
			Getenv:     func(string) string { return "" },
			Now:        time.Now,
		}
		if code := Run(ctx, f, []string{"status", "--config", conf}); code != exitOK {
			b.Fatalf("status exited %d:\n%s%s", code, out.String(), errOut.String())
		}
		if n := strings.Count(out.String(), " valid\n"); n != hosts {
			b.Fatalf("%d of %d hosts valid:\n%s", n, hosts, out.String())
		}
		client.CloseIdleConnections()
	}
	// Requests per host: one check, plus one round of probes
	// (run together) for a self-hosted forge.
	rounds := 1
	if kind == "self-hosted" {
		rounds = 2
	}
	b.ReportMetric(float64(int64(hosts*rounds)*latency.Milliseconds()), "serial-ms")
}

// benchHost registers the i-th host's forge and token with the fake and
// returns the access-tokens pair for it. Known hosts are per-org paths on
// the public forges, which need no detection; self-hosted ones are
// distinct hosts (Gitea among them) that status must probe first.
func benchHost(fake *forgetest.Server, kind string, i int) (host, nixToken string) {
	public := []struct{ forge, host string }{
		{forgetest.GitHub, "github.com"}, {forgetest.GitLab, "gitlab.com"},
		{forgetest.Forgejo, "codeberg.org"}, {forgetest.SourceHut, "git.sr.ht"},
	}
	selfHosted := []string{forgetest.GitHub, forgetest.GitLab, forgetest.Gitea, forgetest.Forgejo}
	var forge string
	if kind == "self-hosted" {
		forge = selfHosted[i%len(selfHosted)]
		host = fmt.Sprintf("%s%02d.example.com", forge, i)
		fake.AddForge(host, forge)
	} else {
		p := public[i%len(public)]
		forge, host = p.forge, fmt.Sprintf("%s/org%02d", p.host, i)
	}
	tok := fmt.Sprintf("%s-bench-%02d", forge, i)
	fake.AddToken(forgetest.Token{Value: tok, User: fmt.Sprintf("user%02d", i)})
	if forge == forgetest.GitLab {
		// Nix sends a GitLab token only with its PAT: or OAuth2: prefix.
		return host, "PAT:" + tok
	}
	return host, tok
}
