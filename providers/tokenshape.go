package providers

import (
	"errors"
	"math"
	"strings"
)

// ErrTokenArgument is an argument given where a provider or host goes that
// looks like an access token. Its text never contains the argument.
var ErrTokenArgument = errors.New("the argument looks like an access token, not a provider or host; it was not used or sent anywhere")

// tokenPrefixes are the prefixes forges give their tokens, with the length
// of random text that follows at least (shorter is a name that happens to
// start alike). GitHub: docs.github.com "About authentication to GitHub"
// (ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ server-to-server,
// ghr_ refresh, github_pat_ fine-grained). GitLab: docs.gitlab.com
// "Token prefixes" (personal, OAuth application secret, deploy, runner,
// CI/CD job, trigger, feed, incoming mail, agent, SCIM, feature flags
// client tokens, and the legacy runner registration token). Nix's own
// PAT:/OAuth2: forms of a GitLab token are tokens as well.
var tokenPrefixes = []struct {
	prefix  string
	minRest int
}{
	{"ghp_", 20}, {"gho_", 20}, {"ghu_", 20}, {"ghs_", 20}, {"ghr_", 20}, {"github_pat_", 20},
	{"glpat-", 16}, {"gloas-", 16}, {"gldt-", 16}, {"glrt-", 16}, {"glcbt-", 16}, {"glptt-", 16},
	{"glft-", 16}, {"glimt-", 16}, {"glagent-", 16}, {"glsoat-", 16}, {"glffct-", 16}, {"gr1348941", 16},
	{"pat:", 1}, {"oauth2:", 1},
}

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

func hasTokenPrefix(s string) bool {
	for _, p := range tokenPrefixes {
		if len(s) >= len(p.prefix)+p.minRest && strings.EqualFold(s[:len(p.prefix)], p.prefix) {
			rest := s[len(p.prefix):]
			if p.minRest == 1 || onlyTokenChars(rest) {
				return true
			}
		}
	}
	return false
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
