package crypt

// The .age store is an armored age file whose plaintext is a nix.conf
// fragment, so that agenix alone can deploy it with
// `nix.extraOptions = "!include ${config.age.secrets.<name>.path}"`:
//
//	# nix-auth token store: Nix reads the access-tokens line; these comments hold nix-auth's metadata.
//	# nix-auth: host=github.com provider=github user=octocat scopes=repo,read:org created=2026-11-24T21:00:00Z client_id=178c6fc778ccc68e1d6a
//	# nix-auth-recipients: age1... ssh-ed25519%20AAAA...
//	access-tokens = github.com=ghp_... gitlab.com=PAT:glpat-...
//
// Nix ignores the comment lines. Metadata values are percent-escaped
// (space, control characters, '%') so that no value can end the comment
// and start a setting. The recipients line lets nix-auth re-encrypt the
// file without being told the recipients again: age headers do not name
// X25519 recipients. Host keys are ssh-ed25519 recipients here, as agenix
// makes them: an agenix host decrypts with its ssh key as an ssh identity,
// which opens only ssh stanzas, never the converted X25519 one. Files made by hand (`age -e`) are read too, binary or
// armored; lines other than access-tokens are kept.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

const (
	ageMetaPrefix   = "# nix-auth:"
	ageRecipsPrefix = "# nix-auth-recipients:"
	ageOwnPrefix    = "# nix-auth"
	ageHeadLine     = "# nix-auth token store: Nix reads the access-tokens line; these comments hold nix-auth's metadata."
)

type ageStore struct {
	path string
	es   []Entry
	// other are plaintext lines that are not nix-auth's: kept as they are.
	other []string
	// recips is nil when unknown (a file nix-auth did not write).
	recips []string
}

func newAgeStore(recips []string) (*ageStore, error) {
	return &ageStore{recips: recips}, nil
}

// ageReader undoes the armor when there is one; agenix itself writes
// binary files.
func ageReader(data []byte) io.Reader {
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header)) {
		return armor.NewReader(bytes.NewReader(data))
	}
	return bytes.NewReader(data)
}

// ageStanzas lists the recipient stanza types of the header.
func ageStanzas(data []byte) ([]string, error) {
	hdr, err := age.ExtractHeader(ageReader(data))
	if err != nil {
		return nil, err
	}
	var types []string
	for _, line := range strings.Split(string(hdr), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			typ, _, _ := strings.Cut(rest, " ")
			types = append(types, typ)
		}
	}
	return types, nil
}

func ageErr(path string, data []byte, err error) error {
	var armorErr *armor.Error
	armored := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		armored && !bytes.Contains(data, []byte(armor.Footer)):
		return fileErr(path, ErrTruncated, "is cut short (truncated)", "restore it from version control")
	case strings.Contains(err.Error(), "bad header MAC"), strings.Contains(err.Error(), "authenticate"):
		return fileErr(path, ErrTampered, "fails authentication: the file was changed, damaged or cut short after it was encrypted",
			"restore it from version control (git checkout -- "+path+")")
	case errors.As(err, &armorErr):
		return fileErr(path, ErrCorrupt, "has damaged armor: "+armorErr.Error(), "restore it from version control")
	}
	return fileErr(path, ErrCorrupt, "is not a readable age file: "+err.Error(), "restore it from version control")
}

func decodeAge(path string, data []byte, ids []age.Identity, tried []string) (*ageStore, error) {
	stanzas, err := ageStanzas(data)
	if err != nil {
		return nil, ageErr(path, data, err)
	}
	if len(ids) == 0 {
		return nil, &DecryptError{Path: path, Stanzas: stanzas, Tried: tried}
	}
	r, err := age.Decrypt(ageReader(data), ids...)
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return nil, &DecryptError{Path: path, Stanzas: stanzas, Tried: tried}
	case err != nil:
		return nil, ageErr(path, data, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, ageErr(path, data, err)
	}
	s := &ageStore{path: path}
	s.parse(plain)
	// Trust the recorded recipients only if they still match the header:
	// a file re-encrypted with the age CLI would otherwise be rewritten to
	// stale recipients.
	if len(s.recips) != len(stanzas) {
		s.recips = nil
	}
	return s, nil
}

// parse reads the fragment as Nix does: `access-tokens` assigns (the first
// value for a host wins), `extra-access-tokens` adds hosts not yet set,
// '#' starts a comment.
func (s *ageStore) parse(plain []byte) {
	meta := map[string]Entry{}
	var order []string
	tokens := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(plain))
	sc.Buffer(nil, len(plain)+1)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, ageMetaPrefix):
			e := parseAgeMeta(strings.TrimPrefix(trimmed, ageMetaPrefix))
			if e.Host != "" {
				meta[e.Host] = e
			}
			continue
		case strings.HasPrefix(trimmed, ageRecipsPrefix):
			s.recips = nil
			for _, r := range strings.Fields(strings.TrimPrefix(trimmed, ageRecipsPrefix)) {
				// ssh recipients have a space, escaped as in the metadata.
				if u, err := url.PathUnescape(r); err == nil {
					s.recips = append(s.recips, u)
				}
			}
			continue
		case strings.HasPrefix(trimmed, ageOwnPrefix):
			continue
		}
		setting, _, _ := strings.Cut(line, "#")
		name, value, ok := strings.Cut(setting, "=")
		name = strings.TrimSpace(name)
		if !ok || (name != "access-tokens" && name != "extra-access-tokens") {
			s.other = append(s.other, line)
			continue
		}
		if name == "access-tokens" {
			order, tokens = nil, map[string]string{}
		}
		for _, pair := range strings.FieldsFunc(value, nixSpace) {
			host, tok, ok := strings.Cut(pair, "=")
			if !ok || host == "" {
				continue
			}
			if _, dup := tokens[host]; !dup {
				tokens[host] = tok
				order = append(order, host)
			}
		}
	}
	for len(s.other) > 0 && strings.TrimSpace(s.other[len(s.other)-1]) == "" {
		s.other = s.other[:len(s.other)-1]
	}
	for _, h := range order {
		e := meta[h]
		e.Host, e.Token = h, tokens[h]
		s.es = append(s.es, e)
	}
}

