package crypt

// The .age store is an armored age file whose plaintext is a nix.conf
// fragment, so that agenix alone can deploy it with
// `nix.extraOptions = "!include ${config.age.secrets.<name>.path}"`:
//
//	# nix-auth token store: Nix reads the extra-access-tokens line; these comments hold nix-auth's metadata.
//	# nix-auth: host=github.com provider=github user=octocat scopes=repo,read:org created=2026-11-24T21:00:00Z client_id=178c6fc778ccc68e1d6a
//	extra-access-tokens = github.com=ghp_... gitlab.com=PAT:glpat-...
//
// The setting is extra-access-tokens, which adds to the tokens set before
// the include (nix.settings.access-tokens on NixOS, a login's file), where
// access-tokens would replace them all: agenix's include comes after
// nix.settings in nix.conf. For a host both name, the earlier token wins,
// as Nix reads extra- settings. Files written by older versions, with
// access-tokens, are read and rewritten with extra-access-tokens.
//
// Nix ignores the comment lines. Metadata values are percent-escaped
// (space, control characters, '%') so that no value can end the comment
// and start a setting.
//
// A credential for the netrc file (use=netrc or use=both, with login=)
// has no nix.conf form: netrc-file names a whole file, and nix.conf has no
// setting that adds one entry. A use=both entry's token is in the
// access-tokens line as any other; a use=netrc entry's (a binary cache's)
// is in its comment line, as token=:
//
//	# nix-auth: host=codeberg.org provider=forgejo user=alice use=both login=alice
//	# nix-auth: host=cache.example.com provider=cache use=netrc login=x-access-token token=eyJhbGciOi...
//	extra-access-tokens = codeberg.org=...
//
// So a file agenix deploys and nix.conf includes gives Nix the access
// tokens only: netrc credentials reach Nix through `nix-auth render
// --netrc-output` (of the store, or --plain of agenix's output).
//
// An age header does not name X25519 recipients: nix-auth re-encrypts to
// the recipients declared for the file (File.Declare). Host keys are
// ssh-ed25519 recipients here, as agenix makes them: an agenix host
// decrypts with its ssh key as an ssh identity, which opens only ssh
// stanzas, never the converted X25519 one. Files made by hand (`age -e`)
// are read too, binary or armored; lines other than the access-tokens
// settings are kept.

import (
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
	"filippo.io/age/plugin"
	"golang.org/x/crypto/ssh"

	"github.com/nix-auth/nix-auth/nixconf"
)

// The plaintext's own lines. Every "# nix-auth" comment is nix-auth's and
// rewritten on each save; that includes the "# nix-auth-recipients:" list
// older versions cached there, which is ignored and dropped (see
// File.Declare for why).
const (
	ageMetaPrefix = "# nix-auth:"
	ageOwnPrefix  = "# nix-auth"
	ageHeadLine   = "# nix-auth token store: Nix reads the extra-access-tokens line; these comments hold nix-auth's metadata."
)

type ageStore struct {
	path string
	es   []Entry
	// other are plaintext lines that are not nix-auth's: kept as they are.
	other []string
	// recips are the declared recipients of the next write; nil until
	// declared, and then marshal refuses.
	recips []Recipient
	// header is the loaded file's recipient stanzas, to check a
	// declaration against.
	header ageHeader
}

func newAgeStore(path string, recips []Recipient) (*ageStore, error) {
	return &ageStore{path: path, recips: recips}, nil
}

// ageReader undoes the armor when there is one; agenix itself writes
// binary files.
func ageReader(data []byte) io.Reader {
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header)) {
		return armor.NewReader(bytes.NewReader(data))
	}
	return bytes.NewReader(data)
}

// ageStanza is a recipient stanza of an age header: its type and, for an
// ssh stanza, the key tag agessh puts first in its arguments.
type ageStanza struct {
	typ, tag string
}

// ageHeader is an age file's recipient stanzas, in header order.
type ageHeader []ageStanza

// ageStanzas reads the recipient stanzas of the header. age's parser
// checks the header's syntax: types and arguments are printable ASCII.
func ageStanzas(data []byte) (ageHeader, error) {
	hdr, err := age.ExtractHeader(ageReader(data))
	if err != nil {
		return nil, err
	}
	var h ageHeader
	for _, line := range strings.Split(string(hdr), "\n") {
		if rest, ok := strings.CutPrefix(line, "-> "); ok {
			args := strings.Fields(rest)
			if len(args) == 0 {
				continue
			}
			st := ageStanza{typ: args[0]}
			if (st.typ == "ssh-ed25519" || st.typ == "ssh-rsa") && len(args) > 1 {
				st.tag = args[1]
			}
			h = append(h, st)
		}
	}
	return h, nil
}

// types lists the stanza types, for messages.
func (h ageHeader) types() []string {
	t := make([]string, len(h))
	for i, st := range h {
		t[i] = safeLabel(st.typ)
	}
	return t
}

