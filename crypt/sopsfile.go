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
//	    cache.example.com:
//	        token: ENC[AES256_GCM,...]
//	        provider: cache
//	        use: netrc                          # access-tokens (when absent), netrc or both
//	        login: x-access-token               # the netrc login: use netrc or both only
//	sops:
//	    age:
//	        - enc: |
//	            -----BEGIN AGE ENCRYPTED FILE-----
//	            ...
//	          recipient: age1...
//	    encrypted_regex: ^(token|refresh_token)$
//	    lastmodified: "2026-11-24T21:00:00Z"
//	    mac: ENC[AES256_GCM,...]
//	    version: 3.13.3
//
// encrypted_regex leaves the metadata readable, so `git diff` and
// `nix-auth status --file` show hosts, users and expiry without a key.
// That includes use and login: a netrc login is a user name (the forge
// account, or a cache's fixed name such as x-access-token), the half of
// Basic auth that is not secret, as `user` is; only the password (the
// token) grants access. The cleartext check therefore requires token and
// refresh_token encrypted, never login, and a file whose own rules
// encrypt every value keeps login encrypted too. The MAC covers use and
// login as every value; key names it does not cover, but a token's
// ciphertext is bound to its host by its additional data, so renaming
// keys without the key can at most move a credential between the two
// files of its own host, and the schema check (CheckNetrc) refuses a
// login on an access token or an unknown use. The
// MAC covers the values in walk order, not the key names or the structure,
// so after decrypting nix-auth checks the shape and consistency of what it
// read (see checkStore). Other top-level keys are kept as they are. A file
// made by `sops encrypt` with other rules (for example a .sops.yaml without
// encrypted_regex, which encrypts every value) is read and written under
// its own rules, as long as they encrypt every token. JSON files hold the
// same tree.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

// Schema keys.
const (
	hostsKey           = "hosts"
	sopsEncryptedRegex = `^(token|refresh_token)$`
)

// sopsFields are a host's keys in the order they are written.
var sopsFields = []string{"token", "provider", "user", "use", "login", "scopes", "created", "expires", "refresh_token", "client_id"}

type sopsStore struct {
	path string
	json bool
	// docs are the decrypted documents; enc are the encrypted ones as
	// read or last written, current unless dirty.
	docs, enc []treeBranch
	meta      *sopsMetadata
	rules     *ruleSet
	key       []byte
	// c remembers the IV of every value it decrypted or encrypted, so
	// that an unchanged value keeps its ciphertext: sops edit and sops set
	// keep untouched values byte-identical the same way.
	c     *valueCipher
	dirty bool
}

func isJSONPath(path string) bool { return strings.HasSuffix(path, ".json") }

// parseSopsFile reads a sops file's documents and metadata, still
// encrypted.
func parseSopsFile(path string, data []byte) ([]treeBranch, *sopsMetadata, error) {
	var docs []treeBranch
	var err error
	if isJSONPath(path) {
		docs, err = parseSopsJSON(data)
	} else {
		docs, err = parseSopsYAML(data)
	}
	if err != nil {
		return nil, nil, fileErr(path, ErrCorrupt, "is not a readable sops file (truncated or damaged?): "+err.Error(),
			"restore it from version control")
	}
	docs, meta, err := splitMetadata(docs)
	switch {
	case errors.Is(err, errNoSopsMetadata):
		return nil, nil, fileErr(path, ErrNoMetadata, "has no `sops` metadata: it is not a sops-encrypted file, or it was cut short",
			"restore it from version control, or pick a new file name for the token store")
	case err != nil:
		return nil, nil, fileErr(path, ErrCorrupt, "has unreadable sops metadata (truncated or damaged?): "+err.Error(), "restore it from version control")
	}
	return docs, meta, nil
}

