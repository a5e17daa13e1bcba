package crypt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/plugin"
	"filippo.io/age/tag"
	"golang.org/x/crypto/ssh"

	"github.com/nix-auth/nix-auth/internal/termsafe"
)

// Recipient is one key a store is encrypted to, and where it was declared.
// Every Recipient nix-auth encrypts to went through one parser
// (parseRecipientLine): ParseRecipients, ResolveRecipientFlags and the
// .sops.yaml and secrets.nix readers make them, and Create, SetRecipients,
// Declare and Rekey parse a caller's again, so a literal such as
// Recipient{Age: "age1..."} is checked the same way.
type Recipient struct {
	// Age is the canonical age recipient, "age1..." (or a post-quantum
	// "age1pq1...", a hardware key's tag recipient "age1tag1...", or an age
	// plugin's "age1NAME1...", such as "age1yubikey1..."). For an
	// ssh-ed25519 key it is the ssh-to-age conversion, the only form
	// sops-nix can decrypt.
	Age string
	// SSH is "ssh-ed25519 AAAA..." (without comment) when the recipient was
	// given as an ssh key, so an .age file can be encrypted the way agenix
	// does it; see AgenixRecipient.
	SSH string
	// Source says where the recipient was declared, for diffs and messages:
	// "keys/hosts.txt:3 (web1)", ".sops.yaml:7 (&web1)", "--recipient". It is
	// safe to print: labels taken from files are sanitised.
	Source string
}

// Key is the recipient as a store of format f encrypts to it: the ssh key
// itself in an .age file (see AgenixRecipient), the age1 key in a sops file.
func (r Recipient) Key(f Format) string {
	if f == FormatAge && r.SSH != "" {
		return r.SSH
	}
	return r.Age
}

// AgeRecipient returns r as sops and sops-nix use it: the X25519 (or hybrid)
// key in Age, converted when it came from an ssh-ed25519 key. A plugin
// recipient runs its plugin (age-plugin-NAME on PATH) when it wraps a key,
// talking to the user through ui (nil: no interaction).
func (r Recipient) AgeRecipient(ui *plugin.ClientUI) (age.Recipient, error) {
	_, rcp, err := canonicalAgeRecipient(r.Age, ui)
	return rcp, err
}

// AgenixRecipient returns r as agenix and the age CLI encrypt to it: an
// ssh-ed25519 key stays an ssh recipient (an "ssh-ed25519" stanza), because
// agenix hosts decrypt with `age -i /etc/ssh/ssh_host_ed25519_key`, which
// opens only ssh stanzas, never the converted X25519 one. Other recipients
// are returned as by AgeRecipient.
func (r Recipient) AgenixRecipient(ui *plugin.ClientUI) (age.Recipient, error) {
	if r.SSH != "" {
		return agessh.ParseRecipient(r.SSH)
	}
	return r.AgeRecipient(ui)
}

func (r Recipient) encrypter(f Format, ui *plugin.ClientUI) (age.Recipient, error) {
	if f == FormatAge {
		return r.AgenixRecipient(ui)
	}
	return r.AgeRecipient(ui)
}

// canonicalAgeRecipient accepts what the age CLI accepts, as its
// cmd/age/parse.go does: X25519 and post-quantum hybrid recipients, the
// tag recipients of hardware keys (age1tag1..., age1tagpq1...), and
// plugin recipients (age1NAME1..., the name being a second bech32 '1'
// away: its alphabet has none), which only name the plugin here: it runs
// when a key is wrapped. It returns the canonical string.
func canonicalAgeRecipient(s string, ui *plugin.ClientUI) (string, age.Recipient, error) {
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return "", nil, err
		}
		return r.String(), r, nil
	case strings.HasPrefix(s, "age1tag1"), strings.HasPrefix(s, "age1tagpq1"):
		r, err := tag.ParseRecipient(s)
		if err != nil {
			return "", nil, err
		}
		return r.String(), r, nil
	case strings.Count(s, "1") > 1:
		canon := strings.ToLower(s)
		if _, _, err := plugin.ParseRecipient(canon); err != nil {
			return "", nil, err
		}
		r, err := plugin.NewRecipient(canon, pluginUI(ui))
		if err != nil {
			return "", nil, err
		}
		return canon, r, nil
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return "", nil, err
	}
	// age takes only the lower-case spelling ("age1..." with a checksum
	// and zero padding checked): s is r.String(), without the encoding a
	// thousand recipients would pay again.
	return s, r, nil
}

