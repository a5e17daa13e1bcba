package crypt

// The sops store schema. The file is a real sops file, written the way the
// sops CLI writes it (one key group of age master keys wrapping the data
// key, each value AES256_GCM-encrypted with its key path as additional
// data, a MAC over all values encrypted with `lastmodified` as additional
// data, `version`), so that `sops -d`, `sops edit` and `sops updatekeys`
// work on it and sops-nix can deploy it:
//
//	hosts:
//	    github.com:
//	        token: ENC[AES256_GCM,...]          # the Nix access-tokens value
//	        provider: github
//	        user: octocat
//	        scopes:                             # a list, or one string
//	            - repo
//	            - read:org
//	        created: "2026-11-24T21:00:00Z"     # RFC 3339
//	        expires: "2026-12-24T21:00:00Z"     # omitted when it never expires
//	        refresh_token: ENC[AES256_GCM,...]  # GitLab OAuth only
//	        client_id: 178c6fc778ccc68e1d6a     # OAuth logins: the application that issued it
//	sops:
//	    age:
//	        - recipient: age1...
//	          enc: |
//	            -----BEGIN AGE ENCRYPTED FILE-----
//	            ...
//	    lastmodified: "2026-11-24T21:00:00Z"
//	    mac: ENC[AES256_GCM,...]
//	    encrypted_regex: ^(token|refresh_token)$
//	    version: 3.13.3
//
// encrypted_regex leaves the metadata readable, so `git diff` and
// `nix-auth status --file` show hosts, users and expiry without a key; the
// MAC still covers it, so a change without the key is detected on
// decryption. Other top-level keys are kept as they are. A file made by
// `sops encrypt` with other rules (for example a .sops.yaml without
// encrypted_regex, which encrypts every value) is read and written under
// its own rules. JSON files hold the same tree.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	sopsconfig "github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/shamir"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
)

// Schema keys.
const (
	hostsKey           = "hosts"
	sopsEncryptedRegex = `^(token|refresh_token)$`
)

// sopsFields are a host's keys in the order they are written.
var sopsFields = []string{"token", "provider", "user", "scopes", "created", "expires", "refresh_token", "client_id"}

type sopsStore struct {
	path string
	st   sops.Store
	// plain is the decrypted tree; enc is the encrypted tree as written,
	// current unless dirty.
	plain, enc sops.TreeBranches
	meta       sops.Metadata
	key        []byte
	// cipher remembers the IV of every value it decrypted, so that
	// re-encrypting an unchanged value gives the same ciphertext: sops edit
	// and sops set keep untouched values byte-identical the same way.
	cipher aes.Cipher
	dirty  bool
}

// sopsFormatStore is the sops CLI's store for the file name, with the
// CLI's default settings (YAML indent 4, JSON indent tab).
func sopsFormatStore(path string) sops.Store {
	c := sopsconfig.NewStoresConfig()
	if strings.HasSuffix(path, ".json") {
		return sopsjson.NewStore(&c.JSON)
	}
	return sopsyaml.NewStore(&c.YAML)
}

func loadSopsTree(path string, st sops.Store, data []byte) (sops.Tree, error) {
	tree, err := st.LoadEncryptedFile(data)
	switch {
	case errors.Is(err, sops.MetadataNotFound):
		return tree, fileErr(path, ErrNoMetadata, "has no `sops` metadata: it is not a sops-encrypted file, or it was cut short",
			"restore it from version control, or pick a new file name for the token store")
	case err != nil:
		return tree, fileErr(path, ErrCorrupt, "is not a readable sops file (truncated or damaged?): "+err.Error(),
			"restore it from version control")
	}
	if len(tree.Branches) == 0 {
		tree.Branches = sops.TreeBranches{sops.TreeBranch{}}
	}
	return tree, nil
}

