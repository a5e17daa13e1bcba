package cmd

import (
	"bufio"
	"errors"
	"strings"

	"filippo.io/age/plugin"

	"github.com/nix-auth/nix-auth/internal/termsafe"
)

// pluginUI is how an age plugin (age-plugin-yubikey, ...) reaches the
// user while it wraps or unwraps a key: through this command's streams,
// never the terminal behind them. Its messages go to stderr through
// termsafe, as everything a program other than nix-auth says does; a PIN
// or a confirmation is asked on the terminal only. Without one (render at
// activation, a pipe) the plugin is told the request failed, so only a
// plugin that needs no interaction works there.
func (f *Factory) pluginUI() *plugin.ClientUI {
	ui := &plugin.ClientUI{
		DisplayMessage: func(name, message string) error {
			termsafe.Fprintf(f.IO.ErrOut, "nix-auth: age-plugin-%s: %s\n", termsafe.Field(name), termsafe.Line(message))
			return nil
		},
		// Called from another goroutine while the command waits on the
		// plugin, which prints nothing meanwhile.
		WaitTimer: func(name string) {
			termsafe.Fprintf(f.IO.ErrOut, "nix-auth: waiting for age-plugin-%s (does your key want a touch?)\n", termsafe.Field(name))
		},
	}
	if !f.IO.InTTY || f.IO.ReadPassword == nil {
		return ui
	}
	ui.RequestValue = func(name, prompt string, secret bool) (string, error) {
		termsafe.Fprintf(f.IO.ErrOut, "age-plugin-%s: %s ", termsafe.Field(name), termsafe.Line(prompt))
		if secret {
			b, err := f.IO.ReadPassword()
			termsafe.Fprintln(f.IO.ErrOut)
			return string(b), err
		}
		return readLine(f)
	}
	ui.Confirm = func(name, prompt, yes, no string) (bool, error) {
		if no == "" {
			termsafe.Fprintf(f.IO.ErrOut, "age-plugin-%s: %s (press enter for %q) ", termsafe.Field(name), termsafe.Line(prompt), termsafe.Field(yes))
			_, err := readLine(f)
			return err == nil, err
		}
		for {
			termsafe.Fprintf(f.IO.ErrOut, "age-plugin-%s: %s [1] %s [2] %s: ", termsafe.Field(name), termsafe.Line(prompt), termsafe.Field(yes), termsafe.Field(no))
			line, err := readLine(f)
			if err != nil {
				return false, err
			}
			switch strings.TrimSpace(line) {
			case "1":
				return true, nil
			case "2":
				return false, nil
			}
		}
	}
	return ui
}

// readLine reads one line the user types on the terminal.
func readLine(f *Factory) (string, error) {
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.Join(errors.New("no answer"), err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
