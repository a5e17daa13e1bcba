package crypt

// The `sops` metadata of a file, as sops 3.13.3 reads and writes it
// (stores/stores.go, stores/metadata.go): key groups of master keys that
// each wrap the data key (or, with several groups, one Shamir share of
// it), the encryption rule, lastmodified, the encrypted MAC, the version.
// Keys are written sorted by name, in every document of the file.
//
// nix-auth uses age keys only (an armored age file per recipient). The
// stanzas of other key types (pgp, kms, gcp_kms, azure_kv, hc_vault, hckms)
// and metadata keys it does not know are kept exactly as they were: the
// data key never changes, so their wrapping stays valid.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
)

// sopsVersion is the version nix-auth writes into a new file; an existing
// file keeps its own.
const sopsVersion = "3.13.3"

// sopsMetadataKey is the top-level key holding the metadata.
const sopsMetadataKey = "sops"

// Key types sops knows besides age, with the field that names the key.
var otherKeyTypes = map[string]string{
	"pgp": "fp", "kms": "arn", "gcp_kms": "resource_id", "azure_kv": "vault_url",
	"hc_vault": "vault_address", "hckms": "key_id",
}

type sopsMetadata struct {
	groups    []keyGroup
	threshold int
	rules     sopsRules
	// lastModified is the time whose RFC 3339 text is the MAC's additional
	// data.
	lastModified time.Time
	mac          string
	version      string
	// extra are metadata keys sops 3.13.3 does not know, kept as read.
	extra treeBranch
}

type keyGroup struct {
	age []ageKey
	// other holds, per key type ("pgp", ...), its stanzas as read.
	other treeBranch
}

// ageKey is an age master key: the data key (or share) encrypted to
// recipient as an armored age file.
type ageKey struct {
	recipient, enc string
}

var errNoSopsMetadata = errors.New("no sops metadata")

// splitMetadata takes the `sops` key out of every document, as sops does,
// and parses the first document's.
func splitMetadata(docs []treeBranch) ([]treeBranch, *sopsMetadata, error) {
	var raw any
	found := false
	for i, d := range docs {
		out := d[:0:0]
		for _, it := range d {
			if it.Key == sopsMetadataKey {
				if i == 0 {
					if found {
						return nil, nil, errors.New("two `sops` keys")
					}
					found, raw = true, it.Value
				}
				continue
			}
			out = append(out, it)
		}
		docs[i] = out
	}
	if !found {
		return nil, nil, errNoSopsMetadata
	}
	b, ok := raw.(treeBranch)
	if !ok {
		return nil, nil, errors.New("`sops` is not a mapping")
	}
	m, err := parseMetadata(stripComments(b).(treeBranch))
	if err != nil {
		return nil, nil, err
	}
	if len(docs) == 0 {
		docs = []treeBranch{{}}
	}
	return docs, m, nil
}

// stripComments drops comments from metadata, as sops's decoding into a
// struct does.
func stripComments(v any) any {
	switch v := v.(type) {
	case treeBranch:
		out := treeBranch{}
		for _, it := range v {
			if _, ok := it.Key.(sopsComment); !ok {
				out = append(out, treeItem{Key: it.Key, Value: stripComments(it.Value)})
			}
		}
		return out
	case []any:
		out := []any{}
		for _, x := range v {
			if _, ok := x.(sopsComment); !ok {
				out = append(out, stripComments(x))
			}
		}
		return out
	}
	return v
}

// Weakly typed scalars, as sops's metadata decoder (mapstructure with
// WeaklyTypedInput) converts them.
func weakString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	case int:
		return strconv.Itoa(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("is a %s, not a string", typeName(v))
}

func weakInt(v any) (int, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case int:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case float64:
		if v < -1<<31 || v > 1<<31 {
			return 0, errors.New("is out of range")
		}
		return int(v), nil
	case string:
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 0, 32)
		if err != nil {
			return 0, errors.New("is not a number")
		}
		return int(n), nil
	}
	return 0, fmt.Errorf("is a %s, not a number", typeName(v))
}

func weakBool(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case int:
		return v != 0, nil
	case float64:
		return v != 0, nil
	case string:
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, errors.New("is not true or false")
		}
		return b, nil
	}
	return false, fmt.Errorf("is a %s, not true or false", typeName(v))
}