// headerDiff is what an age header says about a list of recipients.
type headerDiff struct {
	// missing are declared ssh keys no stanza is tagged for: the file is
	// not encrypted to them.
	missing []Recipient
	// unverified are declared X25519, post-quantum and plugin keys: their
	// stanzas do not say whose they are, so the header can neither
	// confirm nor deny them.
	unverified []Recipient
	// undeclared describes stanzas no declared key accounts for.
	undeclared []string
	// short describes declared keys beyond the header's stanzas of their
	// type, when there are more than the header has.
	short []string
}

// compare matches declared recipients with the header: ssh stanzas by
// their key tag (the first four bytes of the SHA-256 of the key), X25519
// and hybrid stanzas by count only.
func (h ageHeader) compare(recips []Recipient) headerDiff {
	var d headerDiff
	tags := map[string]int{}
	counts := map[string]int{}
	var order []string
	for _, st := range h {
		if st.tag != "" {
			tags[st.typ+" "+st.tag]++
		} else {
			if counts[st.typ] == 0 {
				order = append(order, st.typ)
			}
			counts[st.typ]++
		}
	}
	declared := map[string]int{}
	plugins := 0
	for _, r := range recips {
		if r.SSH != "" {
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r.SSH))
			if err == nil {
				if k := pk.Type() + " " + sshTag(pk); tags[k] > 0 {
					tags[k]--
					continue
				}
			}
			d.missing = append(d.missing, r)
			continue
		}
		d.unverified = append(d.unverified, r)
		if typ := stanzaType(r.Age); typ != "" {
			declared[typ]++
		} else {
			// A plugin's stanza type is its own: one stanza of a type
			// nix-auth does not know is taken to be the plugin's.
			plugins++
		}
	}
	for _, st := range h {
		k := st.typ + " " + st.tag
		if st.tag != "" && tags[k] > 0 {
			tags[k]--
			d.undeclared = append(d.undeclared, fmt.Sprintf("an %s stanza for a key not declared (key tag %s)", safeLabel(st.typ), safeLabel(st.tag)))
		}
	}
	for _, typ := range []string{"X25519", "mlkem768x25519"} {
		if !slices.Contains(order, typ) {
			order = append(order, typ)
		}
	}
	for _, typ := range order {
		if typ != "X25519" && typ != "mlkem768x25519" {
			n := min(counts[typ], plugins)
			counts[typ] -= n
			plugins -= n
		}
		switch n, m := counts[typ], declared[typ]; {
		case n > m:
			d.undeclared = append(d.undeclared, fmt.Sprintf("%s more than declared", stanzaCount(n-m, typ)))
		case m > n:
			d.short = append(d.short, fmt.Sprintf("%s fewer than declared keys of that kind", stanzaCount(m-n, typ)))
		}
	}
	return d
}

func stanzaCount(n int, typ string) string {
	if n == 1 {
		return "1 " + safeLabel(typ) + " stanza"
	}
	return fmt.Sprintf("%d %s stanzas", n, safeLabel(typ))
}

// mismatch says, for a warning, how the header differs from the
// declaration; nil when it agrees as far as it can tell.
func (d headerDiff) mismatch() []string {
	var out []string
	for _, r := range d.missing {
		out = append(out, "not yet encrypted to "+r.SSH+" ("+r.Source+")")
	}
	out = append(out, d.undeclared...)
	return append(out, d.short...)
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
	plain, header, err := decryptAge(path, data, ids, tried)
	if err != nil {
		return nil, err
	}
	s := &ageStore{path: path, header: header}
	if err := s.parse(path, plain); err != nil {
		return nil, err
	}
	return s, nil
}

