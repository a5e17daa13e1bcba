package crypt

// The sops v3 tree and its value encryption, as sops 3.13.3 defines them
// (sops.go and aes/cipher.go in github.com/getsops/sops/v3): a document is
// an ordered tree whose keys stay readable and whose values are encrypted
// one by one with AES-256-GCM under the file's data key, each with its key
// path ("hosts:github.com:token:") as additional data. Which values are
// encrypted is decided by the file's rule (suffixes, regexes on key names,
// regexes on the comments above a value). The MAC is SHA-512 over the
// values in walk order, never over key names or structure; it is stored
// encrypted with `lastmodified` as additional data.
//
// Only what sops itself puts in a tree is accepted: string, int, float64,
// bool, time.Time (YAML timestamps), []byte (decrypted "bytes" values),
// nil, comments, lists and mappings with string keys.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sopsComment is a YAML comment in the tree: a key of a mapping item
// (whose value is nil) or an element of a list. Value is the text after
// the '#'.
type sopsComment struct {
	Value  string
	Inline bool
}

// treeItem is one key of a mapping, in file order. Key is a string or a
// sopsComment.
type treeItem struct {
	Key   any
	Value any
}

// treeBranch is a mapping that keeps its order and comments.
type treeBranch []treeItem

// defaultUnencryptedSuffix is the rule of a file whose metadata names none.
const defaultUnencryptedSuffix = "_unencrypted"

// macOnlyEncryptedInit starts the MAC of a mac_only_encrypted file, so that
// its MAC never equals the MAC over all values (sha256("sops")).
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// sopsRules decides which values are encrypted. At most one of the six
// strings is set; a file whose metadata sets none gets
// defaultUnencryptedSuffix, as sops does when it loads it.
type sopsRules struct {
	UnencryptedSuffix, EncryptedSuffix             string
	UnencryptedRegex, EncryptedRegex               string
	UnencryptedCommentRegex, EncryptedCommentRegex string
	MACOnlyEncrypted                               bool
}

// ruleName names the rule in force, for messages: "encrypted_regex
// ^(token|refresh_token)$".
func (r sopsRules) ruleName() string {
	for _, x := range []struct{ name, v string }{
		{"unencrypted_suffix", r.UnencryptedSuffix}, {"encrypted_suffix", r.EncryptedSuffix},
		{"unencrypted_regex", r.UnencryptedRegex}, {"encrypted_regex", r.EncryptedRegex},
		{"unencrypted_comment_regex", r.UnencryptedCommentRegex}, {"encrypted_comment_regex", r.EncryptedCommentRegex},
	} {
		if x.v != "" {
			return x.name + " " + strconv.Quote(x.v)
		}
	}
	return "no rule (every value encrypted)"
}

// count is how many of the six rules are set: sops refuses a file or a
// creation rule with more than one.
func (r sopsRules) count() int {
	n := 0
	for _, v := range []string{r.UnencryptedSuffix, r.EncryptedSuffix, r.UnencryptedRegex, r.EncryptedRegex, r.UnencryptedCommentRegex, r.EncryptedCommentRegex} {
		if v != "" {
			n++
		}
	}
	return n
}

// ruleSet is sopsRules with its regular expressions compiled once. A
// pattern that does not compile never matches, as in sops (which ignores
// regexp.Match's error).
type ruleSet struct {
	sopsRules
	unencRe, encRe, unencCommentRe, encCommentRe *regexp.Regexp
}

func compileRules(r sopsRules) *ruleSet {
	rs := &ruleSet{sopsRules: r}
	compile := func(p string) *regexp.Regexp {
		if p == "" {
			return nil
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil
		}
		return re
	}
	rs.unencRe, rs.encRe = compile(r.UnencryptedRegex), compile(r.EncryptedRegex)
	rs.unencCommentRe, rs.encCommentRe = compile(r.UnencryptedCommentRegex), compile(r.EncryptedCommentRegex)
	return rs
}

