package stresstest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashSafety kills each writer with SIGKILL at random moments. After
// every kill each file it writes is its old or its new version, with its
// mode; the consumer sees the old or the new tokens; only lock and
// temporary files of ours are left, and the next run succeeds without
// cleanup, says it took over a lock left behind, produces exactly what an
// uninterrupted run produces, and removes every temporary file the killed
// run left: they may hold tokens, and their writer is known to be dead.
func TestCrashSafety(t *testing.T) {
	s := seed(t)
	for wi, w := range writers {
		t.Run(w.name, func(t *testing.T) { crashWriter(t, w, s+uint64(wi)) })
	}
}

// state is files as a run left them: content and mode, nil when absent.
type state struct {
	data  map[string][]byte
	modes map[string]os.FileMode
	seen  map[string]string // what the consumer sees
}

func capture(t *testing.T, w writer, home string, files []string) state {
	t.Helper()
	st := state{data: map[string][]byte{}, modes: map[string]os.FileMode{}}
	for _, rel := range files {
		p := filepath.Join(home, rel)
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st.data[rel], st.modes[rel] = data, fi.Mode().Perm()
	}
	seen, err := w.visible(home)
	if err != nil {
		t.Fatalf("the files do not load: %v", err)
	}
	st.seen = seen
	return st
}

// same reports whether data at rel is the version ref.
func (w writer) same(home, rel string, data, ref []byte) error {
	if w.sameVersion != nil {
		return w.sameVersion(home, rel, data, ref)
	}
	if !bytes.Equal(data, ref) {
		return fmt.Errorf("differs from it (%s)", digest(data))
	}
	return nil
}

// digest names content in failure messages without showing a token.
func digest(b []byte) string {
	h := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes, sha256 %x", len(b), h[:6])
}

// timing is when, in a typical uninterrupted run, the run takes its
// first lock, creates its first temporary file, lands its last rename,
// and exits: kill delays are drawn before, inside and after the writes.
type timing struct {
	lock, temp, renamed, exit time.Duration
}

