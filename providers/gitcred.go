package providers

// Usernames that forges accept with a token as the HTTPS git password.
const (
	// GitHub takes any username with a personal or OAuth token, and
	// requires x-access-token with an app installation token (ghs_), so
	// x-access-token works for every kind. Gitea and Forgejo read the
	// password as the token and the account from the token, whatever the
	// username, so it serves them too.
	gitUserToken = "x-access-token"
	// GitLab requires oauth2 with an OAuth token and takes any username
	// with a personal, project or group token.
	gitUserGitLab = "oauth2"
)

// GitCredential is what git should send over HTTPS to host (host[:port],
// as git names it) for nixToken, the access-tokens value Nix uses there:
// the username the forge expects and the token as password, without the
// PAT: or OAuth2: type that only Nix's GitLab fetcher reads. ok is false
// when the forge takes no token over HTTPS git: git.sr.ht serves clones of
// public repositories and takes pushes over SSH only, so a token sent
// there would only travel for nothing. The forge is known offline only for
// the public hosts; a GitLab token elsewhere is known by its prefix, and
// any other host gets x-access-token, which GitHub Enterprise, Gitea and
// Forgejo accept.
func GitCredential(host, nixToken string) (username, password string, ok bool) {
	kind, known := knownHost(hostPart(host))
	if known && kind == SourceHut {
		return "", "", false
	}
	if _, rest, typed := splitGitLabPrefix(nixToken); typed {
		if rest == "" {
			return "", "", false
		}
		return gitUserGitLab, rest, true
	}
	if nixToken == "" {
		return "", "", false
	}
	if known && kind == GitLab {
		return gitUserGitLab, nixToken, true
	}
	return gitUserToken, nixToken, true
}