// encrypts reports whether the value at path is encrypted, given the
// comments above it at each level (comments[i] are those right above the
// key at depth i). isComment is true for a comment itself, which an
// encrypted_comment_regex never encrypts through its own match.
func (r *ruleSet) encrypts(path []string, comments [][]string, isComment bool) bool {
	match := func(re *regexp.Regexp, s string) bool { return re != nil && re.MatchString(s) }
	encrypted := true
	if r.UnencryptedSuffix != "" {
		for _, p := range path {
			if strings.HasSuffix(p, r.UnencryptedSuffix) {
				encrypted = false
				break
			}
		}
	}
	if r.EncryptedSuffix != "" {
		encrypted = false
		for _, p := range path {
			if strings.HasSuffix(p, r.EncryptedSuffix) {
				encrypted = true
				break
			}
		}
	}
	if r.UnencryptedRegex != "" {
		for _, p := range path {
			if match(r.unencRe, p) {
				encrypted = false
				break
			}
		}
	}
	if r.EncryptedRegex != "" {
		encrypted = false
		for _, p := range path {
			if match(r.encRe, p) {
				encrypted = true
				break
			}
		}
	}
	if r.UnencryptedCommentRegex != "" {
	unenc:
		for _, cs := range comments {
			for _, c := range cs {
				if match(r.unencCommentRe, c) {
					encrypted = false
					break unenc
				}
			}
		}
	}
	if r.EncryptedCommentRegex != "" {
		encrypted = false
		last := len(comments) - 1
	enc:
		for i, cs := range comments {
			for j, c := range cs {
				// The matching comment line itself stays readable.
				if isComment && i == last && j == len(cs)-1 {
					continue
				}
				if match(r.encCommentRe, c) {
					encrypted = true
					break enc
				}
			}
		}
	}
	return encrypted
}

// leafFunc sees each leaf (scalar or comment) with its key path and the
// comments above it, and returns its replacement.
type leafFunc func(v any, path []string, comments [][]string) (any, error)

// maxTreeDepth bounds nesting: the walk recurses, and no token store is
// anywhere near this deep.
const maxTreeDepth = 200

var errTooDeep = errors.New("the document is nested too deeply")

// walkBranch visits every leaf of b in sops's order, replacing each with
// what f returns. A comment key is a leaf too; its own replacement may be
// a string (an encrypted comment) that becomes the comment's text.
func walkBranch(b treeBranch, path []string, comments [][]string, f leafFunc) error {
	if len(path) > maxTreeDepth {
		return errTooDeep
	}
	comments = append(comments[:len(comments):len(comments)], nil)
	top := len(comments) - 1
	for i, it := range b {
		if c, ok := it.Key.(sopsComment); ok {
			comments[top] = append(comments[top], c.Value)
			v, err := f(c, path, comments)
			if err != nil {
				return err
			}
			switch v := v.(type) {
			case sopsComment:
				b[i].Key = v
			case string:
				b[i].Key = sopsComment{Value: v, Inline: c.Inline}
			default:
				return fmt.Errorf("a comment became a %T", v)
			}
			continue
		}
		c, valueIsComment := it.Value.(sopsComment)
		if valueIsComment {
			comments[top] = append(comments[top], c.Value)
		}
		key, ok := it.Key.(string)
		if !ok {
			return fmt.Errorf("a key is a %s, not a string: sops supports string keys only", typeName(it.Key))
		}
		v, err := walkValue(it.Value, append(path[:len(path):len(path)], key), comments, f)
		if err != nil {
			return err
		}
		b[i].Value = v
		if !valueIsComment {
			comments[top] = nil
		}
	}
	return nil
}

func walkList(l []any, path []string, comments [][]string, f leafFunc) error {
	if len(comments) > maxTreeDepth {
		return errTooDeep
	}
	comments = append(comments[:len(comments):len(comments)], nil)
	top := len(comments) - 1
	for i, v := range l {
		c, isComment := v.(sopsComment)
		if isComment {
			comments[top] = append(comments[top], c.Value)
		}
		nv, err := walkValue(v, path, comments, f)
		if err != nil {
			return err
		}
		l[i] = nv
		if !isComment {
			comments[top] = nil
		}
	}
	return nil
}

