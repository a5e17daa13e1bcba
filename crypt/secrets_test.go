package crypt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

const secretsJSON = `{"github": {"oauth_token": "ghp_secretsTEST0123456789abcdefghijkl"}, "tailscale": {"authkey": "tskey"}, "n": [1, {"a": "b"}]}`

func TestReadSecretsPlain(t *testing.T) {
	for name, data := range map[string]string{
		"json": secretsJSON,
		"yaml": "# comment\ngithub:\n  oauth_token: ghp_secretsTEST0123456789abcdefghijkl # inline\ntailscale: {authkey: tskey}\nn: [1, {a: b}]\n",
	} {
		items, format, err := ReadSecrets("s."+name, []byte(data), nil, nil)
		if err != nil || format != SecretsPlain {
			t.Fatalf("%s: %v %v", name, format, err)
		}
		if len(items) != 3 || items[0].Key != "github" || items[1].Key != "tailscale" || items[2].Key != "n" {
			t.Fatalf("%s: items %+v", name, items)
		}
		gh, ok := items[0].Value.([]Item)
		if !ok || len(gh) != 1 || gh[0].Key != "oauth_token" || gh[0].Value != "ghp_secretsTEST0123456789abcdefghijkl" {
			t.Errorf("%s: github %+v", name, items[0].Value)
		}
		if l, ok := items[2].Value.([]any); !ok || len(l) != 2 {
			t.Errorf("%s: list %+v", name, items[2].Value)
		} else if m, ok := l[1].([]Item); !ok || m[0].Key != "a" {
			t.Errorf("%s: mapping in a list %+v", name, l[1])
		}
	}
}

func TestReadSecretsRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		data string
		kind error
		want string
	}{
		"single token":   {"ghp_secretsTEST0123456789abcdefghijkl\n", ErrNotMapping, "not a YAML or JSON mapping"},
		"list":           {"[1, 2]", ErrNotMapping, "not a YAML or JSON mapping"},
		"empty":          {"", ErrNotMapping, "it is empty"},
		"two documents":  {"a: b\n---\nc: d\n", ErrNotMapping, "2 YAML documents"},
		"duplicate keys": {`{"github": "x", "github": "y"}`, ErrNotMapping, "not a YAML or JSON mapping"},
		"broken JSON":    {`{"github": "ghp_secretsTEST0123456789abcdefghijkl"`, ErrNotMapping, "not a YAML or JSON mapping"},
		"git-crypt":      {"\x00GITCRYPT\x00\x01\x02", ErrGitCryptLocked, "git-crypt"},
	} {
		_, _, err := ReadSecrets("s.json", []byte(c.data), nil, nil)
		if !errors.Is(err, c.kind) || !strings.HasPrefix(err.Error(), "s.json: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "ghp_secretsTEST") {
			t.Errorf("%s: the error quotes the file", name)
		}
	}
}

// TestReadSecretsSops: a sops file of any layout (here a store) is
// decrypted and its MAC checked, as Load does.
func TestReadSecretsSops(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	path := filepath.Join(t.TempDir(), "s.yaml")
	f, err := Create(path, []Recipient{{Age: id.Recipient().String()}}, CreateOptions{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(Entry{Host: "github.com", Token: "ghp_secretsTEST0123456789abcdefghijkl"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	items, format, err := ReadSecrets(path, data, []age.Identity{id}, nil)
	if err != nil || format != SecretsSOPS || len(items) != 1 || items[0].Key != "hosts" {
		t.Fatalf("%v %v %+v", format, err, items)
	}
	host := items[0].Value.([]Item)[0]
	if host.Key != "github.com" || host.Value.([]Item)[0].Value != "ghp_secretsTEST0123456789abcdefghijkl" {
		t.Errorf("decrypted %+v", host)
	}
	other, _ := age.GenerateX25519Identity()
	if _, _, err := ReadSecrets(path, data, []age.Identity{other}, []string{"other.key"}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v", err)
	}
	tampered := bytes.Replace(data, []byte("github.com"), []byte("gitlab.com"), 1)
	if _, _, err := ReadSecrets(path, tampered, []age.Identity{id}, nil); !errors.Is(err, ErrTampered) {
		t.Errorf("tampered: %v", err)
	}
}

func TestReadSecretsAge(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	var bin bytes.Buffer
	w, _ := age.Encrypt(&bin, id.Recipient())
	w.Write([]byte(secretsJSON))
	w.Close()
	var armored bytes.Buffer
	aw := armor.NewWriter(&armored)
	aw.Write(bin.Bytes())
	aw.Close()
	for name, data := range map[string][]byte{"binary": bin.Bytes(), "armored": armored.Bytes()} {
		items, format, err := ReadSecrets("s.age", data, []age.Identity{id}, nil)
		if err != nil || format != SecretsAge || len(items) != 3 {
			t.Errorf("%s: %v %v %+v", name, format, err, items)
		}
	}
	if _, _, err := ReadSecrets("s.age", bin.Bytes()[:bin.Len()-5], []age.Identity{id}, nil); err == nil {
		t.Error("a truncated age file was read")
	}
}
