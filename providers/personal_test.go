package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nix-auth/nix-auth/internal/forgetest"
	"github.com/nix-auth/nix-auth/providers"
)

func TestPersonalTokenLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		kind       providers.Kind
		host       string
		opts       providers.Options
		pasted     string
		page       string
		mention    []string // in the instructions
		wantValue  string
		wantType   providers.TokenType
		wantNix    string
		validateAs string // user the forge reports for the NixToken
	}{
		{
			name: "codeberg", kind: providers.Forgejo, host: "codeberg.org", pasted: "  cb-token \n",
			page:      "https://codeberg.org/user/settings/applications",
			mention:   []string{"no Forgejo fetcher", "github:, gitlab: and sourcehut:", "git+https"},
			wantValue: "cb-token", wantType: providers.Personal, wantNix: "cb-token", validateAs: "gopher",
		},
		{
			name: "gitea", kind: providers.Gitea, host: "git.example.com", pasted: "gt-token",
			page:      "https://git.example.com/user/settings/applications",
			mention:   []string{"no Gitea fetcher"},
			wantValue: "gt-token", wantType: providers.Personal, wantNix: "gt-token", validateAs: "gopher",
		},
		{
			name: "sourcehut", kind: providers.SourceHut, host: "git.sr.ht", pasted: "srht-pasted",
			page:      "https://meta.sr.ht/oauth2/personal-token",
			mention:   []string{"sourcehut: fetcher", "git.sr.ht"},
			wantValue: "srht-pasted", wantType: providers.Personal, wantNix: "srht-pasted", validateAs: "~gopher",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, fake := newProvider(t, tc.kind, tc.host, tc.opts)
			fake.AddForge(tc.host, string(tc.kind))
			ui := &fakeUI{secret: tc.pasted}
			tok, err := p.Login(context.Background(), ui)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if tok.Value != tc.wantValue || tok.Type != tc.wantType {
				t.Errorf("token %s (%s), want %s (%s)", mask(tok.Value), tok.Type, mask(tc.wantValue), tc.wantType)
			}
			if got := p.NixToken(tok); got != tc.wantNix {
				t.Errorf("NixToken = %s, want %s", mask(got), mask(tc.wantNix))
			}
			if len(ui.pages) != 1 || ui.pages[0] != tc.page {
				t.Errorf("opened %v, want %s", ui.pages, tc.page)
			}
			for _, m := range tc.mention {
				if !strings.Contains(ui.instr[0], m) {
					t.Errorf("instructions %q do not mention %q", ui.instr[0], m)
				}
			}
			if len(ui.prompts) != 1 || !strings.Contains(ui.prompts[0], tc.host) {
				t.Errorf("prompts %q", ui.prompts)
			}
			if len(ui.codes) != 0 {
				t.Error("a device code was shown in the personal-token flow")
			}
			fake.AddToken(forgetest.Token{Value: tc.wantValue, User: "gopher", OAuth: tc.wantType == providers.OAuth})
			st, err := p.Validate(context.Background(), p.NixToken(tok))
			if err != nil || !st.Valid || st.User != tc.validateAs {
				t.Errorf("Validate(NixToken) = %+v, %v", st, err)
			}
		})
	}
}

func TestPersonalTokenLoginErrors(t *testing.T) {
	t.Parallel()
	p, _ := newProvider(t, providers.Forgejo, "codeberg.org", providers.Options{ClientID: "ignored"})
	ui := &fakeUI{secret: "   "}
	if _, err := p.Login(context.Background(), ui); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty paste: %v", err)
	}
	boom := errors.New("no terminal")
	if _, err := p.Login(context.Background(), &fakeUI{secretErr: boom}); !errors.Is(err, boom) {
		t.Errorf("ReadSecret error not returned: %v", err)
	}
	p, _ = newProvider(t, providers.Forgejo, "codeberg.org", providers.Options{})
	_, err := p.Login(context.Background(), &fakeUI{secret: "PAT:cb_secretvalue"})
	if err == nil || !strings.Contains(err.Error(), "GitLab") {
		t.Errorf("GitLab prefix on a Forgejo token: %v", err)
	}
	noSecret(t, err, "cb_secretvalue")
}