// decryptAge decrypts an age file (armored or binary) with ids, which
// tried describes for the error when none fits.
func decryptAge(path string, data []byte, ids []age.Identity, tried []string) ([]byte, ageHeader, error) {
	header, err := ageStanzas(data)
	if err != nil {
		return nil, nil, ageErr(path, data, err)
	}
	if len(ids) == 0 {
		return nil, nil, &DecryptError{Path: path, Stanzas: header.types(), Tried: tried}
	}
	r, err := age.Decrypt(ageReader(data), ids...)
	var nomatch *age.NoIdentityMatchError
	perr := pluginErr(path, ErrWrongKey, err)
	switch {
	case errors.As(err, &nomatch):
		return nil, nil, &DecryptError{Path: path, Stanzas: header.types(), Tried: tried}
	case perr != nil:
		return nil, nil, perr
	case err != nil:
		return nil, nil, ageErr(path, data, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, ageErr(path, data, err)
	}
	return plain, header, nil
}

// parse reads the fragment with nixconf's parser, the one Nix's rules
// live in: `access-tokens` assigns (the first value for a host wins),
// `extra-access-tokens` adds hosts not yet set, '#' starts a comment. A
// plaintext Nix would refuse is an error: agenix deploys it as it is, and
// Nix refuses the whole file it is included from.
func (s *ageStore) parse(path string, plain []byte) error {
	tokens, tokenLines, err := nixconf.ParseTokens(plain, path)
	if err != nil {
		detail := "its plaintext is not a config Nix accepts"
		var pe *nixconf.ParseError
		if errors.As(err, &pe) {
			detail = fmt.Sprintf("line %d of its plaintext: %s; Nix refuses the whole file where agenix includes it", pe.Line, pe.Msg)
		}
		return fileErr(path, ErrCorrupt, detail,
			"fix it with `agenix -e "+path+"`: write `access-tokens = host=token`, with spaces around the first '='")
	}
	isToken := map[int]bool{}
	for _, n := range tokenLines {
		isToken[n] = true
	}
	meta := map[string]Entry{}
	var metaOrder []string
	// Lines as Nix numbers them: ended by '\n'.
	for i, line := range strings.Split(string(plain), "\n") {
		if isToken[i+1] {
			continue
		}
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, ageMetaPrefix):
			e := parseAgeMeta(strings.TrimPrefix(trimmed, ageMetaPrefix))
			if _, err := ParseUse(string(e.Use)); err != nil {
				return fileErr(path, ErrCorrupt, fmt.Sprintf("line %d of its plaintext: %v", i+1, err),
					"fix it with `agenix -e "+path+"`, or write the entry again with nix-auth")
			}
			if e.Host != "" {
				if _, ok := meta[e.Host]; !ok {
					metaOrder = append(metaOrder, e.Host)
				}
				meta[e.Host] = e
			}
		case strings.HasPrefix(trimmed, ageOwnPrefix):
		default:
			s.other = append(s.other, line)
		}
	}
	for len(s.other) > 0 && strings.TrimSpace(s.other[len(s.other)-1]) == "" {
		s.other = s.other[:len(s.other)-1]
	}
	inLine := map[string]bool{}
	for _, t := range tokens {
		e := meta[t.Host]
		e.Host, e.Token = t.Host, t.Token
		// Nix reads this token from the line, whatever the comment says.
		if e.Use == UseNetrc {
			e.Use = UseBoth
		}
		inLine[t.Host] = true
		s.es = append(s.es, e)
	}
	// Netrc credentials, whose token is in their comment line.
	for _, h := range metaOrder {
		if e := meta[h]; !inLine[h] && e.Use == UseNetrc && e.Token != "" {
			s.es = append(s.es, e)
		}
	}
	return nil
}

// ParseFragment reads an .age store's plaintext, as agenix deploys it: the
// entries, with their metadata from the "# nix-auth:" comments, and the
// lines that are neither nix-auth's comments nor token settings. path
// names the file in errors. A plaintext Nix would refuse is an error.
func ParseFragment(path string, plain []byte) (entries []Entry, other []string, err error) {
	s := &ageStore{}
	if err := s.parse(path, plain); err != nil {
		return nil, nil, err
	}
	return s.entries(), s.other, nil
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
		case "use":
			e.Use = Use(v)
		case "login":
			e.Login = v
		case "token":
			e.Token = v
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
		if e.Use.Netrc() {
			field("use", string(e.Use))
			field("login", e.Login)
		}
		if !e.Use.AccessTokens() {
			field("token", e.Token)
		}
		b.WriteString("\n")
	}
	for _, l := range s.other {
		b.WriteString(l + "\n")
	}
	// extra-access-tokens adds to the tokens set before the include (see
	// the top of this file); no line at all without tokens.
	var line strings.Builder
	for _, e := range s.es {
		if e.Use.AccessTokens() {
			line.WriteString(" " + e.Host + "=" + e.Token)
		}
	}
	if line.Len() > 0 {
		b.WriteString("extra-access-tokens =" + line.String() + "\n")
	}
	return b.Bytes()
}

// marshal encrypts anew: an age file has no time in it.
func (s *ageStore) marshal(_ time.Time, ui *plugin.ClientUI) ([]byte, error) {
	if len(s.recips) == 0 {
		return nil, fileErr(s.path, ErrRecipient, "nobody declared who may decrypt it: an age file does not say who it is encrypted to, so each write needs its recipients",
			"declare them in agenix's secrets.nix, or give them to this write")
	}
	rs := make([]age.Recipient, len(s.recips))
	for i, r := range s.recips {
		var err error
		if rs[i], err = r.encrypter(FormatAge, ui); err != nil {
			return nil, fileErr(s.path, ErrRecipient, r.Source+": "+err.Error())
		}
	}
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, rs...)
	if pe := pluginErr(s.path, ErrRecipient, err); pe != nil {
		return nil, pe
	}
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

func (s *ageStore) recipients() []Recipient { return s.recips }

// setRecipients only records r: an .age file is encrypted, and its
// plugins run, when it is written.
func (s *ageStore) setRecipients(r []Recipient, _ *plugin.ClientUI) error {
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
	header, err := ageStanzas(data)
	if err != nil {
		return nil, ageErr(path, data, err)
	}
	return &Meta{Path: path, Format: FormatAge, Hidden: true, Stanzas: header.types()}, nil
}