func walkValue(v any, path []string, comments [][]string, f leafFunc) (any, error) {
	switch v := v.(type) {
	case string, int, bool, float64, time.Time, sopsComment:
		return f(v, path, comments)
	case []byte:
		return f(string(v), path, comments)
	case treeBranch:
		return v, walkBranch(v, path, comments, f)
	case []any:
		return v, walkList(v, path, comments, f)
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("a value is a %s, which sops cannot store", typeName(v))
}

// typeName names a Go value's type for messages without quoting it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case uint64, int64:
		return "number out of range"
	case map[string]any, map[any]any, treeBranch:
		return "mapping"
	case []any:
		return "list"
	case bool:
		return "boolean"
	case int, float64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// valueBytes is what the MAC hashes for a value, as sops's ToBytes.
func valueBytes(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case int:
		return []byte(strconv.Itoa(v)), nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		if v {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case []byte:
		return v, nil
	case time.Time:
		return v.MarshalText()
	case sopsComment:
		return []byte(v.Value), nil
	}
	return nil, fmt.Errorf("a %s value cannot be hashed", typeName(v))
}

// treeWalk is one encryption or decryption pass over a file's documents.
type treeWalk struct {
	rules *ruleSet
	key   []byte
	c     *valueCipher
	mac   hash.Hash
	// clear collects the paths ("hosts:h:token:") of values that the rules
	// leave unencrypted; cleared once one is found encrypted elsewhere
	// would be wrong, so a path is clear when any of its leaves is.
	clear map[string]bool
	// failed is the path of the value that did not decrypt.
	failed string
}

func newTreeWalk(rules *ruleSet, key []byte, c *valueCipher) *treeWalk {
	w := &treeWalk{rules: rules, key: key, c: c, mac: sha512.New(), clear: map[string]bool{}}
	if rules.MACOnlyEncrypted {
		w.mac.Write(macOnlyEncryptedInit)
	}
	return w
}

func (w *treeWalk) sum() string { return fmt.Sprintf("%X", w.mac.Sum(nil)) }

func (w *treeWalk) hashValue(v any) error {
	if _, ok := v.(sopsComment); ok {
		return nil
	}
	b, err := valueBytes(v)
	if err != nil {
		return err
	}
	w.mac.Write(b)
	return nil
}

// encrypt encrypts docs in place and returns the MAC over their plaintext
// values, as sops's Tree.Encrypt.
func (w *treeWalk) encrypt(docs []treeBranch) (string, error) {
	for _, d := range docs {
		err := walkBranch(d, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			_, isComment := v.(sopsComment)
			enc := w.rules.encrypts(path, comments, isComment)
			if !enc && !isComment {
				w.clear[strings.Join(path, ":")+":"] = true
			}
			if !w.rules.MACOnlyEncrypted || enc {
				if err := w.hashValue(v); err != nil {
					return nil, err
				}
			}
			if !enc {
				return v, nil
			}
			out, err := w.c.encrypt(v, w.key, strings.Join(path, ":")+":")
			if err != nil {
				return nil, err
			}
			if isComment && w.rules.unencCommentRe != nil && w.rules.unencCommentRe.MatchString(out) {
				return nil, errors.New("an encrypted comment matches unencrypted_comment_regex, so it could never be decrypted")
			}
			return out, nil
		})
		if err != nil {
			return "", err
		}
	}
	return w.sum(), nil
}

// decrypt decrypts docs in place and returns the MAC over their values, as
// sops's Tree.Decrypt: a comment that does not decrypt is taken as written
// in clear; any other value that should be encrypted and does not decrypt
// is an error, with its path in w.failed.
func (w *treeWalk) decrypt(docs []treeBranch) (string, error) {
	for _, d := range docs {
		err := walkBranch(d, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			c, isComment := v.(sopsComment)
			enc := w.rules.encrypts(path, comments, isComment)
			ad := strings.Join(path, ":") + ":"
			out := v
			switch {
			case !enc:
				if !isComment {
					w.clear[ad] = true
				}
			case isComment:
				if p, err := w.c.decrypt(c.Value, w.key, ad); err == nil {
					out = p
				}
			default:
				s, ok := v.(string)
				if !ok {
					w.failed = ad
					return nil, fmt.Errorf("a %s where an encrypted value belongs", typeName(v))
				}
				p, err := w.c.decrypt(s, w.key, ad)
				if err != nil {
					w.failed = ad
					return nil, err
				}
				out = p
			}
			if !w.rules.MACOnlyEncrypted || enc {
				if err := w.hashValue(out); err != nil {
					return nil, err
				}
			}
			return out, nil
		})
		if err != nil {
			return "", err
		}
	}
	return w.sum(), nil
}

// valueCipher is sops's AES256_GCM value cipher. It remembers the IV of
// every value it decrypted, so that an unchanged value encrypts to the same
// ciphertext again and a save changes only the lines of changed values, as
// `sops edit` does.
type valueCipher struct {
	ivs map[ivKey][]byte
}

type ivKey struct {
	ad string
	v  any
}

func newValueCipher() *valueCipher { return &valueCipher{ivs: map[ivKey][]byte{}} }

// stashKey keys a value by what GCM seals: a []byte (not comparable) by its
// content, a comment by its text, so that a remembered IV is only ever used
// again for the same plaintext and additional data.
func stashKey(ad string, v any) ivKey {
	switch v := v.(type) {
	case []byte:
		return ivKey{ad, string(v)}
	case sopsComment:
		return ivKey{ad, sopsComment{Value: v.Value}}
	}
	return ivKey{ad, v}
}

// sopsNonceSize is the IV length sops uses (longer than GCM's usual 12).
const sopsNonceSize = 32

