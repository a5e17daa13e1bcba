package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newAgeKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// opens reports whether ids decrypt a file encrypted to r.
func opens(t *testing.T, ids []age.Identity, r age.Recipient) error {
	t.Helper()
	got, err := decryptWith(encryptTo(t, "secret", r), ids...)
	if err == nil && got != "secret" {
		err = errors.New("wrong plaintext")
	}
	return err
}

func sshRecipient(t *testing.T, name string) age.Recipient {
	t.Helper()
	r, err := agessh.ParseRecipient(vectorPub(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func convertedRecipient(t *testing.T, name string) age.Recipient {
	t.Helper()
	r, err := age.ParseX25519Recipient(vectorRecipient(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLoadIdentitiesOrder sets up every source sops reads, in a temporary
// home, and checks the order, the descriptions and that each key works.
func TestLoadIdentitiesOrder(t *testing.T) {
	home := t.TempDir()
	envKey1, envKey2, fileKey, cmdKey, defKey, extraKey := newAgeKey(t), newAgeKey(t), newAgeKey(t), newAgeKey(t), newAgeKey(t), newAgeKey(t)
	keyFile := writeFile(t, filepath.Join(home, "keys", "file.txt"), []byte("# created: today\n# public key: x\n"+fileKey.String()+"\n"))
	cmdFile := writeFile(t, filepath.Join(home, "keys", "cmd.txt"), []byte(cmdKey.String()+"\n"))
	defFile := writeFile(t, filepath.Join(home, ".config", "sops", "age", "keys.txt"), []byte(defKey.String()+"\n"))
	extraFile := writeFile(t, filepath.Join(home, "keys", "extra.txt"), []byte(extraKey.String()+"\n"))
	sshFile := writeFile(t, filepath.Join(home, "keys", "host2"), readKey(t, "host2"))
	writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), readKey(t, "host1"))
	hostKey := writeFile(t, filepath.Join(home, "etc", "ssh_host_ed25519_key"), readKey(t, "host3"))

	env := map[string]string{
		"HOME":                          home,
		"SOPS_AGE_KEY":                  "# two on one line, as sops allows\n" + envKey1.String() + " " + envKey2.String() + "\n",
		"SOPS_AGE_KEY_FILE":             keyFile,
		"SOPS_AGE_KEY_CMD":              "cat '" + cmdFile + "'",
		"SOPS_AGE_SSH_PRIVATE_KEY_FILE": sshFile,
	}
	ids, err := LoadIdentities(envOf(env), []string{hostKey, extraFile}, nil, nil, nil)
	if err != nil {
		t.Fatalf("%v (hints %q)", err, hintsOf(err))
	}
	wantTried := []string{
		"SOPS_AGE_KEY (2 keys)",
		"SOPS_AGE_KEY_FILE=" + keyFile + " (1 key)",
		fmt.Sprintf("SOPS_AGE_KEY_CMD=%q (1 key)", env["SOPS_AGE_KEY_CMD"]),
		"SOPS_AGE_SSH_PRIVATE_KEY_FILE=" + sshFile + " (ssh-ed25519, as ssh key and converted to age)",
		defFile + " (1 key)",
		filepath.Join(home, ".ssh", "id_ed25519") + " (ssh-ed25519, as ssh key and converted to age)",
		filepath.Join(home, ".ssh", "id_rsa") + " (not found)",
		"--identity " + hostKey + " (ssh-ed25519, as ssh key and converted to age)",
		"--identity " + extraFile + " (1 key)",
	}
	if strings.Join(ids.Tried, "\n") != strings.Join(wantTried, "\n") {
		t.Errorf("Tried:\n%s\nwant:\n%s", strings.Join(ids.Tried, "\n"), strings.Join(wantTried, "\n"))
	}
	// 2 + 1 + 1 age keys, 2 per ssh-ed25519 key (3 of them), 1 + 1 more.
	if len(ids.List) != 12 {
		t.Errorf("%d identities, want 12", len(ids.List))
	}
	wantOrder := []age.Recipient{envKey1.Recipient(), envKey2.Recipient(), fileKey.Recipient(), cmdKey.Recipient(),
		convertedRecipient(t, "host2"), nil, defKey.Recipient(), convertedRecipient(t, "host1"), nil,
		convertedRecipient(t, "host3"), nil, extraKey.Recipient()}
	for i, r := range wantOrder {
		if i >= len(ids.List) {
			break
		}
		if r == nil {
			if _, ok := ids.List[i].(*agessh.Ed25519Identity); !ok {
				t.Errorf("List[%d] is %T, want the ssh identity", i, ids.List[i])
			}
			continue
		}
		if err := opens(t, ids.List[i:i+1], r); err != nil {
			t.Errorf("List[%d] does not open its file: %v", i, err)
		}
	}
	// Every ssh key opens files encrypted either way.
	for _, name := range []string{"host1", "host2", "host3"} {
		if err := opens(t, ids.List, sshRecipient(t, name)); err != nil {
			t.Errorf("%s as ssh recipient: %v", name, err)
		}
		if err := opens(t, ids.List, convertedRecipient(t, name)); err != nil {
			t.Errorf("%s converted: %v", name, err)
		}
	}
	for _, tr := range ids.Tried {
		for _, k := range []*age.X25519Identity{envKey1, fileKey, cmdKey, defKey, extraKey} {
			if strings.Contains(tr, k.String()) {
				t.Fatal("a secret key appears in Tried")
			}
		}
	}
}

func TestLoadIdentitiesDefaults(t *testing.T) {
	xdgKey, homeKey := newAgeKey(t), newAgeKey(t)
	for _, tc := range []struct {
		name      string
		setup     func(home string) map[string]string
		wantTried []string // with HOME replaced by ~
		wantKeys  []*age.X25519Identity
	}{
		{
			name:      "nothing anywhere",
			setup:     func(home string) map[string]string { return map[string]string{"HOME": home} },
			wantTried: []string{"~/.config/sops/age/keys.txt (not found)", "~/.ssh/id_ed25519 (not found)", "~/.ssh/id_rsa (not found)"},
		},
		{
			name: "XDG_CONFIG_HOME wins over ~/.config",
			setup: func(home string) map[string]string {
				writeFile(t, filepath.Join(home, "xdg", "sops", "age", "keys.txt"), []byte(xdgKey.String()+"\n"))
				writeFile(t, filepath.Join(home, ".config", "sops", "age", "keys.txt"), []byte(homeKey.String()+"\n"))
				return map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "xdg")}
			},
			wantTried: []string{"~/xdg/sops/age/keys.txt (1 key)", "~/.ssh/id_ed25519 (not found)", "~/.ssh/id_rsa (not found)"},
			wantKeys:  []*age.X25519Identity{xdgKey},
		},
		{
			name:      "relative XDG_CONFIG_HOME is ignored as Go and sops do",
			setup:     func(home string) map[string]string { return map[string]string{"HOME": home, "XDG_CONFIG_HOME": "rel"} },
			wantTried: []string{"sops/age/keys.txt (user config directory unknown: path in $XDG_CONFIG_HOME is relative)", "~/.ssh/id_ed25519 (not found)", "~/.ssh/id_rsa (not found)"},
		},
		{
			name:      "no HOME",
			setup:     func(string) map[string]string { return map[string]string{} },
			wantTried: []string{"sops/age/keys.txt (user config directory unknown: neither $XDG_CONFIG_HOME nor $HOME are defined)", "~/.ssh/id_ed25519 (home directory unknown)"},
		},
		{
			name: "protected default ssh key skipped without a terminal",
			setup: func(home string) map[string]string {
				writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), readKey(t, "pass1"))
				return map[string]string{"HOME": home}
			},
			wantTried: []string{"~/.config/sops/age/keys.txt (not found)", "~/.ssh/id_ed25519 (passphrase-protected; skipped: no terminal to ask)", "~/.ssh/id_rsa (not found)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			ids, err := LoadIdentities(envOf(tc.setup(home)), nil, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(strings.Join(ids.Tried, "\n"), home, "~")
			if got != strings.Join(tc.wantTried, "\n") {
				t.Errorf("Tried:\n%s\nwant:\n%s", got, strings.Join(tc.wantTried, "\n"))
			}
			if len(ids.List) != len(tc.wantKeys) {
				t.Fatalf("%d identities, want %d", len(ids.List), len(tc.wantKeys))
			}
			for i, k := range tc.wantKeys {
				if err := opens(t, ids.List[i:i+1], k.Recipient()); err != nil {
					t.Errorf("identity %d: %v", i, err)
				}
			}
		})
	}
}

