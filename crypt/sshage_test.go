package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// keysDir is absolute because some tests change directory, as sops and
// agenix lookups depend on it.
var keysDir = func() string {
	p, err := filepath.Abs(filepath.Join("..", "testdata", "crypt", "keys"))
	if err != nil {
		panic(err)
	}
	return p
}()

func readKey(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(keysDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vector is one ssh-to-age reference conversion.
type vector struct {
	name       string
	passphrase string
}

var vectors = []vector{{"host1", ""}, {"host2", ""}, {"host3", ""}, {"pass1", "hunter2"}}

// TestSSHToAgeVectors proves byte-exact agreement with the reference
// converter's output for every vector, public and private.
func TestSSHToAgeVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			wantRecip := strings.TrimSpace(string(readKey(t, v.name+".age-recipient")))
			wantID := strings.TrimSpace(string(readKey(t, v.name+".age-identity")))

			got, err := sshToAgeRecipient(readKey(t, v.name+".pub"))
			if err != nil {
				t.Fatal(err)
			}
			if got != wantRecip {
				t.Errorf("recipient = %s, want %s", got, wantRecip)
			}

			id, err := sshToAgeIdentity(readKey(t, v.name), []byte(v.passphrase))
			if err != nil {
				t.Fatal(err)
			}
			if id != wantID {
				// Never print the identity itself.
				t.Errorf("identity differs from %s.age-identity", v.name)
			}

			// The converted identity must be the private half of the
			// converted recipient, as age itself computes it.
			parsed, err := age.ParseX25519Identity(id)
			if err != nil {
				t.Fatal(err)
			}
			if r := parsed.Recipient().String(); r != wantRecip {
				t.Errorf("identity's recipient = %s, want %s", r, wantRecip)
			}
		})
	}
}

func TestSSHToAgeRefusesRSA(t *testing.T) {
	_, err := sshToAgeRecipient(readKey(t, "rsa1.pub"))
	if err == nil {
		t.Fatal("ssh-rsa key accepted")
	}
	if !strings.Contains(err.Error(), "only ssh-ed25519 keys can become age recipients") {
		t.Errorf("error = %q", err)
	}
	if h := hintsOf(err); len(h) == 0 || !strings.Contains(strings.Join(h, "\n"), "ed25519") {
		t.Errorf("hints = %q, want advice to use the ed25519 key", h)
	}
}

func TestSSHToAgeIdentityPassphrase(t *testing.T) {
	pem := readKey(t, "pass1")
	want := strings.TrimSpace(string(readKey(t, "pass1.age-identity")))
	for _, tc := range []struct {
		name, pass string
		wantErr    bool
	}{
		{"right", "hunter2", false},
		{"wrong", "hunter3", true},
		{"none", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := sshToAgeIdentity(pem, []byte(tc.pass))
			if tc.wantErr {
				if !errors.Is(err, ErrPassphrase) {
					t.Fatalf("err = %v, want ErrPassphrase", err)
				}
				if strings.Contains(err.Error(), "hunter") {
					t.Error("error mentions the passphrase")
				}
				return
			}
			if err != nil || id != want {
				t.Fatalf("conversion failed or differs: %v", err)
			}
		})
	}
	// A passphrase given for an unprotected key is ignored, as ssh-to-age does.
	if _, err := sshToAgeIdentity(readKey(t, "host1"), []byte("unused")); err != nil {
		t.Errorf("unprotected key with passphrase: %v", err)
	}
}

func TestSSHToAgeRejectsGarbage(t *testing.T) {
	if _, err := sshToAgeRecipient([]byte("not a key")); err == nil {
		t.Error("garbage public key accepted")
	}
	if _, err := sshToAgeIdentity([]byte("not a key"), nil); err == nil {
		t.Error("garbage private key accepted")
	}
	if _, err := sshToAgeIdentity(readKey(t, "host1.pub"), nil); err == nil {
		t.Error("public key accepted as private key")
	}
}

func encryptTo(t *testing.T, plaintext string, recips ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recips...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decryptWith(ciphertext []byte, ids ...age.Identity) (string, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), ids...)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// TestConvertedAndAgesshInterop shows the two ways an ssh-ed25519 key is used
// with age and why our recipients for sops are the converted ones: a file
// encrypted to the converted recipient opens with the converted identity
// (sops-nix) but not with the ssh identity (agenix, `age -i key`), and a file
// encrypted to the ssh key directly (agessh stanza) opens with the ssh
// identity but not with the converted one. LoadIdentities adds both.
func TestConvertedAndAgesshInterop(t *testing.T) {
	pem := readKey(t, "host1")
	pub := readKey(t, "host1.pub")

	recipStr, err := sshToAgeRecipient(pub)
	if err != nil {
		t.Fatal(err)
	}
	converted, err := age.ParseX25519Recipient(recipStr)
	if err != nil {
		t.Fatal(err)
	}
	idStr, err := sshToAgeIdentity(pem, nil)
	if err != nil {
		t.Fatal(err)
	}
	convertedID, err := age.ParseX25519Identity(idStr)
	if err != nil {
		t.Fatal(err)
	}
	sshRecip, err := agessh.ParseRecipient(strings.TrimSpace(string(pub)))
	if err != nil {
		t.Fatal(err)
	}
	sshID, err := agessh.ParseIdentity(pem)
	if err != nil {
		t.Fatal(err)
	}

	toConverted := encryptTo(t, "via X25519", converted)
	if got, err := decryptWith(toConverted, convertedID); err != nil || got != "via X25519" {
		t.Errorf("converted identity: %q, %v", got, err)
	}
	if _, err := decryptWith(toConverted, sshID); err == nil {
		t.Error("agessh identity opened an X25519 stanza: the stanza difference this package relies on is gone")
	}

	toSSH := encryptTo(t, "via ssh", sshRecip)
	if got, err := decryptWith(toSSH, sshID); err != nil || got != "via ssh" {
		t.Errorf("agessh identity: %q, %v", got, err)
	}
	if _, err := decryptWith(toSSH, convertedID); err == nil {
		t.Error("converted identity opened an ssh-ed25519 stanza")
	}
}

// sshToAgeRecipient converts a public key the way recipients are read
// (ParseRecipients), so the vectors prove that path.
func sshToAgeRecipient(pub []byte) (string, error) {
	rs, err := ParseRecipients(pub, "test")
	if err != nil {
		return "", err
	}
	if len(rs) != 1 {
		return "", fmt.Errorf("%d recipients in one key", len(rs))
	}
	return rs[0].Age, nil
}

// sshToAgeIdentity converts a private key with the pieces identities are
// loaded with (convertedIdentity), as a string: a secret.
func sshToAgeIdentity(priv, passphrase []byte) (string, error) {
	key, err := parseSSHEd25519PrivateKey(priv, passphrase)
	if err != nil {
		return "", err
	}
	return ed25519ToAgeIdentity(key)
}