// pluginUI is ui, or for nil one that cannot interact: a plugin asking
// for a PIN or a confirmation is told it failed, and its messages are
// dropped.
func pluginUI(ui *plugin.ClientUI) *plugin.ClientUI {
	if ui == nil {
		return &plugin.ClientUI{}
	}
	return ui
}

// runsPlugin tells whether wrapping a key for the canonical age recipient
// ageKey runs an age plugin: a plugin recipient's does, a tag
// recipient's (age1tag1..., age1tagpq1...) is wrapped natively.
func runsPlugin(ageKey string) bool {
	return strings.Count(ageKey, "1") > 1 && !strings.HasPrefix(ageKey, "age1tag1") && !strings.HasPrefix(ageKey, "age1tagpq1")
}

// stanzaType is the type of the stanza an age file has for a recipient
// whose stanza does not say whose it is (X25519, hybrid), or "" for one
// whose type only its plugin knows (a plugin's, a tag recipient's).
func stanzaType(ageKey string) string {
	switch {
	case strings.HasPrefix(ageKey, "age1pq1"):
		return "mlkem768x25519"
	case strings.Count(ageKey, "1") > 1:
		return ""
	}
	return "X25519"
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
// the first occurrence is kept. Each recipient's Source is "source:line",
// with the host or key comment after it.
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
			msg:   fmt.Sprintf("%s: %s key of %s refused: only ssh-ed25519 keys can become age recipients, and %s has none in %s", r.where, r.typ, safeLabel(host), safeLabel(host), source),
			hints: ed25519Hints,
		}
	}
	return dedupeRecipients(out), nil
}

// parseRecipientLine is nix-auth's one recipient parser, as age's
// cmd/age/parse.go is age's: every key, from a flag, a file, .sops.yaml or
// secrets.nix, goes through it. It parses one non-comment line; where
// ("file:line") starts its errors and the recipient's Source. A non-ed25519
// key after a host name (ssh-keyscan output) is not an error here: it is
// returned as refusedType for the caller to judge. Errors never quote the
// line: a file given by mistake could hold a secret.
func parseRecipientLine(line, where string) (r Recipient, host, refusedType string, err error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return r, "", "", &keyError{msg: where + ": empty recipient"}
	}
	switch {
	case strings.HasPrefix(fields[0], "@"):
		// @cert-authority and @revoked keys are not host keys.
		return r, "", "", &keyError{msg: where + ": known_hosts marker lines (" + safeLabel(fields[0]) + ") cannot be recipients",
			hints: []string{"give the host's own key, as `ssh-keyscan -t ed25519 HOST` prints it"}}
	case strings.HasPrefix(fields[0], "AGE-"):
		return r, "", "", &keyError{msg: where + ": this is an identity (a secret key), not a recipient",
			hints: []string{"give the public key, as `age-keygen -y KEYFILE` prints it, and keep the secret key out of the repository"}}
	case strings.HasPrefix(fields[0], "age1"):
		if len(fields) != 1 {
			return r, "", "", &keyError{msg: where + ": unexpected text after the age recipient",
				hints: []string{"put one recipient per line; comments go on their own line, starting with #"}}
		}
		canon, _, err := canonicalAgeRecipient(fields[0], nil)
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
	if label = safeLabel(label); label != "" {
		src += " (" + label + ")"
	}
	return Recipient{Age: ageKey, SSH: key, Source: src}, host, "", nil
}

// parseRecipient parses one key, as .sops.yaml, secrets.nix and --recipient
// give them: a host's other key types are refused here, since there is no
// ed25519 key beside them to use instead.
func parseRecipient(key, where string) (Recipient, error) {
	r, _, refusedType, err := parseRecipientLine(key, where)
	if err == nil && refusedType != "" {
		err = &keyError{msg: fmt.Sprintf("%s: %s key refused: only ssh-ed25519 keys can become age recipients", where, refusedType),
			hints: ed25519Hints}
	}
	return r, err
}

