package providers

import (
	"errors"
	"slices"
	"strings"
)

// HostKind is the forge of host (host[:port][/path], as access-tokens
// names it) when it is a public forge the table knows without a probe:
// github.com is GitHub, gitlab.com GitLab. ok is false for any other host.
func HostKind(host string) (kind Kind, ok bool) { return knownHost(hostPart(host)) }

// ErrNotForgeKey is a key of a secrets file that names neither a forge nor
// a host (tailscale, restic, smtp): not a token nix-auth imports.
var ErrNotForgeKey = errors.New("neither a forge nor a host name")

// SecretsKey maps a top-level key of a secrets file in the layout that
// sops-nix and git-crypt setups share ({"github": {"oauth_token": ...}},
// one key per service) to a forge and the host access-tokens names:
//
//   - a public forge's name as login takes it (github, gitlab, codeberg,
//     sourcehut, srht): its public host, known;
//   - a host name with a dot or a port, and maybe a path (git.example.com,
//     gitlab.example.com:8443, github.com/org): that host, its forge known when it is a
//     public one;
//   - a software name without a public host (gitea, forgejo): an *Error
//     matching ErrSelfHosted whose Kind is the software, so that the caller
//     can take the host from elsewhere (Resolve(host, kind));
//   - a key shaped like a token: ErrTokenArgument, its text never quoted;
//   - anything else: ErrNotForgeKey. A single word is a service's name, not
//     a host: "tailscale" is never sent anywhere.
func SecretsKey(key string) (kind Kind, host string, known bool, err error) {
	k := strings.ToLower(strings.TrimSpace(key))
	if LooksLikeToken(k) {
		return "", "", false, ErrTokenArgument
	}
	if _, _, alias := aliasHost(k); !alias {
		_, software := parseKind(k)
		// The host part decides: "github/oauth_token" (a sops-nix secret's
		// name) is no host.
		if !software && !strings.ContainsAny(hostPart(k), ".:[") {
			return "", "", false, ErrNotForgeKey
		}
	}
	return Resolve(k, "")
}

// tokenKeys are the keys that hold a token inside a service's mapping of a
// secrets file: sops-nix setups use oauth_token (as GitHub's own tooling
// names it), others token or pat.
var tokenKeys = []string{"oauth_token", "token", "pat"}

// TokenKeys are the keys that hold a token inside a service's mapping of a
// secrets file, for messages.
func TokenKeys() []string { return slices.Clone(tokenKeys) }

// IsTokenKey reports whether key names a token inside a service's mapping
// (TokenKeys, in any letter case).
func IsTokenKey(key string) bool { return slices.Contains(tokenKeys, strings.ToLower(key)) }
