package crypt

// YAML sops files, read and written as sops 3.13.3's YAML store does
// (stores/yaml): every document is a mapping, comments become tree items
// so that they are kept (and encrypted when the rules say so), aliases are
// expanded, and the output is indented by 4 spaces.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// sopsYAMLIndent is sops's default YAML indentation.
const sopsYAMLIndent = 4

// parseSopsYAML reads every document of in. Duplicate keys are refused in
// every document (sops checks the first only): two values for one key are
// an ambiguity a reader and a writer could resolve differently.
func parseSopsYAML(in []byte) ([]treeBranch, error) {
	var docs []treeBranch
	if len(in) == 0 {
		return nil, nil
	}
	d := yaml.NewDecoder(bytes.NewReader(in))
	for {
		var n yaml.Node
		err := d.Decode(&n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, yamlError(err)
		}
		// Decoding the node into a map is what checks duplicate keys and
		// bounds alias expansion (yaml's "excessive aliasing"); the walk
		// below expands aliases again, which is then bounded too.
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return nil, yamlError(err)
		}
		b, err := yamlToBranch(&n, nil, false, 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
	return docs, nil
}

// yamlError keeps yaml's message (a line number and what is wrong) but not
// its quotation of the input, which could be a token, and makes it one
// short line.
func yamlError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "`"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " ..."
	}
	msg = strings.Join(strings.Fields(strings.TrimPrefix(msg, "yaml: ")), " ")
	return errors.New(msg)
}

func appendComments(b treeBranch, text string, inline bool) treeBranch {
	for _, l := range strings.Split(text, "\n") {
		if l != "" {
			b = append(b, treeItem{Key: sopsComment{Value: l[1:], Inline: inline}})
		}
	}
	return b
}

func appendListComments(l []any, text string, inline bool) []any {
	for _, line := range strings.Split(text, "\n") {
		if line != "" {
			l = append(l, sopsComment{Value: line[1:], Inline: inline})
		}
	}
	return l
}

// yamlToBranch adds the content of a document or mapping node to b.
func yamlToBranch(n *yaml.Node, b treeBranch, commentsHandled bool, depth int) (treeBranch, error) {
	if depth > maxTreeDepth {
		return nil, errTooDeep
	}
	if !commentsHandled {
		b = appendComments(b, n.HeadComment, false)
		b = appendComments(b, n.LineComment, false)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			var err error
			if b, err = yamlToBranch(c, b, false, depth+1); err != nil {
				return nil, err
			}
		}
	case yaml.SequenceNode:
		return nil, errors.New("a YAML document that is a list is not supported (sops files are mappings)")
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			b = appendComments(b, k.HeadComment, false)
			b = appendComments(b, k.LineComment, false)
			scalar := v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode
			if scalar {
				b = appendComments(b, v.HeadComment, false)
				b = appendComments(b, v.LineComment, true)
			}
			var key any
			_ = k.Decode(&key)
			if _, ok := key.(string); !ok {
				return nil, fmt.Errorf("a mapping key is a %s, not a string (quote it)", typeName(key))
			}
			val, err := yamlToValue(v, scalar, depth+1)
			if err != nil {
				return nil, err
			}
			b = append(b, treeItem{Key: key, Value: val})
			if scalar {
				b = appendComments(b, v.FootComment, false)
			}
			b = appendComments(b, k.FootComment, false)
		}
	case yaml.ScalarNode:
		// An empty document ("---" and nothing else) is null.
		if n.ShortTag() == "!!null" {
			return b, nil
		}
		return nil, errors.New("a YAML document that is a single value is not supported (sops files are mappings)")
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errors.New("an alias without its anchor")
		}
		var err error
		if b, err = yamlToBranch(n.Alias, b, false, depth+1); err != nil {
			return nil, err
		}
	}
	if !commentsHandled {
		b = appendComments(b, n.FootComment, false)
	}
	return b, nil
}

func yamlToValue(n *yaml.Node, commentsHandled bool, depth int) (any, error) {
	if depth > maxTreeDepth {
		return nil, errTooDeep
	}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []any
		if !commentsHandled {
			l = appendListComments(l, n.HeadComment, false)
			l = appendListComments(l, n.LineComment, false)
		}
		for _, it := range n.Content {
			l = appendListComments(l, it.HeadComment, false)
			l = appendListComments(l, it.LineComment, true)
			v, err := yamlToValue(it, true, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			l = appendListComments(l, it.FootComment, false)
		}
		if !commentsHandled {
			l = appendListComments(l, n.FootComment, false)
		}
		return l, nil
	case yaml.MappingNode:
		return yamlToBranch(n, treeBranch{}, commentsHandled, depth)
	case yaml.ScalarNode:
		// As sops: a scalar yaml cannot decode (a bad !!binary) is null.
		var v any
		_ = n.Decode(&v)
		return v, nil
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errors.New("an alias without its anchor")
		}
		return yamlToValue(n.Alias, false, depth+1)
	}
	return nil, nil
}

