package crypt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Recipient is one key a store is encrypted to.
type Recipient struct {
	// Age is the canonical age recipient, "age1..." (or a post-quantum
	// "age1pq1..."). For an ssh-ed25519 key it is the ssh-to-age conversion,
	// the only form sops-nix can decrypt.
	Age string
	// SSH is "ssh-ed25519 AAAA..." (without comment) when the recipient was
	// given as an ssh key, so an .age file can be encrypted the way agenix
	// does it; see AgenixRecipient.
	SSH string
	// Source says where the recipient came from, for diffs and messages,
	// e.g. "hosts.txt:3 (web1)" or ".sops.yaml creation rule 1".
	Source string
}

// AgeRecipient returns r as sops and sops-nix use it: the X25519 (or hybrid)
// key in Age, converted when it came from an ssh-ed25519 key.
func (r Recipient) AgeRecipient() (age.Recipient, error) {
	_, rcp, err := canonicalAgeRecipient(r.Age)
	return rcp, err
}

// AgenixRecipient returns r as agenix and the age CLI encrypt to it: an
// ssh-ed25519 key stays an ssh recipient (an "ssh-ed25519" stanza), because
// agenix hosts decrypt with `age -i /etc/ssh/ssh_host_ed25519_key`, which
// opens only ssh stanzas, never the converted X25519 one. Other recipients
// are returned as by AgeRecipient.
func (r Recipient) AgenixRecipient() (age.Recipient, error) {
	if r.SSH != "" {
		return agessh.ParseRecipient(r.SSH)
	}
	return r.AgeRecipient()
}

// canonicalAgeRecipient accepts what sops and age accept natively: X25519
// recipients and post-quantum hybrid ones. It returns the canonical string.
func canonicalAgeRecipient(s string) (string, age.Recipient, error) {
	if strings.HasPrefix(s, "age1pq1") {
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return "", nil, err
		}
		return r.String(), r, nil
	}
	// bech32's alphabet has no '1', so a second one means a plugin's HRP.
	if strings.Count(s, "1") > 1 {
		return "", nil, errors.New("age plugin recipients are not supported: the hosts that render tokens cannot run plugins")
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return "", nil, err
	}
	return r.String(), r, nil
}

// isSSHKeyType reports whether f names an OpenSSH public key algorithm, the
// field that starts a key in authorized_keys, known_hosts and ssh-keyscan
// output. The match is exact so that a host called "ssh-gw" is a host.
func isSSHKeyType(f string) bool {
	switch strings.TrimSuffix(f, "-cert-v01@openssh.com") {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoRSA, ssh.KeyAlgoDSA,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return true
	}
	return false
}

// ParseRecipients reads recipients from data, one per line: "age1..." keys,
// authorized_keys lines ("ssh-ed25519 AAAA... comment"), and ssh-keyscan or
// known_hosts lines ("host ssh-ed25519 AAAA..."). Blank lines and "#"
// comments are skipped. ssh-ed25519 keys are converted as ssh-to-age does.
// Other ssh key types cannot become age recipients and are refused with an
// error naming source and line, except that in ssh-keyscan output a host's
// other key types are ignored when the same host also has an ed25519 key
// (plain `ssh-keyscan HOST` prints all of them). Duplicates are dropped;
// the first occurrence is kept.
func ParseRecipients(data []byte, source string) ([]Recipient, error) {
	var out []Recipient
	// Hosts in ssh-keyscan output whose only keys, so far, are unusable.
	type refusal struct {
		where, typ string
	}
	refusedHosts := map[string]refusal{}
	var refusedOrder []string
	ed25519Hosts := map[string]bool{}

	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", source, i+1)
		r, host, refusedType, err := parseRecipientLine(line, where)
		if err != nil {
			return nil, err
		}
		if refusedType != "" {
			if _, ok := refusedHosts[host]; !ok {
				refusedHosts[host] = refusal{where, refusedType}
				refusedOrder = append(refusedOrder, host)
			}
			continue
		}
		if host != "" {
			ed25519Hosts[host] = true
		}
		out = append(out, r)
	}
	for _, host := range refusedOrder {
		if ed25519Hosts[host] {
			continue
		}
		r := refusedHosts[host]
		return nil, &keyError{
			msg:   fmt.Sprintf("%s: %s key of %s refused: only ssh-ed25519 keys can become age recipients, and %s has none in %s", r.where, r.typ, host, host, source),
			hints: ed25519Hints,
		}
	}
	return dedupeRecipients(out), nil
}