func TestLoadIdentitiesErrors(t *testing.T) {
	home := t.TempDir()
	secret := newAgeKey(t).String()
	bad := writeFile(t, filepath.Join(home, "bad.txt"), []byte("# ok\n"+secret[:len(secret)-2]+"\n"))
	empty := writeFile(t, filepath.Join(home, "empty.txt"), []byte("# nothing\n"))
	keyFile := writeFile(t, filepath.Join(home, "key.txt"), []byte(secret+"\n"))
	rsaPub := writeFile(t, filepath.Join(home, "rsa.pub"), readKey(t, "rsa1.pub"))
	for _, tc := range []struct {
		name  string
		env   map[string]string
		extra []string
		want  []string
	}{
		{"missing SOPS_AGE_KEY_FILE", map[string]string{"SOPS_AGE_KEY_FILE": filepath.Join(home, "nope.txt")}, nil, []string{"SOPS_AGE_KEY_FILE=" + filepath.Join(home, "nope.txt"), "cannot read"}},
		{"missing SOPS_AGE_SSH_PRIVATE_KEY_FILE", map[string]string{"SOPS_AGE_SSH_PRIVATE_KEY_FILE": filepath.Join(home, "nokey")}, nil, []string{filepath.Join(home, "nokey")}},
		{"missing --identity", nil, []string{filepath.Join(home, "gone")}, []string{"--identity " + filepath.Join(home, "gone"), "cannot read"}},
		{"malformed SOPS_AGE_KEY", map[string]string{"SOPS_AGE_KEY": secret[:len(secret)-2]}, nil, []string{"SOPS_AGE_KEY: line 1: malformed age identity"}},
		{"malformed key file", map[string]string{"SOPS_AGE_KEY_FILE": bad}, nil, []string{bad, "line 2", "malformed"}},
		{"identity file without keys", nil, []string{empty}, []string{empty, "no identities"}},
		{"public key as identity", nil, []string{rsaPub}, []string{rsaPub, "not an age identity"}},
		{"failing SOPS_AGE_KEY_CMD", map[string]string{"SOPS_AGE_KEY_CMD": "false"}, nil, []string{"SOPS_AGE_KEY_CMD", `running "false" failed`}},
		// The key a command prints is never echoed: not when it fails,
		// not when it floods.
		{"failing SOPS_AGE_KEY_CMD printing the key", map[string]string{"SOPS_AGE_KEY_CMD": "sh -c 'cat " + keyFile + "; cat " + keyFile + " >&2; exit 3'"}, nil,
			[]string{"SOPS_AGE_KEY_CMD", "failed: sh exited with status 3"}},
		{"flooding SOPS_AGE_KEY_CMD", map[string]string{"SOPS_AGE_KEY_CMD": "sh -c 'k=$(cat " + keyFile + "); while :; do echo \"$k\"; done'"}, nil,
			[]string{"SOPS_AGE_KEY_CMD", "printed more than 64 KiB; it was stopped"}},
		{"flooding SOPS_AGE_SSH_PRIVATE_KEY_CMD", map[string]string{"SOPS_AGE_SSH_PRIVATE_KEY_CMD": "yes"}, nil,
			[]string{"SOPS_AGE_SSH_PRIVATE_KEY_CMD", "printed more than 64 KiB"}},
		{"missing SOPS_AGE_KEY_CMD program", map[string]string{"SOPS_AGE_KEY_CMD": "no-such-key-command-nix-auth --x"}, nil,
			[]string{"SOPS_AGE_KEY_CMD", "no-such-key-command-nix-auth was not found"}},
		{"unparsable SOPS_AGE_KEY_CMD", map[string]string{"SOPS_AGE_KEY_CMD": `echo "unterminated`}, nil, []string{"SOPS_AGE_KEY_CMD", "cannot parse"}},
		{"malformed plugin identity", map[string]string{"SOPS_AGE_KEY": "AGE-PLUGIN-YUBIKEY-1QQQQ"}, nil, []string{"SOPS_AGE_KEY: line 1: malformed age plugin identity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HOME": home}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := LoadIdentities(envOf(env), tc.extra, nil, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret[16:40]) {
				t.Error("error shows key material")
			}
		})
	}
}

