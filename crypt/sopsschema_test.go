package crypt

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// stHostFields returns the mapping of host in a decrypted tree.
func stHostFields(t *testing.T, docs []treeBranch, host string) treeBranch {
	t.Helper()
	hosts, _, err := hostsBranch("", docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range hosts {
		if it.Key == host {
			return it.Value.(treeBranch)
		}
	}
	t.Fatalf("no host %s", host)
	return nil
}

func stSetField(b treeBranch, name string, v any) treeBranch {
	for i := range b {
		if b[i].Key == name {
			b[i].Value = v
			return b
		}
	}
	return append(b, treeItem{Key: name, Value: v})
}

// TestSchemaViolations: a store written with its key (so the MAC holds)
// but not in nix-auth's shape is refused on Load, naming host and field.
func TestSchemaViolations(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	cases := []stSchemaCase{
		{"created after expires", "gitlab.com", "created", "is after expires", func(d []treeBranch) {
			f := stHostFields(t, d, "gitlab.com")
			stSetField(f, "created", "2026-11-25T00:00:00Z")
		}},
		{"created in the future", "gitlab.com", "created", "in the future", func(d []treeBranch) {
			f := stHostFields(t, d, "gitlab.com")
			stSetField(f, "created", stNow().Add(time.Hour).UTC().Format(time.RFC3339))
			stSetField(f, "expires", stNow().Add(48*time.Hour).UTC().Format(time.RFC3339))
		}},
		{"unknown provider", "github.com", "provider", "not a forge nix-auth knows", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "github.com"), "provider", "gitlub")
		}},
		{"user is a number", "github.com", "user", "not a string", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "github.com"), "user", 42)
		}},
		{"scopes hold a number", "github.com", "scopes", "not a list of strings", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "github.com"), "scopes", []any{"repo", 7})
		}},
		{"created is not a time", "github.com", "created", "RFC 3339", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "github.com"), "created", "yesterday")
		}},
		{"token with a space", "github.com", "token", "whitespace", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "github.com"), "token", "ghp_a b")
		}},
		{"refresh token with a line break", "gitlab.com", "refresh_token", "control character", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "gitlab.com"), "refresh_token", "glrt-a\nb")
		}},
		{"control character in user", "github.com", "", "control character", func(d []treeBranch) {
			stSetField(stHostFields(t, d, "github.com"), "user", "octo\x1b[2Jcat")
		}},
		{"host is not a mapping", "github.com", "", "is not a mapping", func(d []treeBranch) {
			hosts, _, _ := hostsBranch("", d)
			for i := range hosts {
				if hosts[i].Key == "github.com" {
					hosts[i].Value = "ghp_x"
				}
			}
		}},
		{"invalid host", "git hub.com", "", "whitespace", func(d []treeBranch) {
			hosts, _, _ := hostsBranch("", d)
			for i := range hosts {
				if hosts[i].Key == "github.com" {
					hosts[i].Key = "git hub.com"
				}
			}
		}},
		{"token missing", "codeberg.org", "token", "has no token", func(d []treeBranch) {
			f := stHostFields(t, d, "codeberg.org")
			stSetField(f, "token", nil)
		}},
	}
	stRunSchemaCases(t, id, stEntries(), cases)
}

// stSchemaCase is a store edited with its key (so the MAC holds) into a
// shape nix-auth's schema refuses: Load must fail with ErrSchema naming
// host and field, msg in its message, and a hint.
type stSchemaCase struct {
	name, host, field, msg string
	edit                   func(docs []treeBranch)
}

func stRunSchemaCases(t *testing.T, id *age.X25519Identity, es []Entry, cases []stSchemaCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "t.yaml")
			stCreate(t, p, es, id)
			s := stLoad(t, p, id).st.(*sopsStore)
			c.edit(s.docs)
			s.dirty = true
			out, err := s.marshal(stNow(), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, out)
			_, err = Load(p, siIDs(id), nil, stNow)
			var fe *FileError
			if !errors.Is(err, ErrSchema) || !errors.As(err, &fe) {
				t.Fatalf("Load = %v; want ErrSchema", err)
			}
			if fe.Host != c.host || fe.Field != c.field || !strings.Contains(err.Error(), c.msg) ||
				!strings.HasPrefix(err.Error(), p+": ") || len(fe.Hints()) == 0 {
				t.Errorf("error %q (host %q, field %q, %d hints); want host %q field %q, %q", err, fe.Host, fe.Field, len(fe.Hints()), c.host, c.field, c.msg)
			}
			if strings.Contains(err.Error(), "\x1b") {
				t.Error("the error carries a control character")
			}
		})
	}
}

// TestSchemaAfterSopsSet: a secret-looking field a user added to a host
// with sops, which nix-auth's encrypted_regex does not encrypt, is refused
// on Load; a harmless one is kept; hosts that are not a mapping are
// refused.
func TestSchemaAfterSopsSet(t *testing.T) {
	t.Parallel()
	id := stKey(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	stCreate(t, p, stEntries(), id)
	stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "set", "t.yaml", `["hosts"]["github.com"]["api_key"]`, `"SECRETKEY123"`)
	_, err := Load(p, siIDs(id), nil, stNow)
	var fe *FileError
	if !errors.Is(err, ErrCleartext) || !errors.As(err, &fe) || fe.Field != "api_key" || strings.Contains(err.Error(), "SECRETKEY123") {
		t.Fatalf("Load = %v", err)
	}
	// A harmless one is fine.
	stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "unset", "t.yaml", `["hosts"]["github.com"]["api_key"]`)
	stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "set", "t.yaml", `["hosts"]["github.com"]["note"]`, `"CI account"`)
	if _, err := Load(p, siIDs(id), nil, stNow); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "note: CI account") {
		t.Error("the note is not readable")
	}
	stRun(t, dir, []string{"SOPS_AGE_KEY=" + id.String()}, nil, "sops", "set", "t.yaml", `["hosts"]`, `"github.com"`)
	if _, err := Load(p, siIDs(id), nil, stNow); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "not a mapping of host names") {
		t.Errorf("hosts as a string: %v", err)
	}
}

// TestSplitEncValue holds splitEncValue to sops's pattern on values made
// of the pattern's own pieces, where greedy groups and the separators'
// choice matter.
func TestSplitEncValue(t *testing.T) {
	re := regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)
	pieces := []string{",iv:", ",tag:", ",type:", "]", "a", "b=", "\n", "ENC[AES256_GCM,data:", ",", ":"}
	rng := rand.New(rand.NewPCG(1, 2))
	matched := 0
	check := func(s string) {
		m := re.FindStringSubmatch(s)
		if m != nil {
			matched++
		}
		data, iv, tag, typ, ok := splitEncValue(s)
		if ok != (m != nil) || ok && (data != m[1] || iv != m[2] || tag != m[3] || typ != m[4]) {
			t.Fatalf("%q: got %v %q %q %q %q, pattern %q", s, ok, data, iv, tag, typ, m)
		}
	}
	check("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]")
	noise := func() string {
		s := ""
		for range rng.IntN(4) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	for range 100000 {
		s := "ENC[AES256_GCM,data:"
		if rng.IntN(20) == 0 {
			s = ""
		}
		for range rng.IntN(16) {
			s += pieces[rng.IntN(len(pieces))]
		}
		check(s)
		// The pattern's shape, with noise in and around every group.
		check("ENC[AES256_GCM,data:" + noise() + ",iv:" + noise() + ",tag:" + noise() + ",type:" + noise() + "]" + noise())
	}
	if matched < 5000 {
		t.Errorf("only %d values matched: the cases do not reach the groups", matched)
	}
}