func decodeSops(path string, data []byte, ids []age.Identity, tried []string) (*sopsStore, error) {
	st := sopsFormatStore(path)
	tree, err := loadSopsTree(path, st, data)
	if err != nil {
		return nil, err
	}
	key, err := sopsDataKey(path, tree.Metadata, ids, tried)
	if err != nil {
		return nil, err
	}
	enc := copyBranches(tree.Branches)
	c := aes.NewCipher()
	pc := &pathCipher{Cipher: c}
	mac, err := tree.Decrypt(key, pc)
	if err != nil {
		where := ""
		if pc.failed != "" {
			where = " (the value at " + strings.TrimSuffix(pc.failed, ":") + ")"
		}
		return nil, fileErr(path, ErrTampered, "a value does not decrypt with the file's key"+where+": the file was changed without its key",
			"restore it from version control (git checkout -- "+path+")")
	}
	fileMAC, err := c.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || fileMAC != mac {
		return nil, fileErr(path, ErrTampered, "MAC mismatch: the file was changed without its key",
			"restore it from version control (git checkout -- "+path+"), or re-add the tokens")
	}
	s := &sopsStore{path: path, st: st, plain: tree.Branches, enc: enc, meta: tree.Metadata, key: key, cipher: c}
	if _, err := hostEntries(path, s.plain, false); err != nil {
		return nil, err
	}
	return s, nil
}

// pathCipher records which value failed to decrypt and keeps the value out
// of the error: a hand-edited file could hold a plaintext token there.
type pathCipher struct {
	aes.Cipher
	failed string
}

func (c *pathCipher) Decrypt(ciphertext string, key []byte, additionalData string) (any, error) {
	v, err := c.Cipher.Decrypt(ciphertext, key, additionalData)
	if err != nil {
		c.failed = additionalData
		return nil, errors.New("value does not decrypt")
	}
	return v, nil
}

// sopsDataKey unwraps the data key with the given identities, as sops does
// (one key per group, Shamir-combined for several groups), but with
// exactly these identities and nothing from the environment.
func sopsDataKey(path string, meta sops.Metadata, ids []age.Identity, tried []string) ([]byte, error) {
	var parts [][]byte
	derr := &DecryptError{Path: path, Tried: tried}
	for _, g := range meta.KeyGroups {
		var got []byte
		for _, k := range g {
			ak, ok := k.(*sopsage.MasterKey)
			if !ok {
				derr.OtherKeys = append(derr.OtherKeys, k.TypeToIdentifier()+" "+k.ToString())
				continue
			}
			derr.Recipients = append(derr.Recipients, ak.Recipient)
			if got != nil || len(ids) == 0 {
				continue
			}
			if p, err := unwrapArmored(ak.EncryptedKey, ids); err == nil {
				got = p
			}
		}
		if got != nil {
			parts = append(parts, got)
		}
	}
	need := 1
	if len(meta.KeyGroups) > 1 {
		need = meta.ShamirThreshold
		if need == 0 {
			need = len(meta.KeyGroups)
		}
	}
	if len(parts) < need || len(parts) == 0 {
		return nil, derr
	}
	key := parts[0]
	if len(meta.KeyGroups) > 1 {
		var err error
		if key, err = shamir.Combine(parts); err != nil {
			return nil, fileErr(path, ErrCorrupt, "the data key parts do not combine: "+err.Error(), "restore it from version control")
		}
	}
	if len(key) != 32 {
		return nil, fileErr(path, ErrCorrupt, "the data key has the wrong size", "restore it from version control")
	}
	return key, nil
}

func unwrapArmored(enc string, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func newSopsStore(path string, recips []Recipient) (*sopsStore, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s := &sopsStore{
		path:   path,
		st:     sopsFormatStore(path),
		plain:  sops.TreeBranches{sops.TreeBranch{{Key: hostsKey, Value: sops.TreeBranch{}}}},
		meta:   sops.Metadata{EncryptedRegex: sopsEncryptedRegex, Version: version.Version, KeyGroups: []sops.KeyGroup{nil}},
		key:    key,
		cipher: aes.NewCipher(),
		dirty:  true,
	}
	if err := s.setRecipients(recips); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sopsStore) entries() []Entry {
	es, _ := hostEntries(s.path, s.plain, false)
	return es
}

func (s *sopsStore) recipients() []Recipient {
	var r []Recipient
	for _, g := range s.meta.KeyGroups {
		for _, k := range g {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				r = append(r, Recipient{Age: ak.Recipient, Source: s.path})
			}
		}
	}
	return r
}