// calibrate runs v uninterrupted five times: the result every later run
// must reproduce, and its timing (medians), seen through inotify.
func calibrate(t *testing.T, w writer, v variant) (state, timing) {
	t.Helper()
	var ref state
	var lock, temp, renamed, exit []time.Duration
	for i := range 5 {
		home := t.TempDir()
		v.start(t, home)
		old := capture(t, w, home, v.files)
		wt, err := watch(filepath.Join(home, filepath.Dir(v.files[0])), nil)
		if err != nil {
			t.Fatal(err)
		}
		o := mustSucceed(t, home, v.run)
		events, err := wt.stop()
		if err != nil {
			t.Fatal(err)
		}
		var tm timing
		for _, e := range events {
			at := e.at.Sub(o.began)
			switch {
			case strings.HasSuffix(e.name, ".lock") && tm.lock == 0:
				tm.lock = at
			case strings.Contains(e.name, ".tmp-") && tm.temp == 0:
				tm.temp = at
			case e.renamed:
				tm.renamed = at
			}
		}
		if tm.lock == 0 || tm.temp == 0 || tm.renamed == 0 {
			t.Fatalf("%s: inotify saw no lock, temporary file or rename in %d events", v.name, len(events))
		}
		lock, temp, renamed, exit = append(lock, tm.lock), append(temp, tm.temp), append(renamed, tm.renamed), append(exit, o.elapsed)

		got := capture(t, w, home, v.files)
		for _, rel := range v.files {
			if got.data[rel] == nil {
				t.Fatalf("%s: an uninterrupted run left no %s", v.name, rel)
			}
			if got.modes[rel] != v.modes[rel] {
				t.Errorf("%s: %s has mode %04o, want %04o", v.name, rel, got.modes[rel], v.modes[rel])
			}
		}
		if temps, locks := strays(t, home, v, old.data, 0); len(temps)+len(locks) > 0 {
			t.Errorf("%s: an uninterrupted run left %q %q", v.name, temps, locks)
		}
		if i == 0 {
			ref = got
			continue
		}
		for _, rel := range v.files {
			if err := w.same(home, rel, got.data[rel], ref.data[rel]); err != nil {
				t.Fatalf("%s: two uninterrupted runs wrote different %s: %v", v.name, rel, err)
			}
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	return ref, timing{lock: median(lock), temp: median(temp), renamed: median(renamed), exit: median(exit)}
}

// plan draws a kill moment. Timing from the start alone would mostly
// miss the writes, which take a few milliseconds at the end of a run whose
// length a loaded machine stretches; so a third of the kills count from
// the start and land before the lock is taken, a third count from the
// moment the lock file appears and land while it is held, and a third
// count from the first temporary file and land in or between the writes,
// or after them, up to shortly before the exit.
func (tm timing) plan(rng *rand.Rand) (anchor string, delay time.Duration) {
	between := func(a, b time.Duration) time.Duration { return a + time.Duration(rng.Float64()*float64(b-a)) }
	switch rng.IntN(3) {
	case 0:
		return "start", between(0, tm.lock)
	case 1:
		return "lock", between(0, tm.renamed-tm.lock)
	default:
		return "temp", between(0, (tm.exit-tm.temp)*9/10)
	}
}

// anchors pick the file event a kill delay counts from.
var anchors = map[string]func(name string) bool{
	"lock": func(name string) bool { return strings.HasSuffix(name, ".lock") },
	"temp": func(name string) bool { return strings.Contains(name, ".tmp-") },
}

func crashWriter(t *testing.T, w writer, seed uint64) {
	checkNeeds(t, w)
	nix := ""
	if w.nixReads {
		nix = nixPath(t)
	}
	refs := make([]state, len(w.variants))
	timings := make([]timing, len(w.variants))
	for i, v := range w.variants {
		refs[i], timings[i] = calibrate(t, w, v)
		tm := timings[i]
		t.Logf("variant %s, medians of 5 uninterrupted runs: lock taken at %v, first temporary file %v, last rename %v, exit %v",
			v.name, tm.lock.Round(time.Microsecond*100), tm.temp.Round(time.Microsecond*100), tm.renamed.Round(time.Microsecond*100), tm.exit.Round(time.Microsecond*100))
	}
	if t.Failed() {
		return
	}
	trials := w.crashTrials
	if testing.Short() {
		trials /= 5
	}
	var (
		mu        sync.Mutex
		outcomes  = map[string]int{}
		nixChecks atomic.Int32
	)
	// Workers rather than t.Parallel: one more trial than cores keeps the
	// CPU busy while trials wait on fsync or on their checks.
	workers := runtime.GOMAXPROCS(0) + 1
	jobs := make(chan int)
	begin := time.Now()
	t.Run("trials", func(t *testing.T) {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for n := range jobs {
					rng := rand.New(rand.NewPCG(seed, uint64(n)))
					vi := rng.IntN(len(w.variants))
					anchor, delay := timings[vi].plan(rng)
					t.Run(fmt.Sprintf("%03d-%s", n, w.variants[vi].name), func(t *testing.T) {
						what := crashTrial(t, w, w.variants[vi], refs[vi], anchor, delay, rng, nix, &nixChecks)
						mu.Lock()
						outcomes[what]++
						mu.Unlock()
					})
				}
			})
		}
		for n := range trials {
			jobs <- n
		}
		close(jobs)
		wg.Wait()
	})
	var lines []string
	for k, n := range outcomes {
		lines = append(lines, fmt.Sprintf("%4d  %s", n, k))
	}
	sort.Strings(lines)
	t.Logf("%d trials in %v; outcomes (files: %s):\n%s", trials, time.Since(begin).Round(time.Millisecond),
		strings.Join(w.variants[0].files, ", "), strings.Join(lines, "\n"))
	if nix != "" {
		t.Logf("the real nix checked %d states with temporary files left", min(nixChecks.Load(), 3))
	}
}

