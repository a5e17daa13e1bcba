package render

// Plain inputs: files that sops-nix or agenix already decrypted. sops-nix
// deploys what `sops -d` prints (the YAML or JSON tree of our schema);
// agenix deploys the .age store's plaintext as it is, a nix.conf fragment
// whose comment lines carry nix-auth's metadata:
//
//	# nix-auth: host=github.com provider=github user=octocat expires=2026-12-24T21:00:00Z
//	access-tokens = github.com=ghp_...
//
// The fragment is read by crypt.ParseFragment (nixconf's parser, Nix's
// rules); the tree here, with crypt's rule for token values (TokenValue).
// The format notes in crypt/sopsfile.go and crypt/agefile.go are the
// reference, and the round-trip tests feed this code files that crypt and
// the real sops wrote.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nix-auth/nix-auth/crypt"
)

// maxPlainSize bounds a plain input: a token file is a few KiB even for a
// large fleet, and activation must not read a stray huge file into memory.
const maxPlainSize = 4 << 20

// loadPlain reads a decrypted file: the access-tokens fragment when it has
// an access-tokens line, else the sops tree. warn gets lines it leaves out.
func loadPlain(path string, warn func(string)) ([]crypt.Entry, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if fi.Size() > maxPlainSize {
		return nil, &Error{msg: fmt.Sprintf("%s is %d bytes: too large to be a decrypted token file", path, fi.Size()),
			hints: []string{"--plain takes the file sops-nix or agenix decrypted (the token store's plaintext)"}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if isFragment(data) {
		return parseFragment(path, data, warn)
	}
	return parseTree(path, data)
}

// isFragment reports whether data has an access-tokens or
// extra-access-tokens setting line, which YAML and JSON never have. It only
// tells the formats apart, loosely (`access-tokens=x` counts), so that a
// fragment Nix would refuse gets nixconf's error, not a YAML one.
func isFragment(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		if name, ok := settingName(sc.Text()); ok && (name == SettingReplace || name == SettingMerge) {
			return true
		}
	}
	return false
}

// settingName is the name of a "name = value" line, comments cut off.
func settingName(line string) (string, bool) {
	setting, _, _ := strings.Cut(line, "#")
	name, _, ok := strings.Cut(setting, "=")
	return strings.TrimSpace(name), ok
}

// parseFragment reads the fragment with crypt's parser for the .age
// store's plaintext (Nix's rules: access-tokens assigns, the first value
// for a host wins, extra-access-tokens adds). Other settings are left out
// with a warning that names only the setting: render writes tokens only.
func parseFragment(path string, data []byte, warn func(string)) ([]crypt.Entry, error) {
	es, other, err := crypt.ParseFragment(path, data)
	if err != nil {
		return nil, err
	}
	for _, line := range other {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, _ := settingName(line)
		warn(fmt.Sprintf("%s: a %q line is not an access-tokens setting; left out (render writes tokens only)", path, name))
	}
	return es, nil
}

// parseTree reads what `sops -d` prints for our schema: a mapping with
// "hosts", each host a mapping with token and optional metadata. JSON is
// YAML too, so one parser reads both; the node tree keeps file order.
func parseTree(path string, data []byte) ([]crypt.Entry, error) {
	notOurs := []string{
		"--plain takes what `sops -d` prints for a nix-auth store (hosts: HOST: token: ...), or the access-tokens line agenix deploys",
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{msg: fmt.Sprintf("%s is neither an access-tokens line nor a YAML/JSON token tree: %v", path, err), hints: notOurs}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{msg: path + " has no access-tokens line and no hosts: mapping", hints: notOurs}
	}
	top := doc.Content[0]
	if value(top, "sops") != nil {
		return nil, &Error{msg: path + " is still sops-encrypted",
			hints: []string{"render it as a store: `nix-auth render " + path + " --identity KEY`; --plain is for the file sops-nix decrypted"}}
	}
	hosts := value(top, "hosts")
	if hosts == nil || hosts.Kind != yaml.MappingNode {
		return nil, &Error{msg: path + " has no access-tokens line and no hosts: mapping", hints: notOurs}
	}
	fix := []string{"fix the store with `sops edit FILE` and let sops-nix deploy it again"}
	var es []crypt.Entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(hosts.Content); i += 2 {
		host, fields := hosts.Content[i].Value, hosts.Content[i+1]
		if seen[host] {
			return nil, &Error{msg: fmt.Sprintf("%s: hosts: %s appears twice", path, host), hints: fix}
		}
		seen[host] = true
		if fields.Kind != yaml.MappingNode {
			return nil, &Error{msg: fmt.Sprintf("%s: hosts: %s is not a mapping of token, provider, user, ...", path, host), hints: fix}
		}
		e := crypt.Entry{Host: host}
		for j := 0; j+1 < len(fields.Content); j += 2 {
			name, v := fields.Content[j].Value, fields.Content[j+1]
			if v.Kind != yaml.ScalarNode {
				continue
			}
			switch name {
			case "token", "refresh_token":
				// crypt's rule for a token value: a string, never a
				// number YAML read from unquoted digits.
				var raw any
				if err := v.Decode(&raw); err != nil {
					return nil, &Error{msg: fmt.Sprintf("%s: hosts: %s: %s is not a scalar YAML can read", path, host, name), hints: fix}
				}
				tok, err := crypt.TokenValue(raw)
				if err != nil {
					return nil, &Error{msg: fmt.Sprintf("%s: hosts: %s: %s %v", path, host, name, err), hints: fix}
				}
				if name == "token" {
					e.Token = tok
				} else {
					e.RefreshToken = tok
				}
			case "provider":
				e.Provider = v.Value
			case "user":
				e.User = v.Value
			case "use":
				// Checked with the rest of the entry (crypt.CheckNetrc).
				e.Use = crypt.Use(v.Value)
			case "login":
				e.Login = v.Value
			case "expires":
				t, err := time.Parse(time.RFC3339, v.Value)
				if err != nil {
					return nil, &Error{msg: fmt.Sprintf("%s: hosts: %s: expires is not an RFC 3339 time", path, host), hints: fix}
				}
				e.Expires = t
			}
		}
		if strings.HasPrefix(e.Token, "ENC[") {
			return nil, &Error{msg: fmt.Sprintf("%s: hosts: %s: the token is still sops-encrypted", path, host),
				hints: []string{"render the encrypted file as a store: `nix-auth render FILE --identity KEY`"}}
		}
		es = append(es, e)
	}
	return es, nil
}

// value is the value node of key in a mapping node, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