// setRecipients wraps the same data key for the new recipients. Keys of
// recipients that stay are kept as they are (the data key did not change,
// so their wrapping is still valid, and the diff stays small); keys of
// other types (pgp, kms, ...) are kept too.
func (s *sopsStore) setRecipients(rs []Recipient) error {
	recips := make([]string, len(rs))
	for i, r := range rs {
		recips[i] = r.Key(FormatSOPS)
	}
	if len(s.meta.KeyGroups) != 1 {
		return fileErr(s.path, ErrRecipient, fmt.Sprintf("has %d key groups (Shamir secret sharing): nix-auth changes the recipients of single-group files only", len(s.meta.KeyGroups)),
			"change its recipients with `sops updatekeys "+s.path+"` and a .sops.yaml creation rule")
	}
	var group sops.KeyGroup
	have := map[string]bool{}
	for _, k := range s.meta.KeyGroups[0] {
		ak, ok := k.(*sopsage.MasterKey)
		if !ok {
			group = append(group, k)
			continue
		}
		if slices.Contains(recips, ak.Recipient) && !have[ak.Recipient] {
			group = append(group, ak)
			have[ak.Recipient] = true
		}
	}
	for _, r := range recips {
		if have[r] {
			continue
		}
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return fileErr(s.path, ErrRecipient, err.Error())
		}
		if err := mk.Encrypt(s.key); err != nil {
			return fmt.Errorf("%s: wrapping the data key for %s: %w", s.path, r, err)
		}
		group = append(group, mk)
		have[r] = true
	}
	if len(group) == 0 {
		return fileErr(s.path, ErrRecipient, "no recipients left to encrypt to", "give at least one recipient")
	}
	s.meta.KeyGroups = []sops.KeyGroup{group}
	return nil
}

// hostsBranch returns the hosts mapping of the first document and its
// index there (-1 when absent).
func hostsBranch(path string, branches sops.TreeBranches) (sops.TreeBranch, int, error) {
	if len(branches) == 0 {
		return nil, -1, nil
	}
	for i, it := range branches[0] {
		if it.Key != hostsKey {
			continue
		}
		switch v := it.Value.(type) {
		case sops.TreeBranch:
			return v, i, nil
		case nil:
			return sops.TreeBranch{}, i, nil
		}
		return nil, -1, fileErr(path, ErrCorrupt, "`hosts` is not a mapping of host names",
			"fix it with `sops edit "+path+"`: hosts: {github.com: {token: ...}}")
	}
	return nil, -1, nil
}

// hostEntries reads the entries of a tree. With encrypted set, the tree
// is still encrypted (LoadMeta): secret fields are skipped, and fields
// that are ciphertext are reported as hidden.
func hostEntries(path string, branches sops.TreeBranches, encrypted bool) (es []Entry, hidden error) {
	hosts, _, err := hostsBranch(path, branches)
	if err != nil {
		return nil, err
	}
	for _, it := range hosts {
		host, ok := it.Key.(string)
		if !ok {
			continue
		}
		fields, ok := it.Value.(sops.TreeBranch)
		if !ok {
			return nil, fileErr(path, ErrCorrupt, "hosts: "+host+" is not a mapping",
				"fix it with `sops edit "+path+"`: each host holds token, provider, user, ...")
		}
		e := Entry{Host: host}
		for _, f := range fields {
			name, ok := f.Key.(string)
			if !ok {
				continue
			}
			if encrypted {
				if name == "token" || name == "refresh_token" {
					continue
				}
				if isCiphertext(f.Value) {
					hidden = errHidden
					continue
				}
			}
			if err := setField(&e, name, f.Value); err != nil {
				return nil, fileErr(path, ErrCorrupt, "hosts: "+host+": "+name+" "+err.Error(),
					"fix it with `sops edit "+path+"`")
			}
		}
		if !encrypted && e.Token == "" {
			return nil, fileErr(path, ErrCorrupt, "hosts: "+host+" has no token",
				"add it with `nix-auth set-token "+host+" --encrypt-to "+path+"`, or remove the host with `sops edit "+path+"`")
		}
		es = append(es, e)
	}
	return es, hidden
}

// isCiphertext tells a sops-encrypted value (or list of them) apart.
func isCiphertext(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.HasPrefix(v, "ENC[")
	case []any:
		return slices.ContainsFunc(v, isCiphertext)
	}
	return false
}

