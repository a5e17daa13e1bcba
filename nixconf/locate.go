package nixconf

import (
	"errors"
	"path/filepath"
	"strings"
)

// TokensFileName is the file beside nix.conf that holds the tokens.
const TokensFileName = "access-tokens.conf"

// Paths are the files nix-auth edits.
type Paths struct {
	// NixConf is the user's nix.conf, the file that includes TokensFile.
	NixConf string
	// TokensFile is access-tokens.conf beside NixConf.
	TokensFile string
}

// Locate finds the user's nix.conf as Nix does: config (the --config flag)
// if set, else the first entry of NIX_USER_CONF_FILES (the file Nix reads
// last, so its settings win), else $XDG_CONFIG_HOME/nix/nix.conf, else
// $HOME/.config/nix/nix.conf. Empty variables count as unset. Relative
// paths are taken from the working directory, as Nix takes them.
func Locate(config string, getenv func(string) string) (Paths, error) {
	conf := config
	if conf == "" {
		for _, f := range strings.Split(getenv("NIX_USER_CONF_FILES"), ":") {
			if f != "" {
				conf = f
				break
			}
		}
	}
	if conf == "" {
		if x := getenv("XDG_CONFIG_HOME"); x != "" {
			conf = filepath.Join(x, "nix", "nix.conf")
		} else if h := getenv("HOME"); h != "" {
			conf = filepath.Join(h, ".config", "nix", "nix.conf")
		} else {
			return Paths{}, &hintError{
				msg:   "cannot find nix.conf: HOME, XDG_CONFIG_HOME and NIX_USER_CONF_FILES are all unset",
				hints: []string{"name the file with --config PATH"},
			}
		}
	}
	abs, err := filepath.Abs(conf)
	if err != nil {
		return Paths{}, errors.New("cannot make " + conf + " absolute: " + err.Error())
	}
	return Paths{NixConf: abs, TokensFile: filepath.Join(filepath.Dir(abs), TokensFileName)}, nil
}

// hintError is an error with advice, printed by the CLI as hint lines.
type hintError struct {
	msg   string
	hints []string
}

// Error is the message, without the hints.
func (e *hintError) Error() string { return e.msg }

// Hints says what to do about the error.
func (e *hintError) Hints() []string { return e.hints }
