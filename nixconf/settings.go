package nixconf

import "strings"

// Setting is the line that gives a setting its value.
type Setting struct {
	Value string
	// File and Line name the line (EnvSource for NIX_CONFIG); Layer is
	// where File is in Nix's reading order.
	File  string
	Line  int
	Layer Layer
}

// last returns the line that gives a single-valued setting (such as
// netrc-file) its value: the last one, as each assignment replaces the
// value before it. Nix knows no "extra-" form of such a setting.
func (c *Config) last(name string) (Setting, bool) { return c.SettingIn(name) }

// Substituters lists the binary caches Nix's config names, in the order
// set: substituters (each line replacing the list before it) with its
// extra- lines added, then trusted-substituters likewise. Nix's built-in
// default (cache.nixos.org, when nothing sets substituters) is not
// included.
func (c *Config) Substituters() []string {
	var out []string
	for _, name := range []string{"substituters", "trusted-substituters"} {
		var list []string
		for _, a := range c.assigns {
			switch a.st.name {
			case name:
				list = strings.Fields(a.st.value)
			case "extra-" + name:
				list = append(list, strings.Fields(a.st.value)...)
			}
		}
		out = append(out, list...)
	}
	return out
}