// errHidden marks metadata that the file's rules encrypt.
var errHidden = errors.New("metadata is encrypted")

func setField(e *Entry, name string, v any) error {
	var err error
	switch name {
	case "token":
		e.Token, err = TokenValue(v)
	case "refresh_token":
		e.RefreshToken, err = TokenValue(v)
	case "provider":
		e.Provider, err = scalarString(v)
	case "user":
		e.User, err = scalarString(v)
	case "scopes":
		e.Scopes, err = scopeList(v)
	case "created":
		e.Created, err = timeValue(v)
	case "expires":
		e.Expires, err = timeValue(v)
	case "client_id":
		e.ClientID, err = scalarString(v)
	}
	return err
}

func scalarString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	}
	return "", errors.New("is not a string")
}

func scopeList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }), nil
	case []any:
		var out []string
		for _, x := range v {
			if _, ok := x.(sops.Comment); ok {
				continue
			}
			s, err := scalarString(x)
			if err != nil {
				return nil, errors.New("is not a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("is not a list of strings")
}

func timeValue(v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return v, nil
	case string:
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, errors.New("is not an RFC 3339 time like 2026-11-24T21:00:00Z")
		}
		return t, nil
	}
	return time.Time{}, errors.New("is not an RFC 3339 time")
}

// fieldValues are the schema values of e; nil means absent.
func fieldValues(e Entry) map[string]any {
	m := map[string]any{"token": e.Token}
	str := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	str("provider", e.Provider)
	str("user", e.User)
	if len(e.Scopes) > 0 {
		l := make([]any, len(e.Scopes))
		for i, s := range e.Scopes {
			l[i] = s
		}
		m["scopes"] = l
	}
	if !e.Created.IsZero() {
		m["created"] = e.Created.UTC().Format(time.RFC3339)
	}
	if !e.Expires.IsZero() {
		m["expires"] = e.Expires.UTC().Format(time.RFC3339)
	}
	str("refresh_token", e.RefreshToken)
	str("client_id", e.ClientID)
	return m
}

// put changes only the host's own values, in place: every other value is
// left as it is, so its ciphertext stays byte-identical on Save. Keys a
// user added to the host are kept.
func (s *sopsStore) put(e Entry) error {
	if len(s.plain) == 0 {
		s.plain = sops.TreeBranches{sops.TreeBranch{}}
	}
	hosts, idx, err := hostsBranch(s.path, s.plain)
	if err != nil {
		return err
	}
	vals := fieldValues(e)
	at := -1
	for i, it := range hosts {
		if it.Key == e.Host {
			at = i
		}
	}
	if at < 0 {
		var fields sops.TreeBranch
		for _, k := range sopsFields {
			if v, ok := vals[k]; ok {
				fields = append(fields, sops.TreeItem{Key: k, Value: v})
			}
		}
		hosts = slices.Insert(hosts, insertAt(hosts, e.Host), sops.TreeItem{Key: e.Host, Value: fields})
	} else {
		fields, _ := hosts[at].Value.(sops.TreeBranch)
		var out sops.TreeBranch
		seen := map[string]bool{}
		for _, f := range fields {
			name, _ := f.Key.(string)
			if !slices.Contains(sopsFields, name) {
				out = append(out, f)
				continue
			}
			seen[name] = true
			if v, ok := vals[name]; ok {
				if !sameValue(f.Value, v) {
					f.Value = v
				}
				out = append(out, f)
			}
		}
		for _, k := range sopsFields {
			if v, ok := vals[k]; ok && !seen[k] {
				out = append(out, sops.TreeItem{Key: k, Value: v})
			}
		}
		hosts[at].Value = out
	}
	if idx < 0 {
		s.plain[0] = append(s.plain[0], sops.TreeItem{Key: hostsKey, Value: hosts})
	} else {
		s.plain[0][idx].Value = hosts
	}
	s.dirty = true
	return nil
}

// sameValue keeps an equal value (a list of scopes, say) as it was, with
// its comments.
func sameValue(old, v any) bool {
	if l, ok := v.([]any); ok {
		got, err := scopeList(old)
		if err != nil || len(got) != len(l) {
			return false
		}
		for i := range l {
			if got[i] != l[i] {
				return false
			}
		}
		_, isList := old.([]any)
		return isList
	}
	return old == v
}