// TestLoadIdentitiesSSHKeyCommand covers SOPS_AGE_SSH_PRIVATE_KEY_CMD, which
// sops reads after SOPS_AGE_SSH_PRIVATE_KEY_FILE, and its refusal of
// protected keys.
func TestLoadIdentitiesSSHKeyCommand(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home, "SOPS_AGE_SSH_PRIVATE_KEY_CMD": "cat " + filepath.Join(keysDir, "host2")}
	ids, err := LoadIdentities(envOf(env), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := opens(t, ids.List, convertedRecipient(t, "host2")); err != nil {
		t.Error(err)
	}
	env["SOPS_AGE_SSH_PRIVATE_KEY_CMD"] = "cat " + filepath.Join(keysDir, "pass1")
	_, err = LoadIdentities(envOf(env), nil, func(string) ([]byte, error) { return []byte("hunter2"), nil }, nil, nil)
	if !errors.Is(err, ErrPassphrase) {
		t.Errorf("protected key from a command: %v", err)
	}
}

func TestLoadIdentitiesPassphrase(t *testing.T) {
	home := t.TempDir()
	keyPath := writeFile(t, filepath.Join(home, "pass1"), readKey(t, "pass1"))
	other := newAgeKey(t)
	otherFile := writeFile(t, filepath.Join(home, "other.txt"), []byte(other.String()+"\n"))

	t.Run("no terminal", func(t *testing.T) {
		_, err := LoadIdentities(envOf(map[string]string{"HOME": home}), []string{keyPath}, nil, nil, nil)
		if !errors.Is(err, ErrPassphrase) {
			t.Fatalf("err = %v, want ErrPassphrase", err)
		}
		for _, w := range []string{keyPath, "needs a passphrase", "no terminal"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		// The commands add the --identity for a host key (cmd's
		// TestFlagHints).
		if !strings.Contains(strings.Join(hintsOf(err), "\n"), "ssh host key") {
			t.Errorf("hints = %q", hintsOf(err))
		}
	})

	for _, tc := range []struct {
		name, pass string
		askErr     error
		wantOK     bool
	}{
		{"right", "hunter2", nil, true},
		{"wrong", "hunter3", nil, false},
		{"prompt fails", "", errors.New("no tty"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := 0
			ask := func(p string) ([]byte, error) {
				asked++
				if p != keyPath {
					t.Errorf("asked for %q", p)
				}
				return []byte(tc.pass), tc.askErr
			}
			ids, err := LoadIdentities(envOf(map[string]string{"HOME": home}), []string{keyPath, otherFile}, ask, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A file another key opens needs no passphrase.
			if err := opens(t, ids.List, other.Recipient()); err != nil || asked != 0 {
				t.Fatalf("other key: %v, asked %d times", err, asked)
			}
			// A file for an unrelated ssh key does not ask either.
			if err := opens(t, ids.List, sshRecipient(t, "host3")); err == nil || asked != 0 {
				t.Fatalf("unrelated ssh key: %v, asked %d times", err, asked)
			}
			for _, r := range []age.Recipient{convertedRecipient(t, "pass1"), sshRecipient(t, "pass1")} {
				err := opens(t, ids.List, r)
				if tc.wantOK && err != nil {
					t.Errorf("%T: %v", r, err)
				}
				if !tc.wantOK {
					if !errors.Is(err, ErrPassphrase) {
						t.Errorf("%T: err = %v, want ErrPassphrase", r, err)
					} else if strings.Contains(err.Error(), "hunter") {
						t.Error("error shows the passphrase")
					}
				}
			}
			if asked != 1 {
				t.Errorf("asked %d times, want once", asked)
			}
		})
	}
}

func TestLoadIdentitiesEncryptedIdentityFile(t *testing.T) {
	home := t.TempDir()
	inner := newAgeKey(t)
	sr, err := age.NewScryptRecipient("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	sr.SetWorkFactor(10)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, sr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, inner.String())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, filepath.Join(home, "keys.age"), buf.Bytes())

	if _, err := LoadIdentities(envOf(map[string]string{"HOME": home, "SOPS_AGE_KEY_FILE": path}), nil, nil, nil, nil); !errors.Is(err, ErrPassphrase) {
		t.Errorf("no terminal: %v", err)
	}
	for _, pass := range []string{"correct horse", "wrong"} {
		ids, err := LoadIdentities(envOf(map[string]string{"HOME": home, "SOPS_AGE_KEY_FILE": path}), nil,
			func(string) ([]byte, error) { return []byte(pass), nil }, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = opens(t, ids.List, inner.Recipient())
		if ok := pass == "correct horse"; ok != (err == nil) {
			t.Errorf("passphrase %q: %v", pass, err)
		}
		if err != nil && !errors.Is(err, ErrPassphrase) {
			t.Errorf("wrong passphrase: %v, want ErrPassphrase", err)
		}
	}
}

// TestIdentityModeWarning: key files others can read are used, with one
// ssh-style warning each naming the file, its mode and the fix.
func TestIdentityModeWarning(t *testing.T) {
	home := t.TempDir()
	id := stKey(t)
	keys := filepath.Join(home, ".config", "sops", "age", "keys.txt")
	os.MkdirAll(filepath.Dir(keys), 0o700)
	os.WriteFile(keys, []byte(id.String()+"\n"), 0o644)
	os.Chmod(keys, 0o644)
	ssh := filepath.Join(home, "host key")
	os.WriteFile(ssh, readKey(t, "host1"), 0o640)
	os.Chmod(ssh, 0o640)
	private := filepath.Join(home, "private.txt")
	os.WriteFile(private, []byte(stKey(t).String()+"\n"), 0o600)

	var warned []string
	warn := func(m string) { warned = append(warned, m) }
	env := envOf(map[string]string{"HOME": home, "SOPS_AGE_KEY_FILE": keys})
	ids, err := LoadIdentities(env, []string{ssh, private}, nil, warn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids.List) != 5 {
		t.Errorf("%d identities, want all 5 used", len(ids.List))
	}
	if len(warned) != 2 {
		t.Fatalf("warnings = %q, want one for keys.txt (read twice) and one for the ssh key", warned)
	}
	for i, want := range []string{
		"UNPROTECTED PRIVATE KEY FILE: " + keys + " has mode 0644, so other users can read or change it",
		"UNPROTECTED PRIVATE KEY FILE: " + ssh + " has mode 0640",
	} {
		if !strings.HasPrefix(warned[i], want) {
			t.Errorf("warning %d = %q, want %q", i, warned[i], want)
		}
	}
	if !strings.HasSuffix(warned[0], "chmod 600 "+keys) || !strings.HasSuffix(warned[1], "chmod 600 '"+ssh+"'") {
		t.Errorf("fixes: %q", warned)
	}
	if _, err := LoadIdentities(env, nil, nil, nil, nil); err != nil {
		t.Errorf("nil warn: %v", err)
	}
}

// A key command that hangs, or leaves a child holding its output, is
// stopped at its timeout (here a short one; render's is keyCommandTimeout)
// with a hint, and what it printed is not shown.
func TestKeyCommandHangs(t *testing.T) {
	secret := newAgeKey(t).String()
	keyFile := writeFile(t, filepath.Join(t.TempDir(), "key.txt"), []byte(secret+"\n"))
	for _, command := range []string{
		"sleep 30",
		"sh -c 'cat " + keyFile + "; exec sleep 30'",
		"sh -c 'cat " + keyFile + "; sleep 30 & wait'",
	} {
		start := time.Now()
		_, err := runKeyCommand(envAgeKeyCmd, command, 300*time.Millisecond)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: took %s", command, took)
		}
		if err == nil || !strings.Contains(err.Error(), "did not finish within 300ms; it was stopped") ||
			!strings.Contains(strings.Join(hintsOf(err), " "), "hardware key") {
			t.Errorf("%s: err = %v, hints %q", command, err, hintsOf(err))
		} else if strings.Contains(err.Error(), secret[16:40]) {
			t.Errorf("%s: the error shows the key", command)
		}
	}
}
