package crypt

// JSON sops files, read and written as sops 3.13.3's JSON store does
// (stores/json): one top-level object whose key order is kept, integers
// within int64 as ints and other numbers as floats, output compact and then
// indented with a tab. encoding/json's map decoding would lose the order
// that the MAC and the file's diffs depend on, so the tree is built from
// the decoder's tokens.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// parseSopsJSON reads a JSON sops file into one document. Unlike sops it
// refuses duplicate keys and anything after the top-level object.
func parseSopsJSON(in []byte) ([]treeBranch, error) {
	d := json.NewDecoder(bytes.NewReader(in))
	d.UseNumber()
	t, err := d.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if t != json.Delim('{') {
		return nil, errors.New("the JSON document is not an object: sops files are objects")
	}
	b, err := jsonObject(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("there is more after the JSON object")
	}
	return []treeBranch{b}, nil
}

// jsonError drops encoding/json's quotation of the input.
func jsonError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends too early (truncated?)")
	}
	return errors.New("invalid JSON")
}

func jsonObject(d *json.Decoder, depth int) (treeBranch, error) {
	if depth > maxTreeDepth {
		return nil, errTooDeep
	}
	b := treeBranch{}
	seen := map[string]bool{}
	for {
		t, err := d.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		if t == json.Delim('}') {
			return b, nil
		}
		k, ok := t.(string)
		if !ok {
			return nil, errors.New("invalid JSON: an object key is not a string")
		}
		if seen[k] {
			return nil, fmt.Errorf("the key %q appears twice in one object", k)
		}
		seen[k] = true
		v, err := jsonValue(d, depth)
		if err != nil {
			return nil, err
		}
		b = append(b, treeItem{Key: k, Value: v})
	}
}

func jsonArray(d *json.Decoder, depth int) ([]any, error) {
	if depth > maxTreeDepth {
		return nil, errTooDeep
	}
	l := []any{}
	for {
		if !d.More() {
			if _, err := d.Token(); err != nil {
				return nil, jsonError(err)
			}
			return l, nil
		}
		v, err := jsonValue(d, depth)
		if err != nil {
			return nil, err
		}
		l = append(l, v)
	}
}

func jsonValue(d *json.Decoder, depth int) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			return jsonObject(d, depth+1)
		case '[':
			return jsonArray(d, depth+1)
		}
		return nil, errors.New("invalid JSON")
	case json.Number:
		// As sops: an integer within int64 is an int, any other number a
		// float.
		if i, err := t.Int64(); err == nil {
			return int(i), nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, errors.New("a JSON number is out of range")
		}
		return f, nil
	}
	return t, nil // string, bool or nil
}

// emitSopsJSON writes the first document as sops does.
func emitSopsJSON(docs []treeBranch) ([]byte, error) {
	if len(docs) == 0 {
		return nil, errors.New("no document to write")
	}
	var compact bytes.Buffer
	if err := jsonEncode(&compact, docs[0]); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// jsonEncode writes v compactly, with ": " after keys as sops does (the
// indentation pass keeps it), and comments left out.
func jsonEncode(w *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case treeBranch:
		w.WriteByte('{')
		first := true
		for _, it := range v {
			k, ok := it.Key.(string)
			if !ok {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			kb, err := json.Marshal(k)
			if err != nil {
				return err
			}
			w.Write(kb)
			w.WriteString(": ")
			if err := jsonEncode(w, it.Value); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	case []any:
		w.WriteByte('[')
		first := true
		for _, x := range v {
			if _, ok := x.(sopsComment); ok {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			if err := jsonEncode(w, x); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("a %s value cannot be written as JSON", typeName(v))
		}
		w.Write(b)
	}
	return nil
}
