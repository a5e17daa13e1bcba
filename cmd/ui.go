package cmd

import (
	"time"

	"github.com/nix-auth/nix-auth/internal/termsafe"
)

// deviceUI shows the device flow and personal-token prompts: the code and
// URL on stderr (stdout stays clean for scripts), the browser only when
// there is a desktop and the user did not say --no-browser, and a progress
// line while polling on a terminal only, so logs get plain lines.
type deviceUI struct {
	f         *Factory
	noBrowser bool
	waiting   bool
}

// ShowDeviceCode shows what the forge sent: providers checked the URL (an
// https page of the forge) and the code (short, printable); they are
// escaped here all the same, as everything a forge sends is.
func (u *deviceUI) ShowDeviceCode(userCode, verificationURI string, expiresAt time.Time) {
	w := u.f.IO.ErrOut
	termsafe.Fprintf(w, "! First copy your one-time code: %s\n", termsafe.Field(userCode))
	termsafe.Fprintf(w, "  Then open %s and enter it", verificationURI)
	if !expiresAt.IsZero() {
		termsafe.Fprintf(w, " (it expires in %s)", expiresAt.Sub(u.f.Now()).Round(time.Minute))
	}
	termsafe.Fprintln(w, ".")
	u.open(verificationURI)
}

func (u *deviceUI) Waiting(elapsed time.Duration) {
	w := u.f.IO.ErrOut
	if u.f.IO.ErrTTY {
		// The CR that redraws the line is nix-auth's own: the stream
		// filter would escape it.
		termsafe.WriteControl(w, "\r")
		termsafe.Fprintf(w, "  Waiting for authorization... %s ", elapsed.Round(time.Second))
		u.waiting = true
		return
	}
	if !u.waiting {
		termsafe.Fprintln(w, "Waiting for authorization...")
		u.waiting = true
	}
}

// done ends the progress line so the next message starts on a clean line.
func (u *deviceUI) done() {
	if u.waiting && u.f.IO.ErrTTY {
		termsafe.Fprintln(u.f.IO.ErrOut)
	}
	u.waiting = false
}

func (u *deviceUI) OpenTokenPage(url, instructions string) {
	w := u.f.IO.ErrOut
	if instructions != "" {
		termsafe.Fprintln(w, instructions)
	}
	termsafe.Fprintf(w, "  Create a token at %s\n", url)
	u.open(url)
}

func (u *deviceUI) ReadSecret(prompt string) (string, error) {
	return u.f.readSecret(prompt, false)
}

func (u *deviceUI) open(url string) {
	if u.noBrowser || u.f.OpenBrowser == nil || !u.f.IO.ErrTTY {
		return
	}
	if err := u.f.OpenBrowser(url); err == nil {
		termsafe.Fprintln(u.f.IO.ErrOut, "  Opened it in your browser.")
	}
}