// crashTrial runs one kill and the run after it; it returns what the kill
// left, for the log.
func crashTrial(t *testing.T, w writer, v variant, ref state, anchor string, delay time.Duration, rng *rand.Rand, nix string, nixChecks *atomic.Int32) string {
	home := t.TempDir()
	v.start(t, home)
	old := capture(t, w, home, v.files)

	wt, err := watch(filepath.Join(home, filepath.Dir(v.files[0])), anchors[anchor])
	if err != nil {
		t.Fatal(err)
	}
	from := wt.hit
	if anchor == "start" {
		now := make(chan struct{})
		close(now)
		from = now
	}
	o, err := run(home, v.run, &kill{after: from, delay: delay})
	if _, werr := wt.stop(); werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !o.killed && o.code != 0 {
		t.Fatalf("exit %d before the kill\n%s", o.code, o.stderr)
	}
	t.Logf("kill %v after %s: pid %d, finished first: %v", delay, anchor, o.pid, !o.killed)
	if !o.killed {
		// Nothing was killed: the run must have done all of its work.
		done := capture(t, w, home, v.files)
		for _, rel := range v.files {
			if err := w.same(home, rel, done.data[rel], ref.data[rel]); err != nil {
				t.Errorf("a run that finished left %s that is not what it should write: %v", rel, err)
			}
		}
		return "finished before the kill"
	}

	var versions []string
	for _, rel := range v.files {
		p := filepath.Join(home, rel)
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			data = nil
		} else if err != nil {
			t.Fatal(err)
		}
		switch {
		case data == nil && old.data[rel] == nil || data != nil && old.data[rel] != nil && bytes.Equal(data, old.data[rel]):
			versions = append(versions, "old")
			if data != nil {
				checkMode(t, p, old.modes[rel])
			}
		case data != nil:
			if err := w.same(home, rel, data, ref.data[rel]); err != nil {
				t.Errorf("%s is neither its old version (%s) nor its new one (%s): %v", rel, digest(old.data[rel]), digest(ref.data[rel]), err)
			}
			versions = append(versions, "new")
			checkMode(t, p, v.modes[rel])
		default:
			t.Errorf("%s is gone", rel)
			versions = append(versions, "gone")
		}
	}
	seen, err := w.visible(home)
	if err != nil {
		t.Fatalf("after the kill the files do not load: %v", err)
	}
	if !sameTokens(seen, old.seen) && !sameTokens(seen, ref.seen) {
		t.Errorf("after the kill the consumer sees %d tokens, neither the old %d nor the new %d", len(seen), len(old.seen), len(ref.seen))
	}
	temps, locks := strays(t, home, v, old.data, o.pid)
	if nix != "" && len(temps) > 0 && nixChecks.Add(1) <= 3 {
		got, err := nixTokens(nix, home)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTokens(got, seen) {
			t.Errorf("with temporary files left, nix sees %d tokens, our parser %d", len(got), len(seen))
		}
	}

	// A kill that left every file old and nothing beside them left the
	// directory as the trial started: the next run is then an uninterrupted
	// run from the start state, which calibrate ran and checked, so it is
	// not run again (a third of the trials; the process start dominates
	// the package's time).
	if len(temps)+len(locks) == 0 && !slices.Contains(versions, "new") {
		return strings.Join(versions, "/") + " (next run as calibrated)"
	}

	// Half the trials age the temporary files, so that a writer that
	// removed only old ones could not pass; none may survive either way.
	if rng.IntN(2) == 0 {
		hourAgo := time.Now().Add(-time.Hour)
		for _, p := range temps {
			if err := os.Chtimes(p, hourAgo, hourAgo); err != nil {
				t.Fatal(err)
			}
		}
	}

	next := mustSucceed(t, home, v.run)
	pidLeft := false
	for _, l := range locks {
		if b, _ := os.ReadFile(l); strings.TrimSpace(string(b)) == strconv.Itoa(o.pid) {
			pidLeft = true
		}
	}
	if pidLeft && w.reportsTakeover && !strings.Contains(next.stderr, "took over the lock") {
		t.Errorf("the run after the kill took over a lock of process %d without saying so:\n%s", o.pid, next.stderr)
	}
	after := capture(t, w, home, v.files)
	for _, rel := range v.files {
		if err := w.same(home, rel, after.data[rel], ref.data[rel]); err != nil {
			t.Errorf("after the kill and a new run, %s is not what an uninterrupted run writes: %v", rel, err)
		}
		if after.modes[rel] != v.modes[rel] {
			t.Errorf("after the kill and a new run, %s has mode %04o, want %04o", rel, after.modes[rel], v.modes[rel])
		}
	}
	if !sameTokens(after.seen, ref.seen) {
		t.Errorf("after the kill and a new run the consumer sees %d tokens, want the %d of an uninterrupted run", len(after.seen), len(ref.seen))
	}
	// A run that has nothing to write (render, when the killed run had
	// finished its writes) takes no lock and so leaves the killed run's
	// lock file; it must not be held by anyone.
	tempsAfter, locksAfter := strays(t, home, v, old.data, o.pid)
	for _, l := range locksAfter {
		if held(t, l) {
			t.Errorf("%s is still locked after the runs ended", filepath.Base(l))
		}
	}
	for _, p := range tempsAfter {
		t.Errorf("the run after the kill kept the temporary file %s of the dead process", filepath.Base(p))
	}

	what := strings.Join(versions, "/")
	if len(temps) > 0 {
		what += " +temp"
	}
	if len(locks) > 0 {
		what += " +lock"
	}
	return what
}

