package providers

// Known reports whether k is one of the forge kinds nix-auth knows, the
// names stores record as a host's provider.
func (k Kind) Known() bool {
	switch k {
	case GitHub, GitLab, Gitea, Forgejo, SourceHut:
		return true
	}
	return false
}
