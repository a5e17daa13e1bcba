package crypt

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// ErrHiddenRecipient is the Kind of MissingRecipients' error for a key that
// the file cannot show: an .age file's X25519 stanzas do not say which key
// they are for.
var ErrHiddenRecipient = errors.New("recipient not visible without a key")

// MissingRecipients returns those of want that the store at path is not
// encrypted to, judged from what the file shows without a key, so that a
// build can check a fleet's store before it is deployed:
//
//   - a sops file names its age recipients in its metadata. An ssh-ed25519
//     key matches its ssh-to-age conversion (what sops-nix and render
//     decrypt with) or itself (an ssh recipient that sops wrote).
//   - an .age file's ssh-ed25519 stanzas carry a tag, the first 4 bytes of
//     the SHA-256 of the key they are for, as age defines it; a key matches
//     a stanza with its tag (a wrong match needs a 1 in 2^32 coincidence).
//     X25519 stanzas name no key, so an age1 recipient cannot be checked in
//     an .age file: that is an error of kind ErrHiddenRecipient.
//
// The metadata is not authenticated without the key: this catches a store
// that was not rekeyed for a host, not a forged one.
func MissingRecipients(path string, want []Recipient) ([]Recipient, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	var has func(Recipient) (bool, error)
	if format == FormatSOPS {
		m, err := LoadMeta(path)
		if err != nil {
			return nil, err
		}
		named := map[string]bool{}
		for _, r := range m.Recipients {
			// The recipient parser's canonical forms: age1 keys, and ssh
			// keys without their comment.
			if rec, _, _, err := parseRecipientLine(r, path); err == nil {
				named[rec.Age] = true
				if rec.SSH != "" {
					named[rec.SSH] = true
				}
			}
		}
		has = func(r Recipient) (bool, error) { return named[r.Age] || r.SSH != "" && named[r.SSH], nil }
	} else {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, readErr(path, err)
		}
		header, err := ageStanzas(data)
		if err != nil {
			return nil, ageErr(path, data, err)
		}
		tags := map[string]bool{}
		for _, st := range header {
			if st.typ == "ssh-ed25519" {
				tags[st.tag] = true
			}
		}
		has = func(r Recipient) (bool, error) {
			if r.SSH == "" {
				return false, fileErr(path, ErrHiddenRecipient,
					fmt.Sprintf("cannot tell whether it is encrypted to %s: the X25519 stanzas of an .age file do not name their key", r.Age),
					"check the host's ssh-ed25519 key instead (agenix encrypts to it, and its stanza names it)",
					"or keep the tokens in a sops store, whose metadata lists its age1 recipients")
			}
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r.SSH))
			if err != nil {
				return false, &keyError{msg: "invalid ssh public key", err: err}
			}
			return tags[sshTag(pk)], nil
		}
	}
	var missing []Recipient
	for _, r := range want {
		ok, err := has(r)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, r)
		}
	}
	return missing, nil
}
