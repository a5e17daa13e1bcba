package nixconf

import "strings"

// TokenFor returns the entry whose token Nix's GitHub and GitLab fetchers
// send for a repository at host/path (path is "owner/repo", or empty when
// only the host is known). It is Nix's rule (getAccessToken in
// src/libfetchers/github.cc): the longest key that is host/path itself or
// a prefix of it ending at a '/', so "github.com/org" serves
// github.com/org/repo but not github.com/organisation/repo; with no such
// key, the key that is host alone. Keys are compared byte for byte, as Nix
// compares them.
func TokenFor(entries []Entry, host, path string) (Entry, bool) {
	want := host
	if path != "" {
		want = host + "/" + path
	}
	best, found := Entry{}, false
	for _, e := range entries {
		if e.Host != want && !strings.HasPrefix(want, e.Host+"/") {
			continue
		}
		if !found || len(e.Host) > len(best.Host) {
			best, found = e, true
		}
	}
	return best, found
}
