package nixconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// Writer is who made a tokens file, as its first line says. nix-auth has
// two writers, each with a file of its own: login (with set-token and
// logout) edits access-tokens.conf in place, and render replaces its
// output whole. Neither writes over a file the other made: render would
// wipe the tokens login saved, and login's edits would vanish at the next
// render.
type Writer string

// The writers; WriterNone is a file that neither made (or an empty one).
const (
	WriterNone   Writer = ""
	WriterLogin  Writer = "nix-auth login"
	WriterRender Writer = "nix-auth render"
)

// First lines of the files each writer makes. Login's header has said
// "written by nix-auth" since its first version; render's "Written by
// nix-auth render from".
const (
	loginMark  = "# Access tokens for Nix, written by nix-auth"
	renderMark = "# Written by nix-auth render"
)

// tokensHeader starts a tokens file that login creates.
const tokensHeader = loginMark + " login, set-token and logout, and included from nix.conf.\n" +
	"# Keep this file private (mode 0600): it holds secrets. `nix-auth render` writes to its own file.\n"

// RenderHeader is the first line of a file render writes from source.
// Control characters in source become '?', so that a file name cannot end
// the comment and start a setting.
func RenderHeader(source string) string {
	return fmt.Sprintf("%s from %s; changes here are overwritten.\n", renderMark, strings.Map(printable, source))
}

func printable(r rune) rune {
	if r < ' ' || r == 0x7f {
		return '?'
	}
	return r
}

// WriterOf says who wrote data, from its first line.
func WriterOf(data []byte) Writer {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	switch {
	case bytes.HasPrefix(line, []byte(loginMark)):
		return WriterLogin
	case bytes.HasPrefix(line, []byte(renderMark)):
		return WriterRender
	}
	return WriterNone
}

// WriterError says that a writer refused a file another one made.
type WriterError struct {
	Path string
	// Writer is who made Path (WriterNone: not nix-auth); Want is the
	// writer that refused it.
	Writer, Want Writer
	// Own is the refusing writer's own file, for the hint; may be empty.
	Own string
}

// Error names the file and who made it.
func (e *WriterError) Error() string {
	who := "by hand or by another program"
	switch e.Writer {
	case WriterLogin:
		who = "by `nix-auth login` (it holds the tokens login and set-token save)"
	case WriterRender:
		who = "by `nix-auth render`, which replaces it whole at every run"
	}
	return fmt.Sprintf("%s was written %s; %s does not write over a file it did not make; nothing was written", e.Path, who, e.Want)
}

// Hints says where each writer's tokens go instead, as far as the files
// go: render's output is chosen on its command line, so the commands say
// how (Want is WriterRender, and Own is its default).
func (e *WriterError) Hints() []string {
	switch {
	case e.Want == WriterRender:
		return nil
	case e.Writer == WriterRender:
		return []string{"render writes " + RenderFileName + " now: run your render again, then delete " + e.Path +
			"; or keep the token in the store render reads"}
	}
	return []string{"move " + e.Path + " away, then run nix-auth again"}
}

// maxHeader bounds how much of a file is read to find its writer.
const maxHeader = 4 << 10

// CheckWriter refuses path (with a *WriterError) when it exists, is not
// empty, and was not made by want. own, if set, is want's default file,
// named in the hint. Only the file's first line is compared, never
// printed.
func CheckWriter(path string, want Writer, own string) error {
	head, err := readHead(path)
	if err != nil || len(head) == 0 {
		return err
	}
	if w := WriterOf(head); w != want {
		return &WriterError{Path: path, Writer: w, Want: want, Own: own}
	}
	return nil
}

// readHead reads the start of a file that may not exist (nil), enough to
// tell its writer, without following a symlink (readRegular).
func readHead(path string) ([]byte, error) {
	head, err := readRegular(path, false, maxHeader)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if _, open := err.(*fs.PathError); open {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return head, err
}

// readRegular reads at most limit bytes of a regular file. It opens it
// without blocking, so a FIFO planted at path cannot hang the caller;
// follow says whether a symlink is followed (as curl follows one when it
// reads netrc). Anything but a regular file is an error; so is a failed
// open, as the *fs.PathError os.OpenFile returns.
func readRegular(path string, follow bool, limit int64) ([]byte, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{msg: path + " is not a regular file; nothing was written",
			hints: []string{"name a regular file, or remove what is at " + path}}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return data, nil
}