func decodeSops(path string, data []byte, ids []age.Identity, tried []string, now time.Time) (*sopsStore, error) {
	s, clear, err := openSops(path, data, ids, tried)
	if err != nil {
		return nil, err
	}
	if err := checkStore(path, s.docs, clear, s.meta.rules, now); err != nil {
		return nil, err
	}
	return s, nil
}

// openSops decrypts a sops file and checks its MAC, as `sops decrypt`
// does; clear are the paths its rules leave unencrypted.
func openSops(path string, data []byte, ids []age.Identity, tried []string) (*sopsStore, map[string]bool, error) {
	enc, meta, err := parseSopsFile(path, data)
	if err != nil {
		return nil, nil, err
	}
	key, err := meta.dataKey(path, ids, tried)
	if err != nil {
		return nil, nil, err
	}
	s := &sopsStore{path: path, json: isJSONPath(path), enc: enc, docs: copyTree(enc), meta: meta,
		rules: compileRules(meta.rules), key: key, c: newValueCipher()}
	w := newTreeWalk(s.rules, key, s.c)
	mac, err := w.decrypt(s.docs)
	if err != nil {
		if w.failed == "" {
			return nil, nil, fileErr(path, ErrCorrupt, "cannot be decrypted: "+err.Error(), "restore it from version control")
		}
		return nil, nil, fileErr(path, ErrTampered, "a value does not decrypt with the file's key (the value at "+
			strings.TrimSuffix(w.failed, ":")+"): the file was changed without its key",
			"restore it from version control (git checkout -- "+path+")")
	}
	fileMAC, err := s.c.decrypt(meta.mac, key, meta.lastModified.Format(time.RFC3339))
	if got, ok := fileMAC.(string); err != nil || !ok || got != mac {
		return nil, nil, fileErr(path, ErrTampered, "MAC mismatch: the file was changed without its key",
			"restore it from version control (git checkout -- "+path+"), or re-add the tokens")
	}
	return s, w.clear, nil
}

func newSopsStore(path string, recips []Recipient, rule *SopsRule, ui *plugin.ClientUI) (*sopsStore, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	rules := sopsRules{EncryptedRegex: sopsEncryptedRegex}
	if rule != nil {
		if rule.count() > 0 {
			rules = rule.sopsRules
		}
		rules.MACOnlyEncrypted = rule.MACOnlyEncrypted
	}
	s := &sopsStore{
		path:  path,
		json:  isJSONPath(path),
		docs:  []treeBranch{{{Key: hostsKey, Value: treeBranch{}}}},
		meta:  &sopsMetadata{rules: rules, version: sopsVersion, groups: []keyGroup{{}}},
		rules: compileRules(rules),
		key:   key,
		c:     newValueCipher(),
		dirty: true,
	}
	if err := s.setRecipients(recips, ui); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sopsStore) entries() []Entry {
	es, _, _ := readEntries(s.path, s.docs, nil, false)
	return es
}

// recipients are the file's age keys; their Source is the file, which
// no MAC covers.
func (s *sopsStore) recipients() []Recipient {
	var r []Recipient
	for _, k := range s.meta.recipients() {
		r = append(r, Recipient{Age: k, Source: s.path})
	}
	return r
}

