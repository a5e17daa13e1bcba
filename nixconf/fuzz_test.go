package nixconf

import (
	"bytes"
	"maps"
	"strings"
	"testing"
)

// FuzzParse: for any file Nix accepts, setting or removing one host changes
// only what it must. Every line that is not an access-tokens line stays
// byte-identical, and the tokens Nix would see are the old ones with exactly
// that host changed.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"access-tokens = a.com=1 b.com=2\n",
		"# c\naccess-tokens  =\ta.com=1 # x\r\nkeep-outputs = true\n",
		"access-tokens = h.example=1 h.example=2\nextra-access-tokens = h.example=3 z=1\n",
		"!include access-tokens.conf\ninclude /etc/x\nsubstituters = a b\n",
		"access-tokens = =x junk a=b=c",
		"",
	} {
		f.Add([]byte(s), "h.example", "tok1")
	}
	f.Fuzz(func(t *testing.T, data []byte, host, token string) {
		stmts, err := parseFile(data, "f")
		if err != nil {
			return
		}
		if ValidateHost(host) != nil || ValidateToken(token) != nil {
			host, token = "h.example", "tok1"
		}
		before := fileTokens(data)
		set, err := setToken(data, "f", host, token)
		if err != nil {
			t.Fatalf("setToken failed on a file that parses: %v", err)
		}
		want := fileTokens(data)
		want[host] = token
		if got := fileTokens(set); !maps.Equal(got, want) {
			t.Fatalf("after set: %v, want %v", maskMap(got), maskMap(want))
		}
		keepsOtherLines(t, data, stmts, set)

		removed, _, err := removeToken(data, "f", host)
		if err != nil {
			t.Fatal(err)
		}
		delete(before, host)
		if got := fileTokens(removed); !maps.Equal(got, before) {
			t.Fatalf("after remove: %v, want %v", maskMap(got), maskMap(before))
		}
		keepsOtherLines(t, data, stmts, removed)
	})
}

// fileTokens is what Nix sees from one file (includes not followed).
func fileTokens(data []byte) map[string]string {
	stmts, err := parseFile(data, "f")
	if err != nil {
		return nil
	}
	cfg := &Config{}
	for _, st := range stmts {
		if st.include == "" {
			cfg.assigns = append(cfg.assigns, assign{file: "f", data: data, st: st})
		}
	}
	return tokensOf(cfg)
}

// keepsOtherLines checks that the lines of old other than access-tokens
// lines appear, byte for byte and in order, in edited, which has at most
// one line more (a new access-tokens line).
func keepsOtherLines(t *testing.T, old []byte, stmts []stmt, edited []byte) {
	t.Helper()
	isTok := map[int]bool{}
	for _, st := range stmts {
		if st.isTokens() {
			isTok[st.line] = true
		}
	}
	oldLines := strings.Split(string(old), "\n")
	newLines := strings.Split(string(edited), "\n")
	if len(newLines) < len(oldLines) || len(newLines) > len(oldLines)+2 {
		t.Fatalf("%d lines became %d", len(oldLines), len(newLines))
	}
	for i, l := range oldLines {
		if isTok[i+1] || i == len(oldLines)-1 && l == "" {
			continue
		}
		if newLines[i] != l {
			t.Fatalf("line %d changed: %q -> %q", i+1, l, newLines[i])
		}
	}
}

// FuzzValidate: nothing that ValidateHost and ValidateToken accept can
// inject a setting. The line nix-auth would write parses to exactly one
// assignment holding exactly that host and token.
func FuzzValidate(f *testing.F) {
	for _, s := range [][2]string{
		{"github.com", "ghp_x"}, {"a.com b", "t"}, {"a.com", "t\nx = y"}, {"a.com=b", "t"},
		{"a.com", "t#c"}, {"[::1]:80/x", "PAT:a=b"}, {"include", "x"}, {"a.com", "t\rfoo"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, token string) {
		if ValidateHost(host) != nil || ValidateToken(token) != nil {
			return
		}
		line := []byte(settingTokens + " = " + host + "=" + token + "\n")
		stmts, err := parseFile(line, "f")
		if err != nil {
			t.Fatalf("accepted %q with a token that makes the line invalid", host)
		}
		if len(stmts) != 1 || stmts[0].name != settingTokens {
			t.Fatalf("accepted %q with a token that makes %d statements", host, len(stmts))
		}
		got := fileTokens(line)
		if len(got) != 1 || got[host] != token {
			t.Fatalf("accepted %q with a token that Nix reads differently: %v", host, maskMap(got))
		}
		// Appended to a file that already has tokens, it stays one item.
		edited, err := setToken([]byte("access-tokens = a.example=1 # c\n"), "f", host, token)
		if err != nil || !bytes.HasPrefix(edited, []byte("access-tokens = a.example=1 ")) {
			t.Fatalf("setToken: %v", err)
		}
		want := map[string]string{"a.example": "1", host: token}
		if got := fileTokens(edited); !maps.Equal(got, want) {
			t.Fatalf("after setToken Nix sees %v", maskMap(got))
		}
	})
}
