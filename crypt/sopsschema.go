package crypt

// What nix-auth checks in a sops store on top of sops's MAC. The MAC is a
// hash of the values in walk order: it says nothing about the key names or
// the structure around them. Anyone who can write the file can rename
// `created` to `expires` and back, move a value to another key, or put a
// token in clear under rules that do not encrypt it, and `sops -d` still
// succeeds. So after decrypting, every host must be a valid host name with
// a valid token, every field must have its type, created must not be after
// expires nor in the future, the provider must be a known forge, and no
// token or other secret-looking field may be stored in clear.

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// createdSkew is how far in the future a created time may be: the clocks
// of the machine that wrote the store and of the host reading it differ.
const createdSkew = 10 * time.Minute

// secretField matches field names that hold secrets by their name; such a
// field of a host must be encrypted like the token.
// It is compiled on first use: a process that never checks a store does
// not pay for it.
var secretField = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(token|secret|passw|passphrase|credential|private|api_?key|_key$|^key$)`)
})

// fieldPath is the sops path (and additional data) of a host's field.
func fieldPath(host, field string) string { return hostsKey + ":" + host + ":" + field + ":" }

func schemaErr(path, host, field, detail string, hints ...string) *FileError {
	e := fileErr(path, ErrSchema, detail, hints...)
	e.Host, e.Field = host, field
	return e
}

// cleartextErr says that the file's rules leave a host's secret in clear;
// writing says whether a write was refused.
func cleartextErr(path, host, field string, rules sopsRules, writing bool) *FileError {
	what := "is stored in clear text"
	if writing {
		what = "would be stored in clear text"
	}
	fix := "encrypt it: add " + field + " to the file's encrypted_regex, e.g. ^(token|refresh_token)$"
	switch {
	case rules.EncryptedSuffix != "":
		fix = "encrypt it: the file's encrypted_suffix " + strconv.Quote(rules.EncryptedSuffix) + " only encrypts keys ending in it; re-create the store with nix-auth's own rules (encrypted_regex ^(token|refresh_token)$)"
	case rules.UnencryptedRegex != "" || rules.UnencryptedSuffix != "" || rules.UnencryptedCommentRegex != "":
		fix = "encrypt it: change the file's " + rules.ruleName() + " so that it does not match " + field + ", or re-create the store with nix-auth's own rules (encrypted_regex ^(token|refresh_token)$)"
	case rules.EncryptedCommentRegex != "":
		fix = "encrypt it: the file's " + rules.ruleName() + " only encrypts values under a matching comment; re-create the store with nix-auth's own rules (encrypted_regex ^(token|refresh_token)$)"
	}
	hints := []string{fix, "`sops decrypt` the file, fix the sops metadata (or the .sops.yaml rule) and `sops encrypt` it again; rotate a token that was committed in clear"}
	if writing {
		hints = append(hints, "nothing was written")
	}
	e := fileErr(path, ErrCleartext, fmt.Sprintf("hosts: %s: %s %s under the file's %s", host, field, what, rules.ruleName()), hints...)
	e.Host, e.Field = host, field
	return e
}

// clearPaths are the paths whose values rules leave unencrypted, computed
// on the tree as it is (sops decides on the encrypted tree when it
// decrypts and on the plain one when it encrypts; both see the same keys
// and the same readable comments).
func clearPaths(docs []treeBranch, rules *ruleSet) map[string]bool {
	clear := map[string]bool{}
	for _, d := range docs {
		_ = walkBranch(d, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			_, isComment := v.(sopsComment)
			if !isComment && !rules.encrypts(path, comments, false) {
				clear[strings.Join(path, ":")+":"] = true
			}
			return v, nil
		})
	}
	return clear
}

// checkCleartext refuses a host whose token, refresh token or other
// secret-looking field is stored (or would be) in clear.
func checkCleartext(path string, docs []treeBranch, clear map[string]bool, rules sopsRules) error {
	inClear := func(p string, v any) bool {
		if clear[p] {
			return true
		}
		switch v.(type) {
		case treeBranch, []any:
			for c := range clear {
				if strings.HasPrefix(c, p) {
					return true
				}
			}
		}
		return false
	}
	hosts, _, err := hostsBranch(path, docs)
	if err != nil {
		return err
	}
	for _, it := range hosts {
		host, ok := it.Key.(string)
		if !ok {
			continue
		}
		fields, _ := it.Value.(treeBranch)
		for _, f := range fields {
			name, ok := f.Key.(string)
			if !ok || !secretField().MatchString(name) || isEmptyValue(f.Value) || f.Value == nil {
				continue
			}
			if inClear(fieldPath(host, name), f.Value) {
				return cleartextErr(path, host, name, rules, false)
			}
		}
	}
	return nil
}

// checkStore validates a decrypted store; see the top of this file.
func checkStore(path string, docs []treeBranch, clear map[string]bool, rules sopsRules, now time.Time) error {
	// Secrets in clear first: that error names the rule to change.
	if err := checkCleartext(path, docs, clear, rules); err != nil {
		return err
	}
	es, _, err := readEntries(path, docs, nil, false)
	if err != nil {
		return err
	}
	return checkEntries(path, es, now)
}

// checkEntries checks what the MAC does not: values that fit their keys,
// with the rule every entry nix-auth writes follows (checkEntry), and
// metadata that is consistent.
func checkEntries(path string, es []Entry, now time.Time) error {
	fix := "fix it with `sops edit " + path + "`"
	for _, e := range es {
		if err := checkEntry(e); err != nil {
			var ee *entryError
			field := ""
			if errors.As(err, &ee) {
				field = ee.field
			}
			return schemaErr(path, e.Host, field, "hosts: "+err.Error(), fix)
		}
		if e.Provider != "" && !providers.Kind(e.Provider).Known() {
			return schemaErr(path, e.Host, "provider", fmt.Sprintf("hosts: %s: provider %q is not a forge nix-auth knows", e.Host, e.Provider), fix)
		}
		if !e.Created.IsZero() && !e.Expires.IsZero() && e.Created.After(e.Expires) {
			return schemaErr(path, e.Host, "created", fmt.Sprintf("hosts: %s: created (%s) is after expires (%s): were the values swapped?",
				e.Host, e.Created.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339)), fix)
		}
		if !e.Created.IsZero() && e.Created.After(now.Add(createdSkew)) {
			return schemaErr(path, e.Host, "created", fmt.Sprintf("hosts: %s: created (%s) is in the future (it is %s here)",
				e.Host, e.Created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)),
				"check this machine's clock; if it is right, "+fix)
		}
	}
	return nil
}

// ReadDecrypted reads what `sops -d` prints for a token store, YAML or
// JSON, as sops-nix deploys it: the same reader and the same checks as
// Load, without the decryption. A file that still has its sops metadata
// or an encrypted token is an error wrapping ErrStillEncrypted; one that is
// not a YAML or JSON mapping wraps ErrCorrupt; one without a hosts mapping,
// or not in the store's schema, wraps ErrSchema; git-crypt ciphertext (a
// locked repository's file) wraps ErrGitCryptLocked.
func ReadDecrypted(path string, data []byte, now time.Time) ([]Entry, error) {
	if IsGitCryptCiphertext(data) {
		return nil, lockedFileErr(path)
	}
	// JSON is YAML: one reader for both, keeping the file's order.
	docs, err := parseSopsYAML(data)
	if err != nil {
		return nil, fileErr(path, ErrCorrupt, "is not a YAML or JSON tree: "+err.Error())
	}
	if len(docs) > 0 {
		if _, ok := lookup(docs[0], sopsMetadataKey); ok {
			return nil, fileErr(path, ErrStillEncrypted, "is still sops-encrypted")
		}
	}
	if len(docs) == 0 {
		return nil, schemaErr(path, "", hostsKey, "has no hosts: mapping")
	}
	if _, ok := lookup(docs[0], hostsKey); !ok {
		return nil, schemaErr(path, "", hostsKey, "has no hosts: mapping")
	}
	return decryptedEntries(path, docs, now)
}

// decryptedEntries reads and checks the entries of a tree in clear: what
// sops decrypted, or a git-crypt store.
func decryptedEntries(path string, docs []treeBranch, now time.Time) ([]Entry, error) {
	es, _, err := readEntries(path, docs, nil, false)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if strings.HasPrefix(e.Token, "ENC[") {
			return nil, fileErr(path, ErrStillEncrypted, "hosts: "+e.Host+": the token is still sops-encrypted")
		}
	}
	return es, checkEntries(path, es, now)
}

// readEntries reads the hosts of a tree. With meta set, the tree is still
// encrypted (LoadMeta): tokens are skipped, and fields the rules encrypt
// are left out and reported as hidden.
func readEntries(path string, docs []treeBranch, clear map[string]bool, meta bool) (es []Entry, hidden bool, err error) {
	hosts, _, err := hostsBranch(path, docs)
	if err != nil {
		return nil, false, err
	}
	for _, it := range hosts {
		host, ok := it.Key.(string)
		if !ok {
			continue
		}
		if err := nixconf.ValidateHost(host); err != nil {
			return nil, false, schemaErr(path, host, "", "hosts: "+err.Error(),
				"rename or remove it with `sops edit "+path+"`")
		}
		fields, ok := it.Value.(treeBranch)
		if !ok {
			return nil, false, schemaErr(path, host, "", "hosts: "+host+" is not a mapping",
				"fix it with `sops edit "+path+"`: each host holds token, provider, user, ...")
		}
		e := Entry{Host: host}
		for _, f := range fields {
			name, ok := f.Key.(string)
			if !ok {
				continue
			}
			if meta {
				if name == "token" || name == "refresh_token" {
					continue
				}
				if !clear[fieldPath(host, name)] && !isEmptyValue(f.Value) && f.Value != nil {
					hidden = true
					continue
				}
			}
			if err := setField(&e, name, f.Value); err != nil {
				return nil, false, schemaErr(path, host, name, "hosts: "+host+": "+name+" "+err.Error(),
					"fix it with `sops edit "+path+"`")
			}
		}
		if !meta && e.Token == "" {
			return nil, false, schemaErr(path, host, "token", "hosts: "+host+" has no token",
				"add it, or remove the host, with `sops edit "+path+"`")
		}
		es = append(es, e)
	}
	return es, hidden, nil
}

func setField(e *Entry, name string, v any) error {
	var err error
	switch name {
	case "token":
		e.Token, err = TokenValue(v)
	case "refresh_token":
		e.RefreshToken, err = TokenValue(v)
	case "provider":
		e.Provider, err = stringField(v)
	case "user":
		e.User, err = stringField(v)
	case "use":
		var u string
		if u, err = stringField(v); err == nil {
			if e.Use, err = ParseUse(u); err != nil {
				err = fmt.Errorf("is unknown: %w", err)
			}
		}
	case "login":
		e.Login, err = stringField(v)
	case "scopes":
		e.Scopes, err = scopeList(v)
	case "created":
		e.Created, err = timeValue(v)
	case "expires":
		e.Expires, err = timeValue(v)
	case "client_id":
		e.ClientID, err = stringField(v)
	}
	return err
}

// stringField takes a string, or nothing: a number or a boolean where a
// name belongs was not written by nix-auth.
func stringField(v any) (string, error) {
	if s, ok := v.(string); ok || v == nil {
		return s, nil
	}
	return "", fmt.Errorf("is a %s, not a string: quote it", typeName(v))
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
			if _, ok := x.(sopsComment); ok {
				continue
			}
			s, ok := x.(string)
			if !ok {
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