// insertAt keeps hosts sorted when they are sorted; otherwise new hosts go
// last. Either way only the new host's lines appear in a diff.
func insertAt(hosts sops.TreeBranch, host string) int {
	var names []string
	for _, it := range hosts {
		if k, ok := it.Key.(string); ok {
			names = append(names, k)
		}
	}
	if !slices.IsSorted(names) {
		return len(hosts)
	}
	for i, it := range hosts {
		if k, ok := it.Key.(string); ok && k > host {
			return i
		}
	}
	return len(hosts)
}

func (s *sopsStore) remove(host string) bool {
	hosts, idx, err := hostsBranch(s.path, s.plain)
	if err != nil || idx < 0 {
		return false
	}
	for i, it := range hosts {
		if it.Key == host {
			s.plain[0][idx].Value = slices.Delete(hosts, i, i+1)
			s.dirty = true
			return true
		}
	}
	return false
}

// marshal emits the file. Only when values changed is the tree encrypted
// again (through the IV-remembering cipher, so untouched values keep their
// ciphertext) and the MAC recomputed with a new lastmodified, as sops edit
// does; a recipient change alone leaves values, MAC and lastmodified as
// they are, as sops updatekeys does.
func (s *sopsStore) marshal() ([]byte, error) {
	if s.dirty {
		t := sops.Tree{Branches: copyBranches(s.plain), Metadata: s.meta, FilePath: s.path}
		mac, err := t.Encrypt(s.key, s.cipher)
		if err != nil {
			// sops's message could quote a value.
			return nil, fmt.Errorf("%s: a value cannot be encrypted (only strings, numbers, booleans, lists and mappings can)", s.path)
		}
		t.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
		t.Metadata.MessageAuthenticationCode, err = s.cipher.Encrypt(mac, s.key, t.Metadata.LastModified.Format(time.RFC3339))
		if err != nil {
			return nil, fmt.Errorf("%s: encrypting the MAC: %w", s.path, err)
		}
		// Decrypting what was just encrypted teaches the cipher the new
		// values' IVs, so the next save keeps them too.
		check := sops.Tree{Branches: copyBranches(t.Branches), Metadata: t.Metadata}
		if _, err := check.Decrypt(s.key, s.cipher); err != nil {
			return nil, fmt.Errorf("%s: the encrypted tree does not decrypt", s.path)
		}
		s.enc, s.meta, s.dirty = t.Branches, t.Metadata, false
	}
	out, err := s.st.EmitEncryptedFile(sops.Tree{Branches: s.enc, Metadata: s.meta})
	if err != nil {
		return nil, fmt.Errorf("%s: writing the sops tree: %w", s.path, err)
	}
	return out, nil
}

func copyBranches(bs sops.TreeBranches) sops.TreeBranches {
	out := make(sops.TreeBranches, len(bs))
	for i, b := range bs {
		out[i] = copyValue(b).(sops.TreeBranch)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case sops.TreeBranch:
		out := make(sops.TreeBranch, len(v))
		for i, it := range v {
			out[i] = sops.TreeItem{Key: it.Key, Value: copyValue(it.Value)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyValue(x)
		}
		return out
	case []byte:
		return slices.Clone(v)
	}
	return v
}

func sopsMeta(path string, data []byte) (*Meta, error) {
	tree, err := loadSopsTree(path, sopsFormatStore(path), data)
	if err != nil {
		return nil, err
	}
	m := &Meta{Path: path, Format: FormatSOPS, LastModified: tree.Metadata.LastModified}
	for _, g := range tree.Metadata.KeyGroups {
		for _, k := range g {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				m.Recipients = append(m.Recipients, ak.Recipient)
			} else {
				m.OtherKeys = append(m.OtherKeys, k.TypeToIdentifier()+" "+k.ToString())
			}
		}
	}
	es, err := hostEntries(path, tree.Branches, true)
	if err != nil && err != errHidden {
		return nil, err
	}
	m.Entries, m.Hidden = es, err == errHidden
	return m, nil
}