// emitSopsYAML writes documents as sops does.
func emitSopsYAML(docs []treeBranch) ([]byte, error) {
	out, sp, err := encodeSopsYAML(docs, &splicer{})
	if err != nil {
		return nil, err
	}
	if spliced, ok := sp.apply(out); ok {
		return spliced, nil
	}
	out, _, err = encodeSopsYAML(docs, nil)
	return out, err
}

func encodeSopsYAML(docs []treeBranch, sp *splicer) ([]byte, *splicer, error) {
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	e.SetIndent(sopsYAMLIndent)
	for _, d := range docs {
		m := &yaml.Node{Kind: yaml.MappingNode}
		if err := branchToYAML(d, m, sp); err != nil {
			return nil, nil, err
		}
		if err := e.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}); err != nil {
			return nil, nil, err
		}
	}
	if err := e.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), sp, nil
}

// splicer writes long lists of sops age keys (recipient, then the armored
// data key) itself: the yaml emitter keeps every event of a document and
// scans each literal byte by byte, which made it half the serial time of
// a rekey to 1000 recipients. Such a list is encoded as its first key and
// a marker item; apply then writes the other keys in place of the marker,
// in the layout the emitter gave the first one, and checks that it wrote
// the first one the same way. Anything else (comments, other shapes, a
// layout that differs) is left to the emitter: encoding again without a
// splicer gives the reference bytes, and a test holds both equal.
type splicer struct {
	lists [][]any
}

// minSpliced is the shortest list worth splicing.
const minSpliced = 8

func (sp *splicer) marker(i int) string { return fmt.Sprintf("nix-auth-spliced-age-keys-%d", i) }

// node returns the sequence to encode for l, or nil when l is not a list
// of age keys to splice.
func (sp *splicer) node(l []any) (*yaml.Node, error) {
	if sp == nil || len(l) < minSpliced {
		return nil, nil
	}
	for _, it := range l {
		if _, _, ok := ageKeyItem(it); !ok {
			return nil, nil
		}
	}
	first, err := valueToYAML(l[0], nil)
	if err != nil {
		return nil, err
	}
	mark := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: sp.marker(len(sp.lists))}
	sp.lists = append(sp.lists, l)
	return &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{first, mark}}, nil
}

// ageKeyItem is a sops age key entry without comments, as sops writes it
// (its keys sorted).
func ageKeyItem(it any) (recipient, enc string, ok bool) {
	b, isBranch := it.(treeBranch)
	if !isBranch || len(b) != 2 || b[0].Key != "enc" || b[1].Key != "recipient" {
		return "", "", false
	}
	enc, ok1 := b[0].Value.(string)
	recipient, ok2 := b[1].Value.(string)
	return recipient, enc, ok1 && ok2 && isAgeRecipient(recipient) && isArmoredAge(enc)
}

// apply replaces each marker item of out by the rest of its list.
func (sp *splicer) apply(out []byte) ([]byte, bool) {
	for i, l := range sp.lists {
		line := []byte("- " + sp.marker(i) + "\n")
		at := bytes.Index(out, line)
		if at < 0 || bytes.Count(out, line) != 1 {
			return nil, false
		}
		start := bytes.LastIndexByte(out[:at], '\n') + 1
		if strings.TrimLeft(string(out[start:at]), " ") != "" {
			return nil, false
		}
		col := at - start
		if !bytes.HasSuffix(out[:start], appendAgeKey(nil, col, l[0])) {
			return nil, false
		}
		rest := make([]byte, 0, (len(l)-1)*(at-start+len(appendAgeKey(nil, col, l[0]))))
		for _, it := range l[1:] {
			rest = appendAgeKey(rest, col, it)
		}
		out = append(out[:start:start], append(rest, out[at+len(line):]...)...)
	}
	return out, true
}

// appendAgeKey writes one age key entry as the yaml emitter does with
// sops's indentation, its dash at column col.
func appendAgeKey(b []byte, col int, it any) []byte {
	recipient, enc, _ := ageKeyItem(it)
	b = appendSpaces(b, col)
	b = append(b, "- enc: |\n"...)
	for rest := enc; rest != ""; {
		var l string
		l, rest, _ = strings.Cut(rest, "\n")
		b = appendSpaces(b, col+4)
		b = append(b, l...)
		b = append(b, '\n')
	}
	b = appendSpaces(b, col+2)
	b = append(b, "recipient: "...)
	b = append(b, recipient...)
	return append(b, '\n')
}

func appendSpaces(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}

func addHead(n *yaml.Node, comments []string) {
	n.HeadComment = addComments(n.HeadComment, comments, true)
}

func addFoot(n *yaml.Node, comments []string) {
	n.FootComment = addComments(n.FootComment, comments, false)
}

func addLine(n *yaml.Node, comments []string) {
	n.LineComment = addComments(n.LineComment, comments, false)
}

// addComments adds comment lines to a node's comment have: before it (a
// head comment, which the new lines precede) or after it.
func addComments(have string, comments []string, before bool) string {
	if len(comments) == 0 {
		return have
	}
	c := "#" + strings.Join(comments, "\n#")
	switch {
	case have == "":
		return c
	case before:
		return c + "\n" + have
	}
	return have + "\n" + c
}

