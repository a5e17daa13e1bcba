package nixconf

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that stop a pasted file or a runaway pipe from landing in
// nix.conf; real hosts and tokens are far shorter.
const (
	maxHostLen  = 1024
	maxTokenLen = 16 << 10
)

// ValidateHost accepts an access-tokens key: a host name (or [IPv6]
// address), an optional :port, and an optional /path as in
// "github.com/org". Anything that Nix's config parser would split, cut or
// read as another setting is refused: whitespace, '=', '#', control
// characters, non-ASCII bytes.
func ValidateHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if len(host) > maxHostLen {
		return fmt.Errorf("the host is %d bytes long; a host name is at most %d", len(host), maxHostLen)
	}
	if err := checkChars(host, true); err != nil {
		return fmt.Errorf("invalid host %q: %w", host, err)
	}
	name, path, hasPath := strings.Cut(host, "/")
	if err := checkHostPort(name); err != nil {
		return fmt.Errorf("invalid host %q: %w", host, err)
	}
	if hasPath {
		for _, seg := range strings.Split(path, "/") {
			if seg == "" {
				return fmt.Errorf("invalid host %q: the path after the host has an empty part; write it as host/owner", host)
			}
			// A URL resolves "." and ".." (also written %2e): the key
			// would name another path than it seems to.
			d, err := url.PathUnescape(seg)
			if err != nil {
				return fmt.Errorf("invalid host %q: the path after the host has a malformed %%-escape", host)
			}
			if d == "." || d == ".." {
				return fmt.Errorf("invalid host %q: the path after the host has a '.' or '..' part; write it as host/owner", host)
			}
		}
	}
	return nil
}

// ValidateToken accepts a token that Nix reads back exactly as given from
// "host=token". The error says what is wrong and where, never the token.
func ValidateToken(tok string) error {
	if tok == "" {
		return errors.New("the token is empty")
	}
	if len(tok) > maxTokenLen {
		return fmt.Errorf("the token is %d bytes long (at most %d); was the right thing pasted?", len(tok), maxTokenLen)
	}
	if err := checkChars(tok, false); err != nil {
		return fmt.Errorf("the token cannot be written to a Nix config: %w", err)
	}
	return nil
}

// checkChars refuses, by position and never by quoting the value, every
// byte that Nix's config syntax gives a meaning to.
func checkChars(s string, isHost bool) error {
	if !utf8.ValidString(s) {
		return errors.New("it is not valid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			return fmt.Errorf("it contains whitespace at byte %d: Nix splits settings on whitespace", i+1)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("it contains a control character (0x%02x) at byte %d: a line break would start a new setting", c, i+1)
		case c == '#':
			return fmt.Errorf("it contains '#' at byte %d: Nix reads the rest of the line as a comment", i+1)
		case c > 0x7e:
			return fmt.Errorf("it contains a non-ASCII character at byte %d", i+1)
		case isHost && c == '=':
			return fmt.Errorf("it contains '=' at byte %d: Nix would split host and token there", i+1)
		}
	}
	return nil
}

// checkHostPort checks "name", "name:port", "[v6]" or "[v6]:port".
func checkHostPort(hp string) error {
	name, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return errors.New("an IPv6 address needs a closing ']'")
		}
		if _, err := netip.ParseAddr(hp[1:end]); err != nil || !strings.Contains(hp[1:end], ":") {
			return errors.New("not an IPv6 address between '[' and ']'")
		}
		name, port = "", hp[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return errors.New("unexpected text after ']'")
		}
	} else if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		name, port = hp[:i], hp[i:]
	}
	if port != "" {
		n, err := strconv.Atoi(port[1:])
		if err != nil || n < 1 || n > 65535 || port[1] == '+' || port[1] == '0' {
			return errors.New("the port must be a number from 1 to 65535")
		}
	}
	if name == "" && !strings.HasPrefix(hp, "[") {
		return errors.New("the host name is empty")
	}
	if name != "" {
		return checkHostName(name)
	}
	return nil
}

func checkHostName(name string) error {
	if len(name) > 253 {
		return errors.New("a host name is at most 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return errors.New("the host name has an empty label (two dots, or a dot at an end)")
		}
		if len(label) > 63 {
			return errors.New("a label of the host name is longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("a label of the host name starts or ends with '-'")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("the host name contains %q; use letters, digits, '-' and '.' (and punycode for other scripts)", c)
			}
		}
	}
	return nil
}