// recipientList parses the keys a configuration file declares, one per list
// element, as .sops.yaml and secrets.nix hold them. name says which part of
// file they come from ("rule for tokens.yaml", "\"tokens.age\""). Each
// Source is the line of file that spells the key out, "file:line", with
// the YAML anchor or Nix binding it is defined under ("(&web1)", "(web1)")
// or its ssh comment; a key that file does not spell out (it came from an
// imported file) gets "file: name".
func recipientList(keys []string, file, name string) ([]Recipient, error) {
	display := displayPath(file)
	text, _ := readBounded(file, maxRecipientsFile)
	decls := indexDeclarations(text)
	var out []Recipient
	for i, k := range keys {
		k = strings.TrimSpace(k)
		where := fmt.Sprintf("%s: %s key %d", display, name, i+1)
		if k == "" {
			return nil, &keyError{msg: where + ": empty key"}
		}
		if at := decls.line(k); at.line > 0 {
			where = fmt.Sprintf("%s:%d", display, at.line)
			if f := strings.Fields(k); at.name != "" && len(f) > 2 && isSSHKeyType(f[0]) {
				// The name replaces the ssh comment parseRecipientLine
				// would show: a declared name says more.
				k = f[0] + " " + f[1]
			}
			if at.name != "" {
				where += " (" + at.name + ")"
			}
		}
		r, err := parseRecipient(k, where)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return dedupeRecipients(out), nil
}

// declaration is where a configuration file spells a key out.
type declaration struct {
	line int
	name string
}

// declarations indexes a configuration file's lines by the words they
// spell out before any '#' comment, so that finding where each of a
// thousand keys is declared reads the file once instead of once per key.
type declarations struct {
	lines []string
	first map[string][2]int // word -> its first line and column
}

func indexDeclarations(text []byte) declarations {
	d := declarations{lines: strings.Split(string(text), "\n"), first: map[string][2]int{}}
	for i, line := range d.lines {
		if at := strings.IndexByte(line, '#'); at >= 0 {
			line = line[:at]
		}
		for start := 0; start < len(line); {
			end := start
			for end < len(line) && !notKeyChar(rune(line[end])) {
				end++
			}
			if w := line[start:end]; len(w) >= 16 {
				if _, ok := d.first[w]; !ok {
					d.first[w] = [2]int{i, start}
				}
			}
			start = end + 1
		}
	}
	return d
}

// notKeyChar: a key's distinctive part is bech32 (age1..., or
// AGE-SECRET-KEY-1... given by mistake) or base64 (an ssh key's blob);
// anything else separates words.
func notKeyChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '/' || r == '=' || r == '-' || r == '_')
}

// line finds the first line, outside a '#' comment, that holds key's
// distinctive part (the age1 string, or an ssh key's base64) as a word,
// and the name it is bound to there: a YAML anchor (&web1, as .sops.yaml
// files name their keys) or a Nix binding (web1 = "...";).
func (d declarations) line(key string) declaration {
	f := strings.Fields(key)
	needle, keyType := "", ""
	switch {
	case len(f) == 1:
		needle = f[0]
	case len(f) >= 2:
		needle, keyType = f[1], f[0]
	}
	at, ok := d.first[needle]
	if !ok {
		// Not a word of the file: the first line that holds it at all,
		// outside a comment (an error path, where speed does not matter).
		for i, line := range d.lines {
			j := strings.Index(line, needle)
			if len(needle) >= 16 && j >= 0 && !strings.Contains(line[:j], "#") {
				at, ok = [2]int{i, j}, true
				break
			}
		}
		if !ok {
			return declaration{}
		}
	}
	i, prefix := at[0], d.lines[at[0]][:at[1]]
	if keyType != "" {
		prefix = strings.TrimSuffix(strings.TrimRight(prefix, " \t"), keyType)
	}
	decl := declaration{line: i + 1}
	// A name is at most 64 characters: only the prefix's end can hold one,
	// and a long prefix (a .sops.yaml rule listing a thousand keys on one
	// line) would make the patterns' work grow with the square of the line.
	p, whole := strings.TrimSpace(prefix), true
	if len(p) > 80 {
		p, whole = p[len(p)-80:], false
	}
	// Each pattern needs its sign: most lines have neither, and a pattern
	// match costs far more than looking for one byte.
	var m []string
	if strings.Contains(p, "&") {
		m = yamlAnchor().FindStringSubmatch(p)
	}
	if m != nil {
		decl.name = "&" + m[1]
	} else if whole && strings.Contains(p, "=") {
		if m = nixBinding().FindStringSubmatch(p); m != nil {
			decl.name = m[1]
		}
	}
	return decl
}

