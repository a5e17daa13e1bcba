package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

// state is the files below dir, as name -> content (links as "-> target").
func state(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			m[p] = "-> " + target
			return nil
		}
		b, err := os.ReadFile(p)
		m[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRenderRefusesSymlinks: render, often run as root, never writes
// through a link planted at its output or lock file (nor in --check); the
// file the link points to is untouched.
func TestRenderRefusesSymlinks(t *testing.T) {
	for _, at := range []string{"access-tokens.conf", "access-tokens.conf.lock"} {
		for _, check := range []bool{false, true} {
			plain := writePlain(t, "secret", sopsDecrypted)
			dir, elsewhere := t.TempDir(), t.TempDir()
			victim := filepath.Join(elsewhere, "shadow")
			if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "access-tokens.conf")
			if err := os.Symlink(victim, filepath.Join(dir, at)); err != nil {
				t.Fatal(err)
			}
			before, vbefore := state(t, dir), state(t, elsewhere)
			l := &logs{t: t}
			_, err := Render(l.opts(Options{Plain: plain, Output: out, Check: check}))
			if !errors.Is(err, safefile.ErrSymlink) || !strings.Contains(err.Error(), filepath.Join(dir, at)) {
				t.Errorf("%s (check %v): err = %v", at, check, err)
			}
			if !sameState(before, state(t, dir)) || !sameState(vbefore, state(t, elsewhere)) {
				t.Errorf("%s (check %v): files changed", at, check)
			}
			l.noSecrets()
		}
	}
}

// TestRenderOutputAndIncludeTogether: the output and the include line in
// nix.conf are one write: when nix.conf cannot be written (a full disk, a
// failed rename), the output is not changed either.
func TestRenderOutputAndIncludeTogether(t *testing.T) {
	for _, step := range []safefile.Step{safefile.StepWrite, safefile.StepRename} {
		plain := writePlain(t, "secret", sopsDecrypted)
		dir := t.TempDir()
		out, conf := filepath.Join(dir, "tokens", "access-tokens.conf"), filepath.Join(dir, "nix.conf")
		if err := os.WriteFile(conf, []byte("keep-outputs = true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := state(t, dir)
		remove := safefile.InjectFault(conf, step, 0, unix.ENOSPC)
		l := &logs{t: t}
		_, err := Render(l.opts(Options{Plain: plain, Output: out, NixConf: conf}))
		remove()
		if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), conf) {
			t.Errorf("%s: err = %v", step, err)
		}
		if !sameState(before, state(t, dir)) {
			t.Errorf("%s: files changed: %v", step, state(t, dir))
		}
		if _, err := os.Stat(filepath.Dir(out)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the output's new directory was left: %v", step, err)
		}
		res, err := Render(l.opts(Options{Plain: plain, Output: out, NixConf: conf}))
		if err != nil || !res.Changed || !res.IncludeAdded {
			t.Fatalf("%s: then: %+v, %v", step, res, err)
		}
	}
}