// weakList is a list of mappings; a single mapping counts as a list of
// one.
func weakList(v any) ([]treeBranch, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case treeBranch:
		if len(v) == 0 {
			return nil, nil
		}
		return []treeBranch{v}, nil
	case []any:
		out := make([]treeBranch, 0, len(v))
		for _, x := range v {
			b, ok := x.(treeBranch)
			if !ok {
				return nil, errors.New("is not a list of mappings")
			}
			out = append(out, b)
		}
		return out, nil
	}
	return nil, errors.New("is not a list of mappings")
}

func lookup(b treeBranch, key string) (any, bool) {
	for _, it := range b {
		if it.Key == key {
			return it.Value, true
		}
	}
	return nil, false
}

func parseMetadata(b treeBranch) (*sopsMetadata, error) {
	m := &sopsMetadata{}
	var flat keyGroup
	var rawGroups any
	for _, it := range b {
		name, _ := it.Key.(string)
		var err error
		switch name {
		case "lastmodified":
			var s string
			if s, err = weakString(it.Value); err == nil {
				if m.lastModified, err = time.Parse(time.RFC3339, s); err != nil {
					err = errors.New("is not an RFC 3339 time")
				}
			}
		case "mac":
			m.mac, err = weakString(it.Value)
		case "version":
			m.version, err = weakString(it.Value)
		case "shamir_threshold":
			m.threshold, err = weakInt(it.Value)
		case "mac_only_encrypted":
			m.rules.MACOnlyEncrypted, err = weakBool(it.Value)
		case "unencrypted_suffix":
			m.rules.UnencryptedSuffix, err = weakString(it.Value)
		case "encrypted_suffix":
			m.rules.EncryptedSuffix, err = weakString(it.Value)
		case "unencrypted_regex":
			m.rules.UnencryptedRegex, err = weakString(it.Value)
		case "encrypted_regex":
			m.rules.EncryptedRegex, err = weakString(it.Value)
		case "unencrypted_comment_regex":
			m.rules.UnencryptedCommentRegex, err = weakString(it.Value)
		case "encrypted_comment_regex":
			m.rules.EncryptedCommentRegex, err = weakString(it.Value)
		case "key_groups":
			rawGroups = it.Value
		case "age":
			flat.age, err = parseAgeKeys(it.Value)
		default:
			if _, ok := otherKeyTypes[name]; ok {
				err = addOtherKeys(&flat, name, it.Value)
			} else {
				m.extra = append(m.extra, it)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("sops.%s %v", name, err)
		}
	}
	if m.lastModified.IsZero() {
		if _, ok := lookup(b, "lastmodified"); !ok {
			return nil, errors.New("sops.lastmodified is missing")
		}
	}
	if m.rules.count() > 1 {
		return nil, errors.New("more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex")
	}
	if m.rules.count() == 0 {
		m.rules.UnencryptedSuffix = defaultUnencryptedSuffix
	}
	// Keys at the top level make one group and hide key_groups, as in sops.
	if len(flat.age) > 0 || len(flat.other) > 0 {
		m.groups = []keyGroup{flat}
		return m, nil
	}
	groups, err := weakList(rawGroups)
	if err != nil {
		return nil, fmt.Errorf("sops.key_groups %v", err)
	}
	for i, g := range groups {
		var kg keyGroup
		for _, it := range g {
			name, _ := it.Key.(string)
			var err error
			switch {
			case name == "age":
				kg.age, err = parseAgeKeys(it.Value)
			case otherKeyTypes[name] != "":
				err = addOtherKeys(&kg, name, it.Value)
			}
			if err != nil {
				return nil, fmt.Errorf("sops.key_groups[%d].%s %v", i, name, err)
			}
		}
		m.groups = append(m.groups, kg)
	}
	if len(m.groups) == 0 {
		return nil, errors.New("no keys in the sops metadata")
	}
	return m, nil
}

func parseAgeKeys(v any) ([]ageKey, error) {
	l, err := weakList(v)
	if err != nil {
		return nil, err
	}
	out := make([]ageKey, 0, len(l))
	for _, b := range l {
		var k ageKey
		r, _ := lookup(b, "recipient")
		e, _ := lookup(b, "enc")
		var err1, err2 error
		k.recipient, err1 = weakString(r)
		k.enc, err2 = weakString(e)
		if err1 != nil || err2 != nil {
			return nil, errors.New("has a recipient or enc that is not a string")
		}
		out = append(out, k)
	}
	return out, nil
}

// addOtherKeys keeps a key type's stanzas as read, after the check sops
// makes (created_at must be an RFC 3339 time).
func addOtherKeys(g *keyGroup, name string, v any) error {
	l, err := weakList(v)
	if err != nil {
		return err
	}
	if len(l) == 0 {
		return nil
	}
	for _, b := range l {
		c, _ := lookup(b, "created_at")
		s, err := weakString(c)
		if err != nil {
			return err
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return errors.New("has a created_at that is not an RFC 3339 time")
		}
	}
	g.other = append(g.other, treeItem{Key: name, Value: v})
	return nil
}

// otherKeyNames describes the non-age keys, as "pgp FINGERPRINT".
func (g keyGroup) otherKeyNames() []string {
	var out []string
	for _, it := range g.other {
		name := it.Key.(string)
		l, _ := weakList(it.Value)
		for _, b := range l {
			id, _ := lookup(b, otherKeyTypes[name])
			s, _ := weakString(id)
			out = append(out, strings.TrimSpace(name+" "+s))
		}
	}
	return out
}

func (m *sopsMetadata) recipients() []string {
	var r []string
	for _, g := range m.groups {
		for _, k := range g.age {
			r = append(r, k.recipient)
		}
	}
	return r
}

func (m *sopsMetadata) otherKeys() []string {
	var r []string
	for _, g := range m.groups {
		r = append(r, g.otherKeyNames()...)
	}
	return r
}

// branch is the metadata as sops writes it: keys sorted by name, empty
// optional keys left out.
func (m *sopsMetadata) branch() treeBranch {
	b := slices.Clone(m.extra)
	add := func(k string, v any) { b = append(b, treeItem{Key: k, Value: v}) }
	if len(m.groups) == 1 {
		b = append(b, m.groups[0].items(false)...)
	} else {
		var gs []any
		for _, g := range m.groups {
			gs = append(gs, treeBranch(g.items(true)))
		}
		add("key_groups", gs)
	}
	for _, x := range []struct{ k, v string }{
		{"unencrypted_suffix", m.rules.UnencryptedSuffix}, {"encrypted_suffix", m.rules.EncryptedSuffix},
		{"unencrypted_regex", m.rules.UnencryptedRegex}, {"encrypted_regex", m.rules.EncryptedRegex},
		{"unencrypted_comment_regex", m.rules.UnencryptedCommentRegex}, {"encrypted_comment_regex", m.rules.EncryptedCommentRegex},
	} {
		if x.v != "" {
			add(x.k, x.v)
		}
	}
	if m.rules.MACOnlyEncrypted {
		add("mac_only_encrypted", true)
	}
	if m.threshold != 0 {
		add("shamir_threshold", m.threshold)
	}
	add("lastmodified", m.lastModified.Format(time.RFC3339))
	add("mac", m.mac)
	add("version", m.version)
	sort.SliceStable(b, func(i, j int) bool { return b[i].Key.(string) < b[j].Key.(string) })
	return b
}

// items are a group's keys by type. Within key_groups, sops always writes
// age and hc_vault, empty or not.
func (g keyGroup) items(inGroups bool) treeBranch {
	var b treeBranch
	if len(g.age) > 0 || inGroups {
		l := make([]any, len(g.age))
		for i, k := range g.age {
			l[i] = treeBranch{{Key: "enc", Value: k.enc}, {Key: "recipient", Value: k.recipient}}
		}
		b = append(b, treeItem{Key: "age", Value: l})
	}
	b = append(b, g.other...)
	if _, ok := lookup(g.other, "hc_vault"); inGroups && !ok {
		b = append(b, treeItem{Key: "hc_vault", Value: []any{}})
	}
	sort.SliceStable(b, func(i, j int) bool { return b[i].Key.(string) < b[j].Key.(string) })
	return b
}

// dataKey unwraps the data key with ids: one age key per group (the ones
// that are for one of ids first, so a file with many recipients costs one
// unwrap), Shamir-combined when there are several groups.
func (m *sopsMetadata) dataKey(path string, ids []age.Identity, tried []string) ([]byte, error) {
	derr := &DecryptError{Path: path, Tried: tried}
	for _, g := range m.groups {
		for _, k := range g.age {
			derr.Recipients = append(derr.Recipients, k.recipient)
		}
		derr.OtherKeys = append(derr.OtherKeys, g.otherKeyNames()...)
	}
	need := 1
	if len(m.groups) > 1 {
		need = m.threshold
		if need <= 0 {
			need = len(m.groups)
		}
	}
	if len(ids) == 0 {
		return nil, derr
	}
	mine := identityRecipients(ids)
	var parts [][]byte
	// perr is a plugin identity that could not say whether a key is its
	// own (missing, or failed): when nothing decrypts, it is the reason.
	var perr error
	for _, g := range m.groups {
		if len(parts) >= need {
			break
		}
		order := make([]ageKey, 0, len(g.age))
		for _, k := range g.age {
			if mine[k.recipient] {
				order = append(order, k)
			}
		}
		for _, k := range g.age {
			if !mine[k.recipient] {
				order = append(order, k)
			}
		}
		for _, k := range order {
			p, err := unwrapArmored(k.enc, ids)
			if err == nil {
				parts = append(parts, p)
				break
			}
			if pe := pluginErr(path, ErrWrongKey, err); pe != nil && perr == nil {
				perr = pe
			}
		}
	}
	if len(parts) < need {
		if perr != nil {
			return nil, perr
		}
		return nil, derr
	}
	key := parts[0]
	if len(m.groups) > 1 {
		var err error
		if key, err = combineShares(parts); err != nil {
			return nil, fileErr(path, ErrCorrupt, "the data key shares do not combine", "restore it from version control")
		}
	}
	if len(key) != 32 {
		return nil, fileErr(path, ErrCorrupt, "the data key has the wrong size", "restore it from version control")
	}
	return key, nil
}

// identityRecipients are the recipient strings of the identities that say
// which recipient they are.
func identityRecipients(ids []age.Identity) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			m[id.Recipient().String()] = true
		case *age.HybridIdentity:
			m[id.Recipient().String()] = true
		}
	}
	return m
}

