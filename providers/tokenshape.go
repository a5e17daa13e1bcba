package providers

import (
	"errors"
	"math"
	"strings"
	"unicode/utf8"
)

// ErrTokenArgument is an argument given where a provider or host goes that
// looks like an access token. Its text never contains the argument.
var ErrTokenArgument = errors.New("the argument looks like an access token, not a provider or host; it was not used or sent anywhere")

// minRandom is the length from which a word made only of token characters
// is judged by how random it looks: real host labels and organisation
// names that long are words, tokens are not.
const minRandom = 20

// LooksLikeToken reports whether s, given where a provider, host or
// command goes, is shaped like an access token: it starts with a prefix a
// forge gives its tokens (in the argument or any /-separated part of it),
// or a label without dots (the host, or a path segment) is a long run of
// token characters that looks random: 32 or more hex digits (Gitea,
// Forgejo and GitLab OAuth tokens) or base64-like text whose character
// classes change as often as random text's do (SourceHut and others).
// Real hosts have dots or are short single words; organisation names are
// words.
func LooksLikeToken(s string) bool {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	for _, part := range strings.Split(s, "/") {
		if hasTokenPrefix(part) {
			return true
		}
	}
	host, path, _ := strings.Cut(s, "/")
	for _, label := range strings.Split(host, ":") {
		if !strings.Contains(label, ".") && looksRandom(label) {
			return true
		}
	}
	for _, seg := range strings.Split(path, "/") {
		if looksRandom(seg) {
			return true
		}
	}
	return false
}

// hasTokenPrefix reports whether s starts with a prefix the table gives
// forge tokens (followed by enough token characters), or with a type
// prefix Nix reads off a token (followed by anything).
func hasTokenPrefix(s string) bool {
	for _, f := range forges {
		for _, p := range f.TokenPrefixes {
			if len(s) >= len(p.Prefix)+p.MinRest && strings.EqualFold(s[:len(p.Prefix)], p.Prefix) && onlyTokenChars(s[len(p.Prefix):]) {
				return true
			}
		}
	}
	_, rest, _, typed := splitNixType(s)
	return typed && rest != ""
}

// MaskToken shows a token safely: its type prefix (GitLab's PAT: or
// OAuth2:) and the prefix its forge gives it (ghp_, glpat-, ...), which
// say what kind of token it is without any of the secret, then the last
// four characters when the token is long enough that they give nothing
// away.
func MaskToken(tok string) string {
	if tok == "" {
		return ""
	}
	prefix := ""
	if nt, rest, _, ok := splitNixType(tok); ok && strings.HasPrefix(tok, nt.Prefix) {
		prefix, tok = nt.Prefix, rest
	}
	if p := forgePrefix(tok); p != "" {
		prefix, tok = prefix+p, tok[len(p):]
	}
	if len(tok) < 12 || !utf8.ValidString(tok) {
		return prefix + "…"
	}
	r := []rune(tok)
	return prefix + "…" + string(r[len(r)-4:])
}

// forgePrefix is the longest of the table's token prefixes that tok
// starts with (exactly: a prefix is shown as the forge spells it).
func forgePrefix(tok string) string {
	best := ""
	for _, f := range forges {
		for _, p := range f.TokenPrefixes {
			if len(p.Prefix) > len(best) && strings.HasPrefix(tok, p.Prefix) {
				best = p.Prefix
			}
		}
	}
	return best
}

// onlyTokenChars reports whether s is made of the characters tokens use:
// letters, digits and base64's (standard and URL-safe) punctuation.
func onlyTokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '-' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return true
}

// looksRandom judges one label: long enough, only token characters, and
// either all hex (32 digits or more) or mixed letters and digits whose
// character class (lower, upper, digit) changes between neighbours at least
// 30% of the time, with at least 3.5 bits of entropy per character. Random
// base62 changes class about 62% of the time and random hex 47%;
// "build-server-2024-runner-01" 14%.
func looksRandom(s string) bool {
	if len(s) < minRandom || !onlyTokenChars(s) {
		return false
	}
	if len(s) >= 32 && isHex(s) {
		return true
	}
	// Punctuation is left out of the count: "-" and "_" separate the words
	// of a name, and random base64 has little of it.
	var letters, digits, changes int
	var prev byte
	for i := 0; i < len(s); i++ {
		c := class(s[i])
		switch c {
		case 'd':
			digits++
		case 'l', 'u':
			letters++
		default:
			continue
		}
		if prev != 0 && c != prev {
			changes++
		}
		prev = c
	}
	if letters == 0 || digits == 0 {
		return false
	}
	return float64(changes)/float64(letters+digits-1) >= 0.3 && entropy(s) >= 3.5
}

func class(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return 'l'
	case 'A' <= c && c <= 'Z':
		return 'u'
	case '0' <= c && c <= '9':
		return 'd'
	}
	return 'p'
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// entropy is the Shannon entropy of s's bytes, in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// HideTokens replaces every word of s that looks like a token (alone, or
// as the value of host=token, or in quotes) with "[hidden]": for text a
// program printed about input nix-auth did not write (Nix's error quoting
// a line of secrets.nix), which may carry a token it read.
func HideTokens(s string) string {
	words := strings.Fields(s)
	changed := false
	for i, w := range words {
		bare := strings.Trim(w, "'\"`,;:()[]{}<>")
		_, value, isPair := strings.Cut(bare, "=")
		if LooksLikeToken(bare) || isPair && LooksLikeToken(value) {
			words[i], changed = "[hidden]", true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(words, " ")
}
