package providers_test

import (
	"context"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

// BenchmarkValidate is one token check per forge against the local TLS
// fake, over a kept-alive connection: the cost nix-auth adds to a status
// call on top of the network. Allocations include the fake's own (it runs
// in this process and records every request).
func BenchmarkValidate(b *testing.B) {
	cases := []struct {
		name  string
		kind  providers.Kind
		host  string
		forge string // AddForge kind for hosts the fake does not know
		tok   forgetest.Token
		nix   string // the access-tokens value
	}{
		{name: "github", kind: providers.GitHub, host: "github.com",
			tok: forgetest.Token{Value: "ghp_benchmark", User: "octocat", Scopes: []string{"repo"}}, nix: "ghp_benchmark"},
		{name: "gitlab", kind: providers.GitLab, host: "gitlab.com",
			tok: forgetest.Token{Value: "glpat-benchmark", User: "tanuki", Scopes: []string{"read_api"}}, nix: "PAT:glpat-benchmark"},
		{name: "gitea", kind: providers.Gitea, host: "gitea.example.com", forge: forgetest.Gitea,
			tok: forgetest.Token{Value: "gitea-benchmark", User: "gopher"}, nix: "gitea-benchmark"},
		{name: "forgejo", kind: providers.Forgejo, host: "codeberg.org",
			tok: forgetest.Token{Value: "forgejo-benchmark", User: "gopher"}, nix: "forgejo-benchmark"},
		{name: "sourcehut", kind: providers.SourceHut, host: "git.sr.ht",
			tok: forgetest.Token{Value: "srht-benchmark", User: "drew"}, nix: "srht-benchmark"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			fake := forgetest.New(b)
			if c.forge != "" {
				fake.AddForge(c.host, c.forge)
			}
			fake.AddToken(c.tok)
			p, err := providers.New(c.kind, c.host, providers.Options{HTTPClient: fake.Client(), Now: time.Now})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				st, err := p.Validate(ctx, c.nix)
				if err != nil {
					b.Fatal(err)
				}
				if !st.Valid {
					b.Fatalf("%s token not valid: %s", c.name, st.Problem)
				}
			}
		})
	}
}