// setRecipients wraps the same data key for the new recipients. Keys of
// recipients that stay are kept as they are (the data key did not change,
// so their wrapping is still valid, and the diff stays small); keys of
// other types (pgp, kms, ...) are kept byte for byte. The plugins of new
// plugin recipients wrap theirs, talking to the user through ui.
func (s *sopsStore) setRecipients(rs []Recipient, ui *plugin.ClientUI) error {
	recips := make([]string, len(rs))
	for i, r := range rs {
		recips[i] = r.Key(FormatSOPS)
	}
	if slices.Equal(sortedCopy(s.meta.recipients()), sortedCopy(recips)) && len(recips) > 0 {
		return nil
	}
	if len(s.meta.groups) != 1 {
		return fileErr(s.path, ErrRecipient, fmt.Sprintf("has %d key groups (Shamir secret sharing): nix-auth changes the recipients of single-group files only", len(s.meta.groups)),
			"change its recipients with `sops updatekeys "+s.path+"` and a .sops.yaml creation rule")
	}
	g := s.meta.groups[0]
	var kept []ageKey
	have := map[string]bool{}
	for _, k := range g.age {
		if slices.Contains(recips, k.recipient) && !have[k.recipient] {
			kept = append(kept, k)
			have[k.recipient] = true
		}
	}
	var add []string
	for _, r := range recips {
		if !have[r] {
			add = append(add, r)
			have[r] = true
		}
	}
	wrapped, err := wrapKeys(s.key, add, ui)
	if pe := pluginErr(s.path, ErrRecipient, err); pe != nil {
		return pe
	}
	if err != nil {
		return fileErr(s.path, ErrRecipient, err.Error())
	}
	if len(kept)+len(wrapped)+len(g.other) == 0 {
		return fileErr(s.path, ErrRecipient, "no recipients left to encrypt to", "give at least one recipient")
	}
	g.age = append(kept, wrapped...)
	s.meta.groups = []keyGroup{g}
	return nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// hostsBranch returns the hosts mapping of the first document and its
// index there (-1 when absent).
func hostsBranch(path string, docs []treeBranch) (treeBranch, int, error) {
	if len(docs) == 0 {
		return nil, -1, nil
	}
	for i, it := range docs[0] {
		if it.Key != hostsKey {
			continue
		}
		switch v := it.Value.(type) {
		case treeBranch:
			return v, i, nil
		case nil:
			return treeBranch{}, i, nil
		}
		return nil, -1, schemaErr(path, "", hostsKey, "`hosts` is not a mapping of host names",
			"fix it with `sops edit "+path+"`: hosts: {github.com: {token: ...}}")
	}
	return nil, -1, nil
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
	// An access token alone has no use field, as in every store written
	// before netrc credentials; a login belongs to netrc only.
	if e.Use.Netrc() {
		str("use", string(e.Use))
		str("login", e.Login)
	}
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
// user added to the host are kept. It refuses, changing nothing, when the
// file's rules would leave the token in clear.
func (s *sopsStore) put(e Entry) error {
	docs, err := putEntry(s.path, copyTree(s.docs), e)
	if err != nil {
		return err
	}
	if err := s.checkSecrets(docs, e.Host); err != nil {
		return err
	}
	s.docs, s.dirty = docs, true
	return nil
}

// checkSecret tells whether a token for host would be stored encrypted,
// before anything asks a forge for one.
func (s *sopsStore) checkSecret(host string) error {
	docs, err := putEntry(s.path, copyTree(s.docs), Entry{Host: host, Token: "x", RefreshToken: "x"})
	if err != nil {
		return err
	}
	return s.checkSecrets(docs, host)
}

func (s *sopsStore) checkSecrets(docs []treeBranch, host string) error {
	clear := clearPaths(docs, s.rules)
	for _, f := range []string{"token", "refresh_token"} {
		if clear[fieldPath(host, f)] {
			return cleartextErr(s.path, host, f, s.meta.rules, true)
		}
	}
	return nil
}

func putEntry(path string, docs []treeBranch, e Entry) ([]treeBranch, error) {
	if len(docs) == 0 {
		docs = []treeBranch{{}}
	}
	hosts, idx, err := hostsBranch(path, docs)
	if err != nil {
		return nil, err
	}
	vals := fieldValues(e)
	at := -1
	for i, it := range hosts {
		if it.Key == e.Host {
			at = i
		}
	}
	if at < 0 {
		var fields treeBranch
		for _, k := range sopsFields {
			if v, ok := vals[k]; ok {
				fields = append(fields, treeItem{Key: k, Value: v})
			}
		}
		hosts = slices.Insert(hosts, insertAt(hosts, e.Host), treeItem{Key: e.Host, Value: fields})
	} else {
		fields, _ := hosts[at].Value.(treeBranch)
		var out treeBranch
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
				out = append(out, treeItem{Key: k, Value: v})
			}
		}
		hosts[at].Value = out
	}
	if idx < 0 {
		docs[0] = append(docs[0], treeItem{Key: hostsKey, Value: hosts})
	} else {
		docs[0][idx].Value = hosts
	}
	return docs, nil
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
func insertAt(hosts treeBranch, host string) int {
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
	if removeEntry(s.path, s.docs, host) {
		s.dirty = true
		return true
	}
	return false
}

// removeEntry deletes host from the hosts of docs, the sops tree's or a
// git-crypt store's.
func removeEntry(path string, docs []treeBranch, host string) bool {
	hosts, idx, err := hostsBranch(path, docs)
	if err != nil || idx < 0 {
		return false
	}
	for i, it := range hosts {
		if it.Key == host {
			docs[0][idx].Value = slices.Delete(hosts, i, i+1)
			return true
		}
	}
	return false
}

// marshal emits the file; the data key was wrapped by setRecipients. Only when values changed is the tree encrypted
// again (through the IV-remembering cipher, so untouched values keep their
// ciphertext) and the MAC recomputed with lastmodified set to now, as sops
// edit does; a recipient change alone leaves values, MAC and lastmodified
// as they are, as sops updatekeys does.
func (s *sopsStore) marshal(now time.Time, _ *plugin.ClientUI) ([]byte, error) {
	if s.dirty {
		enc := copyTree(s.docs)
		w := newTreeWalk(s.rules, s.key, s.c)
		mac, err := w.encrypt(enc)
		if err != nil {
			return nil, fmt.Errorf("%s: a value cannot be encrypted: %v", s.path, err)
		}
		// put refuses a token in clear; this holds for every host, even
		// one written by another tool meanwhile.
		if err := checkCleartext(s.path, s.docs, w.clear, s.meta.rules); err != nil {
			return nil, err
		}
		meta := *s.meta
		meta.lastModified = now.UTC().Truncate(time.Second)
		if meta.mac, err = s.c.encrypt(mac, s.key, meta.lastModified.Format(time.RFC3339)); err != nil {
			return nil, fmt.Errorf("%s: encrypting the MAC: %w", s.path, err)
		}
		s.enc, s.meta, s.dirty = enc, &meta, false
	}
	docs := make([]treeBranch, len(s.enc))
	mb := s.meta.branch()
	for i, d := range s.enc {
		docs[i] = append(slices.Clip(d), treeItem{Key: sopsMetadataKey, Value: mb})
	}
	out, err := s.emit(docs)
	if err != nil {
		return nil, fmt.Errorf("%s: writing the sops tree: %v", s.path, err)
	}
	return out, nil
}

// emit writes documents in the file's format.
func (s *sopsStore) emit(docs []treeBranch) ([]byte, error) {
	if s.json {
		return emitSopsJSON(docs)
	}
	return emitSopsYAML(docs)
}

// sopsMeta reads what a sops file shows without its key: the readable
// fields of each host (unverified: only the key can check the MAC), its
// keys, and which tokens the rules leave in clear.
func sopsMeta(path string, data []byte) (*Meta, error) {
	docs, meta, err := parseSopsFile(path, data)
	if err != nil {
		return nil, err
	}
	m := &Meta{Path: path, Format: FormatSOPS, LastModified: meta.lastModified,
		Recipients: meta.recipients(), OtherKeys: meta.otherKeys()}
	clear := clearPaths(docs, compileRules(meta.rules))
	es, hidden, err := readEntries(path, docs, clear, true)
	if err != nil {
		return nil, err
	}
	m.Entries, m.Hidden = es, hidden
	for _, e := range es {
		if clear[fieldPath(e.Host, "token")] || clear[fieldPath(e.Host, "refresh_token")] {
			m.Cleartext = append(m.Cleartext, e.Host)
		}
	}
	return m, nil
}
