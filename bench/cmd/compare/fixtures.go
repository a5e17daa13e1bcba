package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// fleetHost is one token in a fixture store.
type fleetHost struct{ host, provider, user, token string }

// fleet returns n hosts spread over the forges, with tokens shaped like
// real ones (GitLab's with the PAT: prefix Nix needs).
func fleet(n int) []fleetHost {
	out := make([]fleetHost, n)
	for i := range out {
		switch i % 4 {
		case 0:
			out[i] = fleetHost{fmt.Sprintf("github.com/org%03d", i), "github", fmt.Sprintf("user%03d", i), fmt.Sprintf("ghp_%036d", i)}
		case 1:
			out[i] = fleetHost{fmt.Sprintf("gitlab%03d.example.com", i), "gitlab", fmt.Sprintf("user%03d", i), fmt.Sprintf("PAT:glpat-%020d", i)}
		case 2:
			out[i] = fleetHost{fmt.Sprintf("codeberg.org/org%03d", i), "forgejo", fmt.Sprintf("user%03d", i), fmt.Sprintf("%040x", i)}
		default:
			out[i] = fleetHost{fmt.Sprintf("git%03d.example.com", i), "gitea", fmt.Sprintf("user%03d", i), fmt.Sprintf("%040x", i*7919)}
		}
	}
	return out
}

// sopsPlaintext is the fleet in nix-auth's sops schema (crypt/sopsfile.go),
// before encryption.
func sopsPlaintext(hosts []fleetHost) []byte {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "    %s:\n        token: %q\n        provider: %s\n        user: %s\n        created: \"2026-11-01T12:00:00Z\"\n",
			h.host, h.token, h.provider, h.user)
	}
	return []byte(b.String())
}

// accessTokensLine is the fleet as the Nix setting an .age store holds.
func accessTokensLine(hosts []fleetHost) []byte {
	var b strings.Builder
	b.WriteString("access-tokens =")
	for _, h := range hosts {
		b.WriteString(" " + h.host + "=" + h.token)
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// newIdentity writes a fresh age identity to path as age-keygen does.
func newIdentity(path string) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	body := fmt.Sprintf("# public key: %s\n%s\n", id.Recipient(), id)
	return id, os.WriteFile(path, []byte(body), 0o600)
}

// writeSopsConfig writes a .sops.yaml whose one rule encrypts the token
// fields, as nix-auth does, to recips.
func writeSopsConfig(dir string, recips []string) error {
	body := "creation_rules:\n  - encrypted_regex: ^(token|refresh_token)$\n    age: >-\n      " +
		strings.Join(recips, ",") + "\n"
	return os.WriteFile(filepath.Join(dir, ".sops.yaml"), []byte(body), 0o644)
}

// sopsEncrypt turns the plaintext file at path into a sops file in place
// with the real CLI, under the .sops.yaml in dir.
func sopsEncrypt(sopsBin, dir, path string) error {
	c := exec.Command(sopsBin, "encrypt", "--in-place", path)
	c.Dir, c.Env = dir, env(dir)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("sops encrypt %s: %v\n%s", path, err, out)
	}
	return nil
}

// writeAgeFile encrypts plaintext to r, armored, as agenix expects.
func writeAgeFile(path string, plaintext []byte, r age.Recipient) error {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return err
	}
	if _, err := w.Write(plaintext); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}
