package cmd

import (
	"slices"
	"testing"
)

func TestHelperEntries(t *testing.T) {
	t.Parallel()
	const ours = "!nix-auth git-credential"
	const older = "!'/nix/store/abc-nix-auth-1.0/bin/nix-auth' git-credential"
	tests := []struct {
		name      string
		old, want []string
	}{
		{"empty section", nil, []string{"", ours}},
		{"already set up", []string{"", ours}, []string{"", ours}},
		{"the user's helpers stay in front", []string{"cache"}, []string{"cache", ours}},
		{"the user's reset stays", []string{""}, []string{"", "", ours}},
		{"an older binary path is replaced", []string{"", older}, []string{"", ours}},
		{"the user's entries after ours stay", []string{"", older, "store"}, []string{"", ours, "store"}},
		{"a second entry of ours goes", []string{"", ours, "store", "", older}, []string{"", ours, "store"}},
	}
	for _, tt := range tests {
		got := withHelper(tt.old, ours)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: withHelper(%q) = %q, want %q", tt.name, tt.old, got, tt.want)
		}
		// Undo restores the user's entries exactly.
		if undone, user := withoutHelper(got), withoutHelper(tt.old); !slices.Equal(undone, user) {
			t.Errorf("%s: withoutHelper(%q) = %q, want %q", tt.name, got, undone, user)
		}
	}
}

func TestIsOurHelper(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"!nix-auth git-credential",
		"!/usr/local/bin/nix-auth git-credential",
		"!'/home/a b/bin/nix-auth' git-credential",
		"!'/home/it'\\''s/nix-auth' git-credential",
		"!nix-auth git-credential --config '/home/a b/nix.conf'",
		"!" + shellQuote("/tmp/we'ird $(x)/nix-auth") + " git-credential",
	} {
		if !isOurHelper(v) {
			t.Errorf("isOurHelper(%q) = false", v)
		}
	}
	for _, v := range []string{
		"", "store", "cache --timeout 300", "nix-auth git-credential",
		"!gh auth git-credential",
		"!nix-auth git-credential; rm -rf ~",
		"!nix-auth git-credential && echo",
		"!nix-auth-fork git-credential",
		"!nix-auth status",
		"!nix-auth git-credential --other x",
		"!\"nix-auth\" git-credential",
		"!'nix-auth git-credential",
	} {
		if isOurHelper(v) {
			t.Errorf("isOurHelper(%q) = true", v)
		}
	}
}

func TestRemovedValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		old, new, removed []string
		ok                bool
	}{
		{[]string{"cache", "x"}, []string{"cache"}, []string{"x"}, true},
		{[]string{"", "x", "store"}, []string{"store"}, []string{"", "x"}, true},
		// One "" goes, another stays: no exact-value unset can do that.
		{[]string{"", "store", "", "x"}, []string{"", "store"}, []string{"x"}, false},
	}
	for _, tt := range tests {
		removed, ok := removedValues(tt.old, tt.new)
		if ok != tt.ok || ok && !slices.Equal(removed, tt.removed) {
			t.Errorf("removedValues(%q, %q) = %q, %v; want %q, %v", tt.old, tt.new, removed, ok, tt.removed, tt.ok)
		}
	}
}
