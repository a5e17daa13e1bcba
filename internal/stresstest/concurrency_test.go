package stresstest

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentWriters starts every writer's processes at once against
// the same files. Every process succeeds, every host is there at the end,
// and readers running all along (our parser and, now and then, the real
// nix) only ever see the token map grow: a half-written file or a lost
// update would show as a read that fails or a host that vanishes.
func TestConcurrentWriters(t *testing.T) {
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) { raceWriter(t, w) })
	}
}

func raceWriter(t *testing.T, w writer) {
	checkNeeds(t, w)
	r := w.race
	nix := ""
	if w.nixReads {
		nix = nixPath(t)
	}
	home := t.TempDir()
	r.start(t, home)

	done := make(chan struct{})
	var readers sync.WaitGroup
	var ours, nixs, procs tokenChain
	var readErr, nixErr, procErr error
	// Readers stop at their first error: one is enough to fail, and the
	// chain after it means nothing.
	readers.Go(func() {
		for {
			m, err := w.visible(home)
			if err == nil {
				err = ours.observe(m)
			}
			if err != nil {
				readErr = err
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	})
	if nix != "" {
		readers.Go(func() {
			for {
				m, err := nixTokens(nix, home)
				if err == nil {
					err = nixs.observe(m)
				}
				if err != nil {
					nixErr = err
					return
				}
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}

	if r.reader != nil {
		readers.Go(func() {
			for {
				o, err := run(home, *r.reader, nil)
				if err == nil && o.code != 0 {
					err = fmt.Errorf("nix-auth %s: exit %d\n%s", strings.Join(r.reader.args, " "), o.code, o.stderr)
				}
				var m map[string]string
				if err == nil {
					m, err = r.readerSees(home)
				}
				if err == nil {
					err = procs.observe(m)
				}
				if err != nil {
					procErr = err
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}

	begin := time.Now()
	errs := make(chan error, r.procs)
	for i := range r.procs {
		go func() {
			inv := r.run(i)
			o, err := run(home, inv, nil)
			if err == nil && o.code != 0 {
				err = fmt.Errorf("nix-auth %s: exit %d\n%s", strings.Join(inv.args, " "), o.code, o.stderr)
			}
			errs <- err
		}()
	}
	for range r.procs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	elapsed := time.Since(begin)
	close(done)
	readers.Wait()
	if readErr != nil {
		t.Errorf("reader: %v", readErr)
	}
	if nixErr != nil {
		t.Errorf("nix: %v", nixErr)
	}
	if procErr != nil {
		t.Errorf("reading process: %v", procErr)
	}
	if r.reader != nil {
		t.Logf("nix-auth %s ran %d times during the writers (sizes it saw: %v)", strings.Join(r.reader.args, " "), procs.reads, summarize(procs.sizes))
	}
	t.Logf("%d processes in %v; the reader read %d times and saw %d distinct sizes (%v), nix read %d times (sizes %v)",
		r.procs, elapsed.Round(time.Millisecond), ours.reads, len(ours.sizes), summarize(ours.sizes), nixs.reads, summarize(nixs.sizes))

	got, err := w.visible(home)
	if err != nil {
		t.Fatalf("the files do not load at the end: %v", err)
	}
	if !sameTokens(got, r.want) {
		var missing []string
		for h, v := range r.want {
			if got[h] != v {
				missing = append(missing, h)
			}
		}
		t.Errorf("at the end %d tokens, want %d; missing or wrong: %s", len(got), len(r.want), strings.Join(missing, " "))
	}
	if nix != "" {
		m, err := nixTokens(nix, home)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTokens(m, r.want) {
			t.Errorf("nix sees %d tokens at the end, want %d", len(m), len(r.want))
		}
	}
	if r.check != nil {
		r.check(t, home)
	}
	// Every process finished: no lock file, no temporary file may be left.
	dirs := map[string]bool{}
	for _, rel := range r.files {
		dirs[filepath.Dir(rel)] = true
	}
	for dir := range dirs {
		if left, _ := filepath.Glob(filepath.Join(home, dir, "*.lock")); len(left) > 0 {
			t.Errorf("lock files left: %q", left)
		}
		if left, _ := filepath.Glob(filepath.Join(home, dir, ".*.tmp-*")); len(left) > 0 {
			t.Errorf("temporary files left: %q", left)
		}
	}
}

// summarize shortens a list of sizes for the log.
func summarize(sizes []int) string {
	if len(sizes) <= 8 {
		return fmt.Sprint(sizes)
	}
	return fmt.Sprintf("%v ... %v", sizes[:4], sizes[len(sizes)-4:])
}
