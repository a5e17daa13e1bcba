package crypt

import (
	"bytes"
	"strings"
	"testing"

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