func valueToYAML(v any, sp *splicer) (*yaml.Node, error) {
	switch v := v.(type) {
	case treeBranch:
		n := &yaml.Node{Kind: yaml.MappingNode}
		return n, branchToYAML(v, n, sp)
	case []any:
		if n, err := sp.node(v); n != nil || err != nil {
			return n, err
		}
		n := &yaml.Node{Kind: yaml.SequenceNode}
		return n, listToYAML(v, n, sp)
	}
	if s, ok := v.(string); ok {
		if n := fastScalar(s); n != nil {
			return n, nil
		}
	}
	n, err := encodeScalar(v)
	if err != nil {
		return nil, fmt.Errorf("a %s value cannot be written as YAML", typeName(v))
	}
	return n, nil
}

// encodeScalar is Node.Encode, except for a multi-line string that starts
// with a space or a line break: the yaml emitter writes it as a block
// scalar with an indentation indicator counted from the wrong column inside
// a sequence item ("- enc: |4"), which no reader, yaml's own included,
// reads back. Double quotes carry any string.
func encodeScalar(v any) (*yaml.Node, error) {
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 &&
		n.Value != "" && (n.Value[0] == ' ' || n.Value[0] == '\n') {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n, nil
}

// fastScalar builds, for the strings that fill a large file (encrypted
// values, age recipients, armored age keys), the node that Node.Encode
// makes, without its encode-and-parse round trip per value: a rekey to a
// thousand recipients otherwise spends a third of its time there. Any
// other string gets nil and goes through Node.Encode; a test checks that
// both give the same bytes.
func fastScalar(s string) *yaml.Node {
	switch {
	case isEncValue(s), isAgeRecipient(s), isPlainWord(s):
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	case isArmoredAge(s):
		return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.LiteralStyle, Tag: "!!str", Value: s}
	}
	return nil
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// isEncValue: ENC[AES256_GCM,data:B64,iv:B64,tag:B64,type:lower], as
// splitEncValue reads it, and nothing after.
func isEncValue(s string) bool {
	data, iv, tag, typ, ok := splitEncValue(s)
	if !ok || len(s) != len("ENC[AES256_GCM,data:,iv:,tag:,type:]")+len(data)+len(iv)+len(tag)+len(typ) ||
		!isBase64(data) || !isBase64(iv) || !isBase64(tag) {
		return false
	}
	for i := 0; i < len(typ); i++ {
		if typ[i] < 'a' || typ[i] > 'z' {
			return false
		}
	}
	return true
}

// isPlainWord is a lower-case word that YAML reads as a string, such as
// the schema's and the metadata's keys; the words YAML 1.1 read as
// booleans or null ("y", "no", "on", ...) are quoted by yaml, so they are
// left to it.
func isPlainWord(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	switch s {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// isAgeRecipient: age1 and bech32 characters.
func isAgeRecipient(s string) bool {
	rest, ok := strings.CutPrefix(s, "age1")
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// isArmoredAge is an armored age file as age's armor writer makes it.
func isArmoredAge(s string) bool {
	const begin, end = "-----BEGIN AGE ENCRYPTED FILE-----\n", "-----END AGE ENCRYPTED FILE-----\n"
	body, ok := strings.CutPrefix(s, begin)
	if !ok {
		return false
	}
	body, ok = strings.CutSuffix(body, end)
	if !ok || body == "" || !strings.HasSuffix(body, "\n") {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if l == "" || !isBase64(l) {
			return false
		}
	}
	return true
}

func listToYAML(l []any, n *yaml.Node, sp *splicer) error {
	var head, inline []string
	first := true
	for _, it := range l {
		if c, ok := it.(sopsComment); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if first {
			addHead(n, head)
			head, first = nil, false
		}
		in, err := valueToYAML(it, sp)
		if err != nil {
			return err
		}
		addHead(in, head)
		addLine(in, inline)
		head, inline = nil, nil
		n.Content = append(n.Content, in)
	}
	head = append(head, inline...)
	if first {
		addHead(n, head)
	} else {
		addFoot(n.Content[len(n.Content)-1], head)
	}
	return nil
}

func branchToYAML(b treeBranch, n *yaml.Node, sp *splicer) error {
	var head, inline []string
	first := true
	for _, it := range b {
		if c, ok := it.Key.(sopsComment); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if first {
			addHead(n, head)
			head, first = nil, false
		}
		k, _ := it.Key.(string)
		kn := fastScalar(k)
		if kn == nil || k == "" {
			var err error
			if kn, err = encodeScalar(it.Key); err != nil {
				return errors.New("a key cannot be written as YAML")
			}
		}
		addHead(kn, head)
		v, err := valueToYAML(it.Value, sp)
		if err != nil {
			return err
		}
		addLine(v, inline)
		head, inline = nil, nil
		n.Content = append(n.Content, kn, v)
	}
	head = append(head, inline...)
	if first {
		addHead(n, head)
	} else {
		addFoot(n.Content[len(n.Content)-2], head)
	}
	return nil
}