// maxWrappedKey bounds what an age stanza in a file may decrypt to: a data
// key or a Shamir share is 32 or 33 bytes.
const maxWrappedKey = 1024

func unwrapArmored(enc string, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids...)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxWrappedKey+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxWrappedKey {
		return nil, errors.New("the wrapped key is too long")
	}
	return b, nil
}

// wrapKeys encrypts key to each recipient as sops's age key source does (an
// armored age file), in parallel: a fleet's rekey wraps one key per host.
// Plugin recipients come after, one at a time: their plugins may ask the
// user something (ui), and two must not ask at once.
func wrapKeys(key []byte, recips []string, ui *plugin.ClientUI) ([]ageKey, error) {
	out := make([]ageKey, len(recips))
	errs := make([]error, len(recips))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(recips)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = wrapKey(key, recips[i], nil)
			}
		}()
	}
	var plugins []int
	for i, r := range recips {
		if runsPlugin(r) {
			plugins = append(plugins, i)
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, i := range plugins {
		out[i], errs[i] = wrapKey(key, recips[i], ui)
	}
	return out, errors.Join(errs...)
}

func wrapKey(key []byte, recip string, ui *plugin.ClientUI) (ageKey, error) {
	r, err := Recipient{Age: recip}.AgeRecipient(ui)
	if err != nil {
		return ageKey{}, err
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return ageKey{}, fmt.Errorf("wrapping the data key for %s: %w", recip, err)
	}
	if _, err := w.Write(key); err != nil {
		return ageKey{}, err
	}
	if err := w.Close(); err != nil {
		return ageKey{}, err
	}
	if err := aw.Close(); err != nil {
		return ageKey{}, err
	}
	return ageKey{recipient: recip, enc: buf.String()}, nil
}
