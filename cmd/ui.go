package cmd

import (
	"fmt"
	"time"
)

// deviceUI shows the device flow and personal-token prompts: the code and
// URL on stderr (stdout stays clean for scripts), the browser only when
// there is a desktop and the user did not say --no-browser, and a progress
// line while polling on a terminal only, so logs get plain lines.
type deviceUI struct {
	f         *Factory
	noBrowser bool
	fromStdin bool
	waiting   bool
}

func (u *deviceUI) ShowDeviceCode(userCode, verificationURI string, expiresAt time.Time) {
	w := u.f.IO.ErrOut
	fmt.Fprintf(w, "! First copy your one-time code: %s\n", userCode)
	fmt.Fprintf(w, "  Then open %s and enter it", verificationURI)
	if !expiresAt.IsZero() {
		fmt.Fprintf(w, " (it expires in %s)", expiresAt.Sub(u.f.Now()).Round(time.Minute))
	}
	fmt.Fprintln(w, ".")
	u.open(verificationURI)
}

func (u *deviceUI) Waiting(elapsed time.Duration) {
	w := u.f.IO.ErrOut
	if u.f.IO.ErrTTY {
		fmt.Fprintf(w, "\r  Waiting for authorization... %s ", elapsed.Round(time.Second))
		u.waiting = true
		return
	}
	if !u.waiting {
		fmt.Fprintln(w, "Waiting for authorization...")
		u.waiting = true
	}
}

// done ends the progress line so the next message starts on a clean line.
func (u *deviceUI) done() {
	if u.waiting && u.f.IO.ErrTTY {
		fmt.Fprintln(u.f.IO.ErrOut)
	}
	u.waiting = false
}

func (u *deviceUI) OpenTokenPage(url, instructions string) {
	w := u.f.IO.ErrOut
	if instructions != "" {
		fmt.Fprintln(w, instructions)
	}
	fmt.Fprintf(w, "  Create a token at %s\n", url)
	u.open(url)
}

func (u *deviceUI) ReadSecret(prompt string) (string, error) {
	return u.f.readSecret(prompt, u.fromStdin)
}

func (u *deviceUI) Warn(msg string) {
	u.done()
	u.f.warn(msg)
}

func (u *deviceUI) open(url string) {
	if u.noBrowser || u.f.OpenBrowser == nil || !u.f.IO.ErrTTY {
		return
	}
	if err := u.f.OpenBrowser(url); err == nil {
		fmt.Fprintln(u.f.IO.ErrOut, "  Opened it in your browser.")
	}
}