// held reports whether some process holds the flock on the lock file p.
func held(t *testing.T, p string) bool {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func checkMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", filepath.Base(p), got, want)
	}
}

// strays checks what else is beside the written files and returns the
// temporary and lock files. Allowed: a lock file of a written file, empty
// or naming pid (the killed process; 0: none may name a process); a
// temporary file of a written file or of its backup, no more open than
// the file it is for; a backup of nix.conf that holds its old version,
// mode 0600. Anything else is an error.
func strays(t *testing.T, home string, v variant, old map[string][]byte, pid int) (temps, locks []string) {
	t.Helper()
	dirs := map[string]bool{}
	bases := map[string]string{} // base name -> rel
	for _, rel := range v.files {
		dirs[filepath.Join(home, filepath.Dir(rel))] = true
		bases[filepath.Base(rel)] = rel
	}
	for dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
	next:
		for _, e := range ents {
			name, p := e.Name(), filepath.Join(dir, e.Name())
			if _, ok := bases[name]; ok {
				continue
			}
			for base, rel := range bases {
				switch {
				case name == base+".lock":
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if s := strings.TrimSpace(string(b)); s != "" && (pid == 0 || s != strconv.Itoa(pid)) {
						t.Errorf("lock file %s names process %s", name, s)
					}
					locks = append(locks, p)
					continue next
				case strings.HasPrefix(name, "."+base+".") && strings.Contains(name, ".tmp-"):
					limit := v.modes[rel]
					if strings.HasPrefix(name, "."+base+".before-nix-auth") {
						limit = 0o600
					}
					if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&^limit != 0 {
						t.Errorf("temporary file %s: %v, mode %v, want at most %04o", name, err, fi.Mode(), limit)
					}
					temps = append(temps, p)
					continue next
				case isBackup(name, base):
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					// The old file, its token lines made comments.
					if old == nil || tokenSetting.Match(b) || bytes.Count(b, []byte("\n")) != bytes.Count(old[rel], []byte("\n")) {
						t.Errorf("backup %s is not the old %s without its tokens", name, base)
					}
					checkMode(t, p, 0o600)
					continue next
				}
			}
			t.Errorf("unexpected file %s", name)
		}
	}
	sort.Strings(temps)
	return temps, locks
}

// isBackup: nix.conf.before-nix-auth, or .1, .2, ... when that was taken.
func isBackup(name, base string) bool {
	rest, ok := strings.CutPrefix(name, base+".before-nix-auth")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(rest, "."))
	return strings.HasPrefix(rest, ".") && err == nil && n > 0
}