// nixSpace is what Nix splits a setting's value on: ASCII white space
// only, so a non-ASCII space stays inside a host and is refused there.
func nixSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// ParseFragment reads an .age store's plaintext, as agenix deploys it: the
// entries, with their metadata from the "# nix-auth:" comments, and the
// lines that are neither nix-auth's comments nor token settings.
func ParseFragment(plain []byte) (entries []Entry, other []string) {
	s := &ageStore{}
	s.parse(plain)
	return s.entries(), s.other
}

func parseAgeMeta(s string) Entry {
	var e Entry
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		v, err := url.PathUnescape(v)
		if err != nil {
			continue
		}
		switch k {
		case "host":
			e.Host = v
		case "provider":
			e.Provider = v
		case "user":
			e.User = v
		case "scopes":
			e.Scopes = strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
		case "created":
			e.Created, _ = time.Parse(time.RFC3339, v)
		case "expires":
			e.Expires, _ = time.Parse(time.RFC3339, v)
		case "refresh_token":
			e.RefreshToken = v
		case "client_id":
			e.ClientID = v
		}
	}
	return e
}

// escapeMeta percent-escapes what could end the comment line or split
// the field: whitespace, control characters and '%' itself.
func escapeMeta(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c == 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (s *ageStore) plaintext() []byte {
	var b bytes.Buffer
	b.WriteString(ageHeadLine + "\n")
	for _, e := range s.es {
		b.WriteString(ageMetaPrefix + " host=" + escapeMeta(e.Host))
		field := func(k, v string) {
			if v != "" {
				b.WriteString(" " + k + "=" + escapeMeta(v))
			}
		}
		field("provider", e.Provider)
		field("user", e.User)
		field("scopes", strings.Join(e.Scopes, ","))
		if !e.Created.IsZero() {
			field("created", e.Created.UTC().Format(time.RFC3339))
		}
		if !e.Expires.IsZero() {
			field("expires", e.Expires.UTC().Format(time.RFC3339))
		}
		field("refresh_token", e.RefreshToken)
		field("client_id", e.ClientID)
		b.WriteString("\n")
	}
	b.WriteString(ageRecipsPrefix)
	for _, r := range s.recips {
		b.WriteString(" " + strings.ReplaceAll(r, " ", "%20"))
	}
	b.WriteString("\n")
	for _, l := range s.other {
		b.WriteString(l + "\n")
	}
	// No line at all without tokens: an empty `access-tokens =` in an
	// included file would wipe the tokens set before it.
	if len(s.es) > 0 {
		b.WriteString("access-tokens =")
		for _, e := range s.es {
			b.WriteString(" " + e.Host + "=" + e.Token)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// marshal encrypts anew: an age file has no time in it.
func (s *ageStore) marshal(time.Time) ([]byte, error) {
	if len(s.recips) == 0 {
		return nil, fileErr(s.path, ErrRecipient, "its recipients are unknown: it was not written by nix-auth, and age files do not name their X25519 recipients",
			"name the recipients in secrets.nix or with --recipient, and run `nix-auth rekey "+s.path+"`")
	}
	rs := make([]age.Recipient, len(s.recips))
	for i, r := range s.recips {
		var err error
		if rs[i], err = parseRecipient(FormatAge, r); err != nil {
			return nil, fileErr(s.path, ErrRecipient, err.Error())
		}
	}
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, rs...)
	if err != nil {
		return nil, fileErr(s.path, ErrRecipient, err.Error())
	}
	if _, err := w.Write(s.plaintext()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (s *ageStore) entries() []Entry { return slices.Clone(s.es) }

// checkSecret: an age file encrypts all of its content.
func (s *ageStore) checkSecret(string) error { return nil }

func (s *ageStore) recipients() []string { return s.recips }

func (s *ageStore) setRecipients(r []string) error {
	s.recips = slices.Clone(r)
	return nil
}

func (s *ageStore) put(e Entry) error {
	for i := range s.es {
		if s.es[i].Host == e.Host {
			s.es[i] = e
			return nil
		}
	}
	s.es = append(s.es, e)
	return nil
}

func (s *ageStore) remove(host string) bool {
	for i := range s.es {
		if s.es[i].Host == host {
			s.es = slices.Delete(s.es, i, i+1)
			return true
		}
	}
	return false
}

func ageMeta(path string, data []byte) (*Meta, error) {
	stanzas, err := ageStanzas(data)
	if err != nil {
		return nil, ageErr(path, data, err)
	}
	return &Meta{Path: path, Format: FormatAge, Hidden: true, Stanzas: stanzas}, nil
}