// parseRecipientLine parses one non-comment line; where ("file:line") starts
// its errors. A non-ed25519 key after a host name (ssh-keyscan output) is not
// an error here: it is returned as refusedType for the caller to judge.
func parseRecipientLine(line, where string) (r Recipient, host, refusedType string, err error) {
	fields := strings.Fields(line)
	if strings.HasPrefix(fields[0], "@") {
		// @cert-authority and @revoked keys are not host keys.
		return r, "", "", &keyError{msg: where + ": known_hosts marker lines (" + fields[0] + ") cannot be recipients",
			hints: []string{"give the host's own key, as `ssh-keyscan -t ed25519 HOST` prints it"}}
	}
	if strings.HasPrefix(fields[0], "age1") {
		if len(fields) != 1 {
			return r, "", "", &keyError{msg: where + ": unexpected text after the age recipient",
				hints: []string{"put one recipient per line; comments go on their own line, starting with #"}}
		}
		canon, _, err := canonicalAgeRecipient(fields[0])
		if err != nil {
			return r, "", "", &keyError{msg: where + ": invalid age recipient", err: err,
				hints: []string{"an age recipient looks like age1 followed by 58 letters and digits, as `age-keygen -y` prints it"}}
		}
		return Recipient{Age: canon, Source: where}, "", "", nil
	}

	idx := -1
	for j, f := range fields {
		if isSSHKeyType(f) {
			idx = j
			break
		}
	}
	if idx < 0 || idx+1 >= len(fields) {
		return r, "", "", &keyError{msg: where + ": not an age recipient or ssh public key",
			hints: []string{"expected age1..., `ssh-ed25519 AAAA... comment`, or ssh-keyscan output (`host ssh-ed25519 AAAA...`)"}}
	}
	host = strings.Join(fields[:idx], " ")
	label := host
	if label == "" {
		label = strings.Join(fields[idx+2:], " ")
	}
	key := fields[idx] + " " + fields[idx+1]
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key))
	if err != nil {
		return r, "", "", &keyError{msg: where + ": invalid ssh public key", err: err}
	}
	if pk.Type() != ssh.KeyAlgoED25519 {
		if host == "" {
			return r, "", "", &keyError{msg: fmt.Sprintf("%s: %s key refused: only ssh-ed25519 keys can become age recipients", where, pk.Type()),
				hints: ed25519Hints}
		}
		return r, host, pk.Type(), nil
	}
	ageKey, err := sshPublicKeyToAge(pk)
	if err != nil {
		return r, "", "", &keyError{msg: where + ": cannot convert the ssh-ed25519 key", err: err}
	}
	src := where
	if label != "" {
		src += " (" + label + ")"
	}
	return Recipient{Age: ageKey, SSH: key, Source: src}, host, "", nil
}

// recipientList parses recipients given one per list element, as .sops.yaml
// and secrets.nix hold them; source names the list in messages.
func recipientList(keys []string, source string) ([]Recipient, error) {
	var out []Recipient
	for i, k := range keys {
		k = strings.TrimSpace(k)
		where := fmt.Sprintf("%s: key %d", source, i+1)
		if k == "" {
			return nil, &keyError{msg: where + ": empty key"}
		}
		r, _, refusedType, err := parseRecipientLine(k, where)
		if err == nil && refusedType != "" {
			err = &keyError{msg: fmt.Sprintf("%s: %s key refused: only ssh-ed25519 keys can become age recipients", where, refusedType),
				hints: ed25519Hints}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return dedupeRecipients(out), nil
}

// ResolveRecipientFlags resolves --recipient flags. Each is an "age1..." key,
// an "ssh-ed25519 AAAA..." key, or the path of a file of them in any form
// ParseRecipients reads. Duplicates across flags are dropped.
func ResolveRecipientFlags(flags []string) ([]Recipient, error) {
	var out []Recipient
	for _, f := range flags {
		f = strings.TrimSpace(f)
		var rs []Recipient
		var err error
		switch {
		case f == "":
			return nil, &keyError{msg: "empty --recipient",
				hints: []string{"give an age1... key, an ssh-ed25519 key, or a file of them"}}
		case looksLikeKey(f):
			rs, err = ParseRecipients([]byte(f), "--recipient")
		default:
			data, rerr := os.ReadFile(f)
			if errors.Is(rerr, fs.ErrNotExist) {
				return nil, &keyError{msg: fmt.Sprintf("--recipient %s: not an age1 key, an ssh-ed25519 key, or an existing file", f),
					hints: []string{"give an age1... key, `ssh-ed25519 AAAA...` (quoted), or the path of a file of them, one per line (ssh-keyscan output works)"}}
			}
			if rerr != nil {
				return nil, &keyError{msg: "cannot read recipients file", err: rerr}
			}
			rs, err = ParseRecipients(data, f)
			if err == nil && len(rs) == 0 {
				return nil, &keyError{msg: fmt.Sprintf("%s: no recipients in the file", f),
					hints: []string{"put one age1... or ssh-ed25519 key per line"}}
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return dedupeRecipients(out), nil
}

// looksLikeKey tells a --recipient key from a file path: "ssh-ed25519
// AAAA..." has a key type and key data, and an age1 key is taken as a path
// only when such a file exists.
func looksLikeKey(f string) bool {
	if fields := strings.Fields(f); len(fields) >= 2 && isSSHKeyType(fields[0]) {
		return true
	}
	if strings.HasPrefix(f, "age1") {
		_, err := os.Stat(f)
		return err != nil
	}
	return false
}

// dedupeRecipients keeps the first of each Age key, preferring to remember
// an ssh form if any duplicate had one.
func dedupeRecipients(rs []Recipient) []Recipient {
	var out []Recipient
	seen := map[string]int{}
	for _, r := range rs {
		if i, ok := seen[r.Age]; ok {
			if out[i].SSH == "" {
				out[i].SSH = r.SSH
			}
			continue
		}
		seen[r.Age] = len(out)
		out = append(out, r)
	}
	return out
}