// The patterns that name a key's declaration compile on first use: their
// bounded repetitions make large programs that every nix-auth start
// (render at activation included) would otherwise pay for.
var (
	yamlAnchor = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`&([A-Za-z0-9_.-]{1,64})\s*$`) })
	nixBinding = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_'-]{0,63})\s*=\s*"?\s*$`)
	})
)

// displayPath shows a path relative to the current directory when it is
// below it, as the user would type it.
func displayPath(p string) string {
	cwd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(cwd, abs); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return abs
}

// maxRecipientsFile bounds a recipients file, as age bounds its own.
const maxRecipientsFile = 16 << 20

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d MiB: not a list of keys", limit>>20)
	}
	return data, nil
}

// ResolveRecipientFlags resolves the values of a recipient flag (flag is
// its name for messages: "--recipient", "--expect-recipient"). Each is an
// "age1..." key, an "ssh-ed25519 AAAA..." key, ssh-keyscan output, or the
// path of a file of them in any form ParseRecipients reads. Duplicates
// across values are dropped.
func ResolveRecipientFlags(flag string, flags []string) ([]Recipient, error) {
	var out []Recipient
	for _, f := range flags {
		f = strings.TrimSpace(f)
		var rs []Recipient
		var err error
		switch {
		case f == "":
			return nil, &keyError{msg: "empty " + flag,
				hints: []string{"give an age1... key, an ssh-ed25519 key, or a file of them"}}
		case looksLikeKey(f) && !strings.Contains(f, "\n"):
			var r Recipient
			r, err = parseRecipient(f, flag)
			rs = []Recipient{r}
		case looksLikeKey(f):
			rs, err = ParseRecipients([]byte(f), flag)
		default:
			data, rerr := readBounded(f, maxRecipientsFile)
			if errors.Is(rerr, fs.ErrNotExist) {
				return nil, &keyError{msg: fmt.Sprintf("%s %s: not an age1 key, an ssh-ed25519 key, or an existing file", flag, safeLabel(f)),
					hints: []string{"give an age1... key, `ssh-ed25519 AAAA...` (quoted), or the path of a file of them, one per line (ssh-keyscan output works)"}}
			}
			if rerr != nil {
				return nil, &keyError{msg: safeLabel(f) + ": cannot read the recipients file", err: rerr}
			}
			rs, err = ParseRecipients(data, displayPath(f))
			if err == nil && len(rs) == 0 {
				return nil, &keyError{msg: fmt.Sprintf("%s: no recipients in the file", safeLabel(f)),
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

// looksLikeKey tells a --recipient key from a file path: an ssh key, alone
// or after a host name as ssh-keyscan prints it, has a key type word, and
// an age1 key is taken as a path only when such a file exists.
func looksLikeKey(f string) bool {
	if slices.ContainsFunc(strings.Fields(f), isSSHKeyType) && strings.ContainsAny(f, " \t\n") {
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

// checkRecipients parses every recipient a caller gives again with the one
// parser, so that only keys it accepts are ever encrypted to, keeps each
// Source, and drops duplicates. It refuses an empty list: nobody could
// decrypt the file.
func checkRecipients(path string, recips []Recipient) ([]Recipient, error) {
	var out []Recipient
	for i, r := range recips {
		where := r.Source
		if where == "" {
			where = fmt.Sprintf("recipient %d", i+1)
		}
		key := r.SSH
		if key == "" {
			key = r.Age
		}
		p, err := parseRecipient(key, where)
		if err == nil && r.SSH != "" && r.Age != "" && r.Age != p.Age {
			err = &keyError{msg: where + ": the age key is not the ssh key's conversion"}
		}
		if err != nil {
			return nil, fileErr(path, ErrRecipient, "cannot encrypt to "+err.Error(), hintsOf(err)...)
		}
		p.Source = r.Source
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fileErr(path, ErrRecipient, "no recipients given: nobody could decrypt the file",
			"declare them in .sops.yaml (sops) or secrets.nix (agenix), or give them to the command")
	}
	return dedupeRecipients(out), nil
}

// hintsOf returns the hints an error carries, if any.
func hintsOf(err error) []string {
	var h interface{ Hints() []string }
	if errors.As(err, &h) {
		return h.Hints()
	}
	return nil
}

// safeLabel makes text from a file or the environment safe to print in one
// line of an error, by termsafe's rule (a terminal escape or a line break
// shown as \x1b, \n), cut shorter than a field: it names a key or a path.
func safeLabel(s string) string { return termsafe.Cut(s, 80) }
