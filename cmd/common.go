package cmd

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/nixconf"
	"github.com/nix-auth/nix-auth/providers"
)

// configFlag returns the global --config value.
func configFlag(c *cobra.Command) string {
	v, _ := c.Flags().GetString("config")
	return v
}

func openStore(f *Factory, config string, dryRun bool) (*nixconf.Store, error) {
	paths, err := nixconf.Locate(config, f.lookupEnv)
	if err != nil {
		return nil, err
	}
	// Nix itself takes its store's location from NIX_STORE_DIR; a nix.conf
	// linked into that store is read-only (home-manager, NixOS).
	return &nixconf.Store{Paths: paths, DryRun: dryRun, StoreDir: f.Getenv("NIX_STORE_DIR"),
		Warn: f.warn}, nil
}

// badToken adds what to do to nixconf's verdict on a token that cannot be
// written (the verdict says what is wrong, never the token).
func badToken(err error) error {
	return &hintError{
		msg:   err.Error() + "; nothing was written",
		hints: []string{"give the token exactly as the forge shows it, on one line with nothing around it"},
	}
}

func providerOptions(f *Factory, clientID string) providers.Options {
	return providers.Options{HTTPClient: f.HTTPClient(), ClientID: clientID, Now: f.Now}
}

// resolveArg is providers.Resolve for a command-line argument: a refusal is
// a usage error, and a token typed where a host goes is told how tokens
// are given instead.
func resolveArg(target, provider string) (providers.Kind, string, bool, error) {
	kind, host, known, err := providers.Resolve(target, providers.Kind(provider))
	if errors.Is(err, providers.ErrTokenArgument) {
		return "", "", false, tokenArgument(err.Error())
	}
	if err != nil {
		return "", "", false, &usageError{err}
	}
	return kind, host, known, nil
}

// tokenArgument is the usage error for an argument that looks like a
// token; msg says so without quoting it.
func tokenArgument(msg string) error {
	return &usageError{&hintError{msg: msg, hints: []string{
		"give a token on standard input or at the hidden prompt: `pass show forge-token | nix-auth set-token HOST`, or `nix-auth set-token HOST` and paste it",
		"if it is a real token, it is now in your shell history: revoke it at the forge and make a new one",
	}}}
}

func baseName(p string) string { return filepath.Base(p) }

// joinWords lists items as prose: "a", "a and b", "a, b and c".
func joinWords(items []string, conj string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

// warn prints a warning line in the same style as errors.
func (f *Factory) warn(msg string) { termsafe.Fprintf(f.IO.ErrOut, "nix-auth: warning: %s\n", msg) }
