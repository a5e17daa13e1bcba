package crypt

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"
)

// TestFastScalarMatchesEncode: the nodes fastScalar builds emit exactly
// what yaml's Node.Encode nodes emit, and other strings are left to it.
func TestFastScalarMatchesEncode(t *testing.T) {
	id := stKey(t)
	wrapped, err := wrapKey(bytes.Repeat([]byte{7}, 32), id.Recipient().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newValueCipher()
	var fast []string
	for _, v := range []any{"ghp_TESTTOKEN", 42, 1.5, true, "", "a\nb", "comment"} {
		if _, ok := v.(string); ok && v == "" {
			continue
		}
		enc, err := c.encrypt(v, bytes.Repeat([]byte{1}, 32), "hosts:h:token:")
		if err != nil {
			t.Fatal(err)
		}
		fast = append(fast, enc)
	}
	fast = append(fast, wrapped.recipient, wrapped.enc, "hosts", "token", "refresh_token", "encrypted_regex", "key_groups", "hc_vault", "a1", "_x", "age1")
	for _, s := range fast {
		n := fastScalar(s)
		if n == nil {
			t.Fatalf("no fast node for %q", s)
		}
		var slow yaml.Node
		if err := slow.Encode(s); err != nil {
			t.Fatal(err)
		}
		got, err1 := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "k"}, n}})
		want, err2 := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "k"}, &slow}})
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: fast %q, Node.Encode %q", s, got, want)
		}
	}
	for _, s := range []string{"age1Upper", "ENC[AES256_GCM,data:x,iv:,tag:y,type:str]", "ENC[AES256_GCM,data:x y,iv:a,tag:b,type:str]",
		"-----BEGIN AGE ENCRYPTED FILE-----\n-----END AGE ENCRYPTED FILE-----\n", strings.Replace(wrapped.enc, "\n", " \n", 1),
		"yes", "n", "on", "null", "true", "123", "Token", "a-b", "1a", ""} {
		if fastScalar(s) != nil {
			t.Errorf("fast node for %q", s)
		}
	}
}

// TestSplicedAgeKeys: long lists of age keys, which emitSopsYAML writes
// itself, come out byte for byte as the yaml emitter writes them, wherever
// the list sits (sops metadata, nested mappings, a mapping in a list, two
// lists, a document after another); lists it must not splice (comments,
// another shape, too short) are left to the emitter.
func TestSplicedAgeKeys(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	keys := func(n int) []any {
		var l []any
		for range n {
			k, err := wrapKey(key, stKey(t).Recipient().String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			l = append(l, treeBranch{{Key: "enc", Value: k.enc}, {Key: "recipient", Value: k.recipient}})
		}
		return l
	}
	long, short := keys(minSpliced+3), keys(minSpliced-1)
	commented := append(append([]any{}, long[:3]...), append([]any{sopsComment{Value: " a comment"}}, long[3:]...)...)
	reordered := append([]any{treeBranch{{Key: "recipient", Value: long[0].(treeBranch)[1].Value}, {Key: "enc", Value: long[0].(treeBranch)[0].Value}}}, long[1:]...)
	meta := func(age []any) treeBranch {
		return treeBranch{{Key: "age", Value: age}, {Key: "lastmodified", Value: "2026-11-29T00:00:00Z"}, {Key: "mac", Value: "x"}, {Key: "version", Value: "3.13.3"}}
	}
	cases := []struct {
		name    string
		docs    []treeBranch
		spliced int
		refused bool // a layout the splice does not know, left to the emitter
	}{
		{"sops metadata", []treeBranch{{{Key: "hosts", Value: treeBranch{}}, {Key: "sops", Value: meta(long)}}}, 1, false},
		{"top level", []treeBranch{{{Key: "age", Value: long}}}, 1, false},
		{"nested", []treeBranch{{{Key: "a", Value: treeBranch{{Key: "b", Value: treeBranch{{Key: "age", Value: long}}}}}}}, 1, false},
		{"in a list item", []treeBranch{{{Key: "x", Value: []any{treeBranch{{Key: "first", Value: "v"}, {Key: "age", Value: long}}}}}}, 1, false},
		{"list of lists", []treeBranch{{{Key: "x", Value: []any{long, "y"}}}}, 1, true},
		{"two lists, two documents", []treeBranch{{{Key: "a", Value: long}}, {{Key: "b", Value: long}, {Key: "c", Value: "d"}}}, 2, false},
		{"commented", []treeBranch{{{Key: "sops", Value: meta(commented)}}}, 0, false},
		{"reordered", []treeBranch{{{Key: "sops", Value: meta(reordered)}}}, 0, false},
		{"short", []treeBranch{{{Key: "sops", Value: meta(short)}}}, 0, false},
	}
	for _, c := range cases {
		want, _, err := encodeSopsYAML(c.docs, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, sp, err := encodeSopsYAML(c.docs, &splicer{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sp.lists) != c.spliced {
			t.Errorf("%s: %d lists spliced, want %d", c.name, len(sp.lists), c.spliced)
		}
		got, ok := sp.apply(out)
		if ok == c.refused {
			t.Errorf("%s: splice applied %v, want %v:\n%s", c.name, ok, !c.refused, out)
		}
		if ok && !bytes.Equal(got, want) {
			t.Errorf("%s: spliced output differs from the emitter's:\n%s\nwant:\n%s", c.name, got, want)
		}
		if final, err := emitSopsYAML(c.docs); err != nil || !bytes.Equal(final, want) {
			t.Errorf("%s: emitSopsYAML differs from the emitter: %v", c.name, err)
		}
	}
}

// TestSplicedStore: a store's own metadata, as marshal writes it, is
// spliced, and the file is what the emitter alone writes.
func TestSplicedStore(t *testing.T) {
	keys := make([]*age.X25519Identity, minSpliced+2)
	for i := range keys {
		keys[i] = stKey(t)
	}
	p := filepath.Join(t.TempDir(), "t.yaml")
	stCreate(t, p, stManyHosts(3), keys...)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := openSops(p, data, []age.Identity{keys[0]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs := []treeBranch{append(slices.Clip(s.enc[0]), treeItem{Key: sopsMetadataKey, Value: s.meta.branch()})}
	out, sp, err := encodeSopsYAML(docs, &splicer{})
	if err != nil || len(sp.lists) != 1 {
		t.Fatalf("%d lists spliced (%v), want 1", len(sp.lists), err)
	}
	got, ok := sp.apply(out)
	want, _, _ := encodeSopsYAML(docs, nil)
	if !ok || !bytes.Equal(got, want) || !bytes.Equal(got, data) {
		t.Errorf("spliced (applied %v):\n%s\nemitter:\n%s\nfile:\n%s", ok, got, want, data)
	}
}

// TestParseSopsYAMLRefuses: duplicate keys (in any document) and alias
// bombs are refused, the latter quickly.
func TestParseSopsYAMLRefuses(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 9; i++ {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	for name, in := range map[string]string{
		"duplicate key":                  "hosts: {}\nhosts: {}\n",
		"duplicate in a second document": "a: 1\n---\nb: 1\nb: 2\n",
		"alias bomb":                     bomb,
	} {
		if _, err := parseSopsYAML([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
