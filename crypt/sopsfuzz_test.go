package crypt

// Fuzz targets for the sops reader, called without the recover() that
// Load keeps around the YAML library: a panic in nix-auth's own code must
// show up here. The seed corpus (testdata/fuzz) holds files made by the
// real sops under every rule kind, encrypted to the fixture key
// (../testdata/crypt/stores/test-key.txt), and files nix-auth wrote.

import (
	"bytes"
	"testing"
	"time"

	"filippo.io/age"
)

func fuzzPath(json bool) string {
	if json {
		return "f.json"
	}
	return "f.yaml"
}

// FuzzSopsParse: parsing, metadata, the rule walk and the readable view
// (LoadMeta) never panic, and whatever parses is written back in a form
// that parses again.
func FuzzSopsParse(f *testing.F) {
	f.Add([]byte("sops:\n    age: []\n    mac: x\n    lastmodified: x\n"), false)
	f.Add([]byte(`{"sops": 1}`), true)
	f.Add([]byte("a: &x [*x]\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		path := fuzzPath(json)
		if _, err := sopsMeta(path, data); err != nil {
			return
		}
		docs, meta, err := parseSopsFile(path, data)
		if err != nil {
			t.Fatalf("sopsMeta accepted what parseSopsFile refuses: %v", err)
		}
		s := &sopsStore{path: path, json: json, enc: docs, docs: docs, meta: meta, rules: compileRules(meta.rules)}
		out, err := s.marshal(time.Time{}, nil)
		if err != nil {
			return // a value that cannot be written back, such as NaN in JSON
		}
		if _, _, err := parseSopsFile(path, out); err != nil {
			t.Fatalf("what nix-auth writes does not parse: %v\n%s", err, out)
		}
	})
}

// FuzzSopsDecrypt: decryption, the MAC check and the schema check never
// panic; a file that decrypts is written back (as is, and encrypted anew)
// into a file that decrypts to the same tree.
func FuzzSopsDecrypt(f *testing.F) {
	id := stFixtureKey(f)
	ids := []age.Identity{id}
	now := stT0.Add(24 * time.Hour)
	f.Add([]byte("hosts: {}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		path := fuzzPath(json)
		s, clear, err := openSops(path, data, ids, nil)
		if err != nil {
			return
		}
		_ = checkStore(path, s.docs, clear, s.meta.rules, now)
		plain := siPlainOf(t, s)
		for _, dirty := range []bool{false, true} {
			s.dirty = dirty
			out, err := s.marshal(now, nil)
			if err != nil {
				continue // rules that leave a token in clear refuse a write
			}
			s2, _, err := openSops(path, out, ids, nil)
			if err != nil {
				t.Fatalf("what nix-auth writes (dirty=%v) does not decrypt: %v\n%s", dirty, err, out)
			}
			if got := siPlainOf(t, s2); !bytes.Equal(got, plain) && !bytes.Equal(headComments(t, s2), headComments(t, s)) {
				t.Fatalf("the tree changed when written back (dirty=%v)", dirty)
			}
		}
	})
}

// headComments is the decrypted tree as text with every comment at its
// head position. A value's line comment that a write encrypts (one that
// looked encrypted but was not, kept as it was on reading) comes back
// before its key, as sops itself puts every comment it decrypts.
func headComments(t *testing.T, s *sopsStore) []byte {
	t.Helper()
	var strip func(v any) any
	strip = func(v any) any {
		switch v := v.(type) {
		case treeBranch:
			out := make(treeBranch, len(v))
			for i, it := range v {
				if c, ok := it.Key.(sopsComment); ok {
					c.Inline = false
					it.Key = c
				}
				it.Value = strip(it.Value)
				out[i] = it
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				out[i] = strip(x)
			}
			return out
		case sopsComment:
			v.Inline = false
			return v
		}
		return v
	}
	docs := make([]treeBranch, len(s.docs))
	for i, d := range s.docs {
		docs[i] = strip(d).(treeBranch)
	}
	out, err := s.emit(docs)
	if err != nil {
		return []byte("unwritable: " + err.Error())
	}
	return out
}

// siPlainOf is the decrypted tree as text, without failing on trees that
// cannot be written (the fuzzer finds NaN and friends).
func siPlainOf(t *testing.T, s *sopsStore) []byte {
	t.Helper()
	out, err := s.emit(s.docs)
	if err != nil {
		return []byte("unwritable: " + err.Error())
	}
	return out
}
