package nixconf

// Load reads the config at path as Nix would, for the tests; the package
// itself always reads through Store or an overlay.
func Load(path string) (*Config, error) { return load(path, nil) }
