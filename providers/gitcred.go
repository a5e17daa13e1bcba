package providers

// GitCredential is what git should send over HTTPS to host (host[:port],
// as git names it) for nixToken, the access-tokens value Nix uses there:
// the username the forge expects (the table's GitUser) and the token as
// password, without the type prefix that only Nix's fetcher reads. ok is
// false when the forge takes no token over HTTPS git (the table's GitUser
// is empty). The forge is known offline only for the public hosts; a token
// elsewhere is known by its type prefix (GitLab's), and any other host
// gets x-access-token, which GitHub Enterprise, Gitea and Forgejo accept.
func GitCredential(host, nixToken string) (username, password string, ok bool) {
	f, _ := publicHost(hostPart(host))
	if f != nil && f.GitUser == "" {
		return "", "", false
	}
	if _, rest, owner, typed := splitNixType(nixToken); typed {
		if rest == "" {
			return "", "", false
		}
		return owner.GitUser, rest, true
	}
	switch {
	case nixToken == "":
		return "", "", false
	case f != nil:
		return f.GitUser, nixToken, true
	}
	return gitUserToken, nixToken, true
}
