package nixconf

import (
	"slices"
	"strings"
)

// The editor changes only the bytes it must: one host=token item, or a
// whole access-tokens line when one moves out of nix.conf. Every other
// byte, comments and spacing included, stays as the user wrote it.

// textEdit replaces data[start:end] with text.
type textEdit struct {
	start, end int
	text       string
}

// applyEdits applies non-overlapping edits. They are applied from the end
// of the file backwards so that earlier offsets stay valid; an insertion at
// the very end of a removed range is applied first and survives it.
func applyEdits(data []byte, edits []textEdit) []byte {
	slices.SortStableFunc(edits, func(a, b textEdit) int { return b.start - a.start })
	out := slices.Clone(data)
	for _, e := range edits {
		out = slices.Concat(out[:e.start], []byte(e.text), out[e.end:])
	}
	return out
}

// occurrences finds every host=token item for host in the access-tokens
// settings of one file, and which of them Nix would use (-1: none).
func occurrences(data []byte, stmts []stmt, host string) (occ []pair, winner int, last *stmt) {
	winner = -1
	for i := range stmts {
		st := &stmts[i]
		if !st.isTokens() {
			continue
		}
		last = st
		if st.name == settingTokens {
			winner = -1
		}
		for _, p := range st.pairs(data) {
			if p.host != host {
				continue
			}
			occ = append(occ, p)
			if winner < 0 {
				winner = len(occ) - 1
			}
		}
	}
	return occ, winner, last
}

// removeItem deletes an item with the whitespace before it, so that
// "a=1 b=2 c=3" loses " b=2" and keeps its spacing elsewhere.
func removeItem(p pair) textEdit { return textEdit{p.prevEnd, p.tok.end, ""} }

// names reports whether the access-tokens settings of one file have an
// item for host, used by Nix or not.
func names(data []byte, path, host string) bool {
	stmts, err := parseFile(data, path)
	if err != nil {
		return false
	}
	occ, _, _ := occurrences(data, stmts, host)
	return len(occ) > 0
}

// setToken makes the file give host the token. The item Nix uses is
// replaced in place; other items for host are removed, since Nix ignores
// them and they may hold an old token; a new host goes at the end of the
// last access-tokens line, or on a new extra-access-tokens line when there
// is none.
func setToken(data []byte, path, host, token string) ([]byte, error) {
	stmts, err := parseFile(data, path)
	if err != nil {
		return nil, err
	}
	item := host + "=" + token
	occ, winner, last := occurrences(data, stmts, host)
	var edits []textEdit
	for i, p := range occ {
		if i == winner {
			edits = append(edits, textEdit{p.tok.start, p.tok.end, item})
		} else {
			edits = append(edits, removeItem(p))
		}
	}
	if winner < 0 {
		if last == nil {
			return appendLine(applyEdits(data, edits), settingExtraTokens+" = "+item), nil
		}
		end := last.toks[len(last.toks)-1].end
		edits = append(edits, textEdit{end, end, " " + item})
	}
	return applyEdits(data, edits), nil
}

// removeToken deletes every item for host; found says whether Nix used one
// of them.
func removeToken(data []byte, path, host string) (out []byte, found bool, err error) {
	stmts, err := parseFile(data, path)
	if err != nil {
		return nil, false, err
	}
	occ, winner, _ := occurrences(data, stmts, host)
	edits := make([]textEdit, 0, len(occ))
	for _, p := range occ {
		edits = append(edits, removeItem(p))
	}
	return applyEdits(data, edits), winner >= 0, nil
}

// addOnly makes the tokens file add to the tokens set before it instead of
// replacing them: an "access-tokens" line there would drop every token of
// the system's config (NixOS's nix.settings, a fleet's render) for this
// user. The last access-tokens line becomes extra-access-tokens, and the
// token lines before it, which it replaced, go: the file gives Nix the
// same tokens of its own as before.
func addOnly(data []byte, path string) ([]byte, error) {
	stmts, err := parseFile(data, path)
	if err != nil {
		return nil, err
	}
	last := -1
	for i, st := range stmts {
		if st.isTokens() && st.name == settingTokens {
			last = i
		}
	}
	if last < 0 {
		return data, nil
	}
	var edits []textEdit
	for _, st := range stmts[:last] {
		if st.isTokens() {
			edits = append(edits, wholeLine(data, st))
		}
	}
	name := stmts[last].toks[0]
	edits = append(edits, textEdit{name.start, name.end, settingExtraTokens})
	return applyEdits(data, edits), nil
}

// addsAlready reports whether a file has token lines, all of them
// extra-access-tokens.
func addsAlready(data []byte, path string) bool {
	stmts, err := parseFile(data, path)
	if err != nil {
		return false
	}
	n := 0
	for _, st := range stmts {
		if st.isTokens() {
			if st.name == settingTokens {
				return false
			}
			n++
		}
	}
	return n > 0
}

// wholeLine deletes a statement's line with its newline.
func wholeLine(data []byte, st stmt) textEdit {
	end := st.end
	if end < len(data) {
		end++ // the '\n'
	}
	return textEdit{st.start, end, ""}
}

// removeTokenLines deletes whole access-tokens and extra-access-tokens
// lines, with their newline.
func removeTokenLines(data []byte, stmts []stmt) []byte {
	var edits []textEdit
	for _, st := range stmts {
		if st.isTokens() {
			edits = append(edits, wholeLine(data, st))
		}
	}
	return applyEdits(data, edits)
}

// redactTokenLines replaces each access-tokens and extra-access-tokens
// line with a comment naming its hosts and where their tokens went: the
// backup made before a migration keeps every other byte, never a token.
func redactTokenLines(data []byte, stmts []stmt, tokFile string) []byte {
	var edits []textEdit
	for _, st := range stmts {
		if !st.isTokens() {
			continue
		}
		var hosts []string
		for _, p := range st.pairs(data) {
			hosts = append(hosts, p.host)
		}
		edits = append(edits, textEdit{st.start, st.end,
			"# " + st.name + " for " + strings.Join(hosts, " ") + ": moved to " + tokFile + " by nix-auth"})
	}
	return applyEdits(data, edits)
}

// appendLine adds a line at the end, after a newline if the file lacks one.
func appendLine(data []byte, line string) []byte {
	out := slices.Clone(data)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(append(out, line...), '\n')
}