// splitEncValue takes a value apart as sops's own pattern does,
// `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`, without
// compiling it at every start: within the first line (`.` stops at a line
// break), each group is as long as it can be with the rest still matching,
// so every separator is the last one that leaves room for what follows,
// and text after the last ']' is ignored. TestSplitEncValue holds it to
// the pattern.
func splitEncValue(s string) (data, iv, tag, typ string, ok bool) {
	const prefix = "ENC[AES256_GCM,data:"
	line, _, _ := strings.Cut(s, "\n")
	if !strings.HasPrefix(line, prefix) {
		return "", "", "", "", false
	}
	// last finds the last sep that starts after from and ends at least one
	// byte before to.
	last := func(sep string, from, to int) int {
		if to-1 < from+len(sep) {
			return -1
		}
		i := strings.LastIndex(line[from:to-1], sep)
		if i < 0 {
			return -1
		}
		return from + i
	}
	end := strings.LastIndexByte(line, ']')
	if end < 0 {
		return "", "", "", "", false
	}
	t := last(",type:", len(prefix)+1, end)
	if t < 0 {
		return "", "", "", "", false
	}
	g := last(",tag:", len(prefix)+1, t)
	if g < 0 {
		return "", "", "", "", false
	}
	v := last(",iv:", len(prefix)+1, g)
	if v < 0 {
		return "", "", "", "", false
	}
	return line[len(prefix):v], line[v+len(",iv:") : g], line[g+len(",tag:") : t], line[t+len(",type:") : end], true
}

// isEmptyValue: sops stores empty strings (and empty comments) as they
// are, unencrypted.
func isEmptyValue(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case []byte:
		return len(v) == 0
	case sopsComment:
		return v.Value == ""
	}
	return false
}

func (c *valueCipher) encrypt(v any, key []byte, ad string) (string, error) {
	if isEmptyValue(v) {
		return "", nil
	}
	var plain []byte
	var typ string
	switch v := v.(type) {
	case string:
		typ, plain = "str", []byte(v)
	case int:
		typ, plain = "int", []byte(strconv.Itoa(v))
	case float64:
		typ, plain = "float", []byte(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		typ = "bool"
		plain = []byte("False")
		if v {
			plain = []byte("True")
		}
	case time.Time:
		b, err := v.MarshalText()
		if err != nil {
			return "", errors.New("a timestamp cannot be encoded")
		}
		typ, plain = "time", b
	case sopsComment:
		typ, plain = "comment", []byte(v.Value)
	default:
		return "", fmt.Errorf("a %s value cannot be encrypted", typeName(v))
	}
	k := stashKey(ad, v)
	iv, ok := c.ivs[k]
	if !ok {
		iv = make([]byte, sopsNonceSize)
		if _, err := rand.Read(iv); err != nil {
			return "", err
		}
		// The next save of the same value keeps this ciphertext too.
		c.ivs[k] = iv
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return "", err
	}
	out := gcm.Seal(nil, iv, plain, []byte(ad))
	tag := len(out) - gcm.Overhead()
	return "ENC[AES256_GCM,data:" + base64.StdEncoding.EncodeToString(out[:tag]) +
		",iv:" + base64.StdEncoding.EncodeToString(iv) +
		",tag:" + base64.StdEncoding.EncodeToString(out[tag:]) +
		",type:" + typ + "]", nil
}

// errNotDecrypted keeps the cause of a failed decryption out of messages:
// the value may be a token someone wrote in clear.
var errNotDecrypted = errors.New("the value does not decrypt with the file's key")

func (c *valueCipher) decrypt(s string, key []byte, ad string) (any, error) {
	if s == "" {
		return "", nil
	}
	m1, m2, m3, typ, ok := splitEncValue(s)
	if !ok {
		return nil, errNotDecrypted
	}
	data, err1 := base64.StdEncoding.DecodeString(m1)
	iv, err2 := base64.StdEncoding.DecodeString(m2)
	tag, err3 := base64.StdEncoding.DecodeString(m3)
	if err1 != nil || err2 != nil || err3 != nil || len(iv) == 0 {
		return nil, errNotDecrypted
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, errNotDecrypted
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(ad))
	if err != nil {
		return nil, errNotDecrypted
	}
	var v any
	switch typ {
	case "str":
		v = string(plain)
	case "int":
		v, err = strconv.Atoi(string(plain))
	case "float":
		v, err = strconv.ParseFloat(string(plain), 64)
	case "bytes":
		v = plain
	case "bool":
		v, err = strconv.ParseBool(string(plain))
	case "time":
		var t time.Time
		err = t.UnmarshalText(plain)
		v = t
	case "comment":
		v = sopsComment{Value: string(plain)}
	default:
		return nil, errNotDecrypted
	}
	if err != nil {
		return nil, errNotDecrypted
	}
	c.ivs[stashKey(ad, v)] = iv
	return v, nil
}

// copyTree deep-copies documents, so that encrypting a copy leaves the
// plaintext tree as it was.
func copyTree(docs []treeBranch) []treeBranch {
	out := make([]treeBranch, len(docs))
	for i, d := range docs {
		out[i] = copyValue(d).(treeBranch)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case treeBranch:
		out := make(treeBranch, len(v))
		for i, it := range v {
			out[i] = treeItem{Key: it.Key, Value: copyValue(it.Value)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyValue(x)
		}
		return out
	case []byte:
		return append([]byte(nil), v...)
	}
	return v
}
