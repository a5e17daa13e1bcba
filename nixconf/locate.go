package nixconf

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
)

// TokensFileName is the file beside nix.conf that holds the tokens that
// login, set-token and logout manage.
const TokensFileName = "access-tokens.conf"

// RenderFileName is the file beside nix.conf that `nix-auth render` writes
// by default. It is not TokensFileName: render replaces its output whole,
// and would wipe the tokens login saved there.
const RenderFileName = "access-tokens.rendered.conf"

// EnvSource names NIX_CONFIG where an Entry or a ParseError names a file:
// Nix applies that variable after every file, as a config of its own.
const EnvSource = "NIX_CONFIG"

// Paths are the files nix-auth edits, and what else Nix reads around them.
type Paths struct {
	// NixConf is the user's nix.conf, the file that includes TokensFile.
	NixConf string
	// TokensFile is access-tokens.conf beside NixConf.
	TokensFile string
	// RenderFile is render's default output, beside NixConf.
	RenderFile string
	// NetrcFile is the netrc file beside NixConf that login writes when
	// Nix's config names none (NetrcFileName).
	NetrcFile string
	// System is the system's nix.conf, which Nix reads first; empty: none.
	System string
	// Before lists the other user config files (XDG_CONFIG_DIRS, further
	// entries of NIX_USER_CONF_FILES) in the order Nix reads them, after
	// System and before NixConf.
	Before []string
	// NixConfig is the NIX_CONFIG variable, which Nix applies after every
	// file; empty when unset.
	NixConfig string
}

// Env looks up an environment variable as os.LookupEnv does. An empty
// variable and an unset one differ for Nix: NIX_USER_CONF_FILES="" names no
// user config at all.
type Env func(key string) (value string, ok bool)

// Locate finds the user's nix.conf as Nix does: config (the --config flag)
// if set, else the first entry of NIX_USER_CONF_FILES (the file Nix reads
// last, so its settings win), else $XDG_CONFIG_HOME/nix/nix.conf, else
// $HOME/.config/nix/nix.conf. It also names what Nix reads besides: the
// system's nix.conf ($NIX_CONF_DIR/nix.conf, else /etc/nix/nix.conf), the
// other user files, and NIX_CONFIG. Relative paths are taken from the
// working directory, as Nix takes them.
func Locate(config string, env Env) (Paths, error) {
	var p Paths
	if dir, _ := env("NIX_CONF_DIR"); dir != "" {
		p.System = filepath.Join(dir, "nix.conf")
	} else {
		p.System = "/etc/nix/nix.conf"
	}
	p.NixConfig, _ = env("NIX_CONFIG")

	// Nix's user files, the one it reads last first.
	var files []string
	if list, ok := env("NIX_USER_CONF_FILES"); ok {
		files = splitList(list)
		if len(files) == 0 && config == "" {
			return Paths{}, &Error{
				msg:   "NIX_USER_CONF_FILES is set but names no file, so Nix reads no user config: tokens saved for it would never reach Nix; nothing was written",
				hints: []string{"unset NIX_USER_CONF_FILES, or set it to the file Nix should read, e.g. NIX_USER_CONF_FILES=$HOME/.config/nix/nix.conf"},
			}
		}
	} else {
		// Nix takes XDG_CONFIG_HOME as it is, even empty.
		home, ok := env("XDG_CONFIG_HOME")
		if !ok {
			h, _ := env("HOME")
			if h == "" && config == "" {
				return Paths{}, &Error{Kind: ErrNoUserConfig,
					msg: "cannot find nix.conf: HOME, XDG_CONFIG_HOME and NIX_USER_CONF_FILES are all unset",
				}
			}
			home = h + "/.config"
		}
		dirs := []string{"/etc/xdg"}
		if list, ok := env("XDG_CONFIG_DIRS"); ok {
			dirs = splitList(list)
		}
		for _, d := range append([]string{home}, dirs...) {
			files = append(files, d+"/nix/nix.conf")
		}
	}
	conf := config
	if conf == "" {
		conf = files[0]
	}
	if len(files) > 0 {
		rest := slices.Clone(files[1:])
		slices.Reverse(rest)
		for _, f := range rest {
			if abs, err := filepath.Abs(f); err == nil {
				p.Before = append(p.Before, abs)
			}
		}
	}
	abs, err := filepath.Abs(conf)
	if err != nil {
		return Paths{}, errors.New("cannot make " + conf + " absolute: " + err.Error())
	}
	p.NixConf = abs
	p.TokensFile = filepath.Join(filepath.Dir(abs), TokensFileName)
	p.RenderFile = filepath.Join(filepath.Dir(abs), RenderFileName)
	p.NetrcFile = filepath.Join(filepath.Dir(abs), NetrcFileName)
	return p, nil
}

// splitList splits a ':' list as Nix's tokenizeString does: empty entries
// are dropped.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ':' })
}

// DefaultNetrc is the netrc file Nix reads when no config sets netrc-file:
// "netrc" in the system's config directory ($NIX_CONF_DIR, else /etc/nix).
func (p Paths) DefaultNetrc() string {
	if p.System == "" {
		return "/etc/nix/netrc"
	}
	return filepath.Join(filepath.Dir(p.System), NetrcFileName)
}

// earlier lists the files Nix reads before NixConf, in its order.
func (p Paths) earlier() []string {
	var out []string
	if p.System != "" {
		out = append(out, p.System)
	}
	return append(out, p.Before...)
}

// Error is a problem with the user's Nix config or an edit of it. Its
// message names the file; its hints say what to do about the files, and
// the commands add how to run them otherwise (by Kind).
type Error struct {
	// Kind is one of the Err* kinds below, or nil, for errors.Is.
	Kind error
	// Host is the host an edit was for, when there was one.
	Host  string
	msg   string
	hints []string
}

// Kinds of Error, for errors.Is.
var (
	// ErrNoUserConfig: the environment names no user config to edit.
	ErrNoUserConfig = errors.New("no user config")
	// ErrNotWritable: the tokens file's directory cannot be written.
	ErrNotWritable = errors.New("the config directory cannot be written")
	// ErrNoToken: no token for the host to remove.
	ErrNoToken = errors.New("no token for the host")
	// ErrRendered: what stands in the way is a file render writes; its
	// token is changed in the store it renders.
	ErrRendered = errors.New("the token is set by a rendered file")
	// ErrManaged: the file to edit is a symlink into the Nix store, made
	// by home-manager or NixOS, which nix-auth does not write.
	ErrManaged = errors.New("the file is managed by home-manager or NixOS")
)

// Error is the message, without the hints.
func (e *Error) Error() string { return e.msg }

// Hints says what to do about the error.
func (e *Error) Hints() []string { return e.hints }

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }
