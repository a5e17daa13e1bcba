package crypt

// The ssh-to-age conversion, the one sops-nix runs at activation
// (github.com/Mic92/ssh-to-age, which is not on the module proxy): an
// ssh-ed25519 public key becomes the X25519 recipient on the birationally
// equivalent Montgomery curve, and the private key becomes the X25519 scalar
// that Ed25519 itself derives from the seed. A file encrypted to the converted
// recipient therefore opens with the host's ssh key once converted, which is
// all sops-nix can do.

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/edwards25519"
	"golang.org/x/crypto/ssh"
)

// hints shared by every refusal of a non-ed25519 key.
var ed25519Hints = []string{
	"age and sops-nix can use only ssh-ed25519 host keys: take the host's ed25519 key, e.g. `ssh-keyscan -t ed25519 HOST` or /etc/ssh/ssh_host_ed25519_key.pub on the host",
	"or give the host's age key (age1...) directly",
}

// sshPublicKeyToAge converts a parsed ssh-ed25519 key into the age
// recipient "age1..." that ssh-to-age prints for it. Other key types are
// refused, as ssh-to-age does.
func sshPublicKeyToAge(pk ssh.PublicKey) (string, error) {
	if pk.Type() != ssh.KeyAlgoED25519 {
		return "", &keyError{msg: fmt.Sprintf("%s key refused: only ssh-ed25519 keys can become age recipients", pk.Type()),
			hints: ed25519Hints}
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return "", errors.New("ssh-ed25519 key without a public key")
	}
	edpk, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return "", errors.New("ssh-ed25519 key is not an Ed25519 key")
	}
	return ed25519ToAgeRecipient(edpk)
}

func ed25519ToAgeRecipient(pk ed25519.PublicKey) (string, error) {
	p, err := new(edwards25519.Point).SetBytes(pk)
	if err != nil {
		return "", fmt.Errorf("invalid ssh-ed25519 public key: %w", err)
	}
	return bech32Encode("age", p.BytesMontgomery())
}

// ed25519ToAgeIdentity derives the X25519 scalar as Ed25519 does (RFC 8032
// 5.1.5: the low half of SHA-512(seed)) and encodes it as age does: the
// identity "AGE-SECRET-KEY-1..." that `ssh-to-age -private-key` prints. The
// scalar is left unclamped, as ssh-to-age (and age's agessh) leave it: X25519
// clamps on use, so the key works either way, but only this spelling is
// byte-exact with the reference.
func ed25519ToAgeIdentity(key ed25519.PrivateKey) (string, error) {
	h := sha512.Sum512(key.Seed())
	id, err := bech32Encode("AGE-SECRET-KEY-", h[:32])
	clear(h[:])
	return id, err
}

// convertedIdentity is the X25519 identity of an ssh ed25519 private key.
func convertedIdentity(key ed25519.PrivateKey) (*age.X25519Identity, error) {
	s, err := ed25519ToAgeIdentity(key)
	if err != nil {
		return nil, err
	}
	return age.ParseX25519Identity(s)
}

// parseSSHEd25519PrivateKey parses an OpenSSH (or PKCS#8) private key and
// insists on ed25519. Errors never include key material.
func parseSSHEd25519PrivateKey(priv, passphrase []byte) (ed25519.PrivateKey, error) {
	k, err := ssh.ParseRawPrivateKey(priv)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(passphrase) == 0 {
			return nil, &keyError{msg: "the ssh private key needs a passphrase", err: ErrPassphrase,
				hints: []string{"give the passphrase, or use a key without one (a host key such as /etc/ssh/ssh_host_ed25519_key, or an age key in SOPS_AGE_KEY)"}}
		}
		k, err = ssh.ParseRawPrivateKeyWithPassphrase(priv, passphrase)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, &keyError{msg: "wrong passphrase for the ssh private key", err: ErrPassphrase}
		}
	}
	if err != nil {
		return nil, &keyError{msg: "not an OpenSSH private key", err: err}
	}
	switch k := k.(type) {
	case *ed25519.PrivateKey:
		return *k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	t := strings.TrimPrefix(fmt.Sprintf("%T", k), "*")
	return nil, &keyError{msg: fmt.Sprintf("%s private key refused: only ssh-ed25519 keys can become age identities", t),
		hints: ed25519Hints}
}
