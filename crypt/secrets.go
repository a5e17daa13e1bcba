package crypt

import (
	"bytes"
	"errors"
	"fmt"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// A secrets file of the user's own layout, not a token store's: what
// sops-nix and git-crypt setups keep, one key per service,
//
//	{"github": {"oauth_token": "ghp_..."}, "tailscale": {...}}
//
// plain YAML or JSON, a sops file of that tree, or an .age file whose
// plaintext is (agenix). ReadSecrets reads each with the readers and
// decryption the stores use; import maps its keys to hosts.

// Item is one key of a mapping that ReadSecrets read, in file order. Value
// is a string, another scalar (a number, a bool, nil), a list ([]any) or a
// mapping ([]Item). Keys and values come from the file: untrusted text.
type Item struct {
	Key   string
	Value any
}

// SecretsFormat is what ReadSecrets found.
type SecretsFormat string

// The formats ReadSecrets reads.
const (
	SecretsPlain SecretsFormat = "plain" // YAML or JSON, unencrypted
	SecretsSOPS  SecretsFormat = "sops"  // a sops file, decrypted and its MAC checked
	SecretsAge   SecretsFormat = "age"   // an age file whose plaintext is YAML or JSON
)

// ErrNotMapping is wrapped by ReadSecrets's error for a file whose content
// is not a mapping of keys: a single secret (an agenix file holding one
// token), a list, a scalar.
var ErrNotMapping = errors.New("not a mapping of secrets")

// ReadSecrets reads data, the content of path: an age file (by its
// header, armored or binary) is decrypted with ids, a YAML or JSON tree
// with sops metadata is decrypted with ids and its MAC checked (as Load
// does), anything else is read as plain YAML or JSON. tried describes ids
// for the error when none fits. The first document's top-level mapping is
// returned; a file that is not one is an error wrapping ErrNotMapping.
func ReadSecrets(path string, data []byte, ids []age.Identity, tried []string) (items []Item, format SecretsFormat, err error) {
	defer func() {
		// yaml's code is not ours: a hostile file must not crash import.
		if r := recover(); r != nil {
			items, format, err = nil, "", fileErr(path, ErrCorrupt, "the file could not be parsed")
		}
	}()
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case IsGitCryptCiphertext(data):
		return nil, "", lockedFileErr(path)
	case bytes.HasPrefix(data, []byte("age-encryption.org/")) || bytes.HasPrefix(trimmed, []byte(armor.Header)):
		plain, _, err := decryptAge(path, data, ids, tried)
		if err != nil {
			return nil, "", err
		}
		items, err := plainSecrets(path, plain, "its plaintext ")
		return items, SecretsAge, err
	}
	docs, err := parseSopsYAML(data)
	if err != nil {
		return nil, "", notMapping(path, "", err)
	}
	if len(docs) > 0 {
		if _, ok := lookup(docs[0], sopsMetadataKey); ok {
			s, _, err := openSops(path, data, ids, tried)
			if err != nil {
				return nil, "", err
			}
			items, err := fromDocs(path, s.docs, "")
			return items, SecretsSOPS, err
		}
	}
	items, err = fromDocs(path, docs, "")
	return items, SecretsPlain, err
}

// plainSecrets reads a decrypted plaintext; what names it in errors.
func plainSecrets(path string, plain []byte, what string) ([]Item, error) {
	docs, err := parseSopsYAML(plain)
	if err != nil {
		return nil, notMapping(path, what, err)
	}
	return fromDocs(path, docs, what)
}

func notMapping(path, what string, err error) error {
	// A mapping that YAML refuses (a duplicate key, a broken line) is a
	// damaged file; anything else is not a mapping at all.
	return &FileError{Path: path, Kind: ErrNotMapping,
		Detail: what + "is not a YAML or JSON mapping of secrets (" + err.Error() + ")",
		hints:  []string{"give a file such as {\"github\": {\"oauth_token\": \"...\"}}"}}
}

// fromDocs turns the first document into Items.
func fromDocs(path string, docs []treeBranch, what string) ([]Item, error) {
	switch {
	case len(docs) == 0:
		return nil, notMapping(path, what, errors.New("it is empty"))
	case len(docs) > 1:
		return nil, notMapping(path, what, fmt.Errorf("it has %d YAML documents", len(docs)))
	}
	return branchItems(docs[0]), nil
}

func branchItems(b treeBranch) []Item {
	out := []Item{}
	for _, it := range b {
		if _, comment := it.Key.(sopsComment); comment {
			continue
		}
		key, ok := it.Key.(string)
		if !ok {
			key = fmt.Sprint(it.Key)
		}
		out = append(out, Item{Key: key, Value: itemValue(it.Value)})
	}
	return out
}

func itemValue(v any) any {
	switch v := v.(type) {
	case treeBranch:
		return branchItems(v)
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if _, comment := e.(sopsComment); !comment {
				out = append(out, itemValue(e))
			}
		}
		return out
	}
	return v
}
