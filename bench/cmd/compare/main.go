// Command compare is the whole-process half of nix-auth's benchmark suite
// (bench/run drives it): it makes the fixtures, runs nix-auth and the
// reference tool on the same files, alternating, and prints Markdown tables
// of median wall time, CPU time and peak memory. Peak memory is the
// kernel's maxrss for each child, read from its rusage, so no external
// time(1) is needed.
//
//	compare startup -nix-auth BIN -sops BIN -age BIN -work DIR [-runs N]
//	compare render  -nix-auth BIN -sops BIN -age BIN -work DIR [-runs N] [-hosts N]
//	compare rekey   -nix-auth BIN -sops BIN -work DIR [-runs N] [-sizes 10,100,1000]
//	compare gobench FILE   (summarise `go test -bench` output: medians per benchmark)
//
// startup, render and rekey end with a line per target of issue 10 (a
// ratio of median wall times and its limit), which bench/run collects.
//
// Fixtures come from the real sops CLI (`sops encrypt`) and the age
// library, not from nix-auth's own crypt package, so a comparison never
// depends on the code it measures to set itself up.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "startup":
		err = startupMain(os.Args[2:])
	case "render":
		err = renderMain(os.Args[2:])
	case "rekey":
		err = rekeyMain(os.Args[2:])
	case "gobench":
		err = gobenchMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "compare: error: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: compare startup|render|rekey|gobench [flags]  (see bench/run)")
	os.Exit(2)
}

// job is one command under measurement.
type job struct {
	label string
	argv  []string
	dir   string
	env   []string
	// reset runs, untimed, before every run: it puts back the input a
	// command changes (rekey) or removes the output it would skip
	// rewriting (render), so that every run does the whole work.
	reset func() error
	// check runs once after the warm-up run, to prove the command did
	// what is being compared.
	check func() error
}

// sample is one run's cost.
type sample struct {
	wall, cpu time.Duration
	maxRSS    int64 // KiB
}

// runOnce runs j once and measures it. The command's output is discarded
// (sops -d and age -d print the tokens); its stderr is kept for errors.
func runOnce(j job) (sample, error) {
	if j.reset != nil {
		if err := j.reset(); err != nil {
			return sample{}, fmt.Errorf("%s: reset: %w", j.label, err)
		}
	}
	c := exec.Command(j.argv[0], j.argv[1:]...)
	c.Dir, c.Env = j.dir, j.env
	c.Stdin, c.Stdout = nil, io.Discard
	var stderr strings.Builder
	c.Stderr = &stderr
	start := time.Now()
	err := c.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %s: %v\n%s", j.label, strings.Join(j.argv, " "), err, stderr.String())
	}
	s := sample{wall: wall, cpu: c.ProcessState.UserTime() + c.ProcessState.SystemTime()}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.maxRSS = ru.Maxrss // KiB on Linux
	}
	return s, nil
}

// measure runs every job once to warm the page cache (and checks it), then
// runs rounds of all jobs, rotating which goes first, so that drift in the
// machine's speed falls on every job alike.
func measure(runs int, jobs []job) ([][]sample, error) {
	for _, j := range jobs {
		if _, err := runOnce(j); err != nil {
			return nil, err
		}
		if j.check != nil {
			if err := j.check(); err != nil {
				return nil, fmt.Errorf("%s: %w", j.label, err)
			}
		}
	}
	out := make([][]sample, len(jobs))
	for r := range runs {
		for k := range jobs {
			i := (r + k) % len(jobs)
			s, err := runOnce(jobs[i])
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], s)
		}
	}
	return out, nil
}

func median[T int64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func pick[T any](ss []sample, f func(sample) T) []T {
	out := make([]T, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms" }

func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB" }

// table prints one Markdown table row per job, and the ratio of each job's
// median wall time to the last job's (the reference tool); it returns the
// median wall times.
func table(w io.Writer, jobs []job, res [][]sample) []time.Duration {
	fmt.Fprintln(w, "| command | runs | median wall | min – max wall | median CPU (user+sys) | median peak RSS | max peak RSS | wall vs reference |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	ref := median(pick(res[len(res)-1], func(s sample) time.Duration { return s.wall }))
	medians := make([]time.Duration, len(jobs))
	for i, j := range jobs {
		walls := pick(res[i], func(s sample) time.Duration { return s.wall })
		rss := pick(res[i], func(s sample) int64 { return s.maxRSS })
		m := median(walls)
		medians[i] = m
		fmt.Fprintf(w, "| `%s` | %d | %s | %s – %s | %s | %s | %s | %.2f× |\n",
			j.label, len(walls), ms(m), ms(slices.Min(walls)), ms(slices.Max(walls)),
			ms(median(pick(res[i], func(s sample) time.Duration { return s.cpu }))),
			mib(median(rss)), mib(slices.Max(rss)), float64(m)/float64(ref))
	}
	fmt.Fprintln(w)
	return medians
}

// target prints whether a ratio of median wall times meets its limit, as
// one line bench/run lifts into BENCHMARKS.md's summary.
func target(w io.Writer, what string, got, ref time.Duration, limit float64) {
	r := float64(got) / float64(ref)
	verdict, bound := "met", fmt.Sprintf("at most %.1f×", limit)
	switch {
	case limit <= 0:
		// A row beside the targets, for comparison only.
		verdict, bound = "", "none (for comparison)"
	case r > limit:
		verdict = "**not met**"
	}
	fmt.Fprintf(w, "TARGET | %s | %.2f× (%s vs %s) | %s | %s\n\n", what, r, ms(got), ms(ref), bound, verdict)
}

// env is a minimal environment for the measured commands: HOME points into
// the work directory, so no command finds the machine's own keys or
// config, and extra (KEY=value) is added.
func env(home string, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "LANG=C"}, extra...)
}

// commonFlags are the flags render and rekey share.
type commonFlags struct {
	nixAuth, sops, work string
	runs                int
	// refOnly measures the reference tools alone, while nix-auth lacks
	// the command.
	refOnly bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.nixAuth, "nix-auth", "", "nix-auth binary")
	fs.StringVar(&c.sops, "sops", "", "sops binary (built from the version pinned in tools/go.mod)")
	fs.StringVar(&c.work, "work", "", "empty directory for fixtures")
	fs.IntVar(&c.runs, "runs", 10, "timed runs of each command")
	fs.BoolVar(&c.refOnly, "reference-only", false, "measure only the reference tools (nix-auth lacks the command)")
}

func (c *commonFlags) check() error {
	if (c.nixAuth == "" && !c.refOnly) || c.sops == "" || c.work == "" {
		return errors.New("-nix-auth (unless -reference-only), -sops and -work are required")
	}
	if c.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	for _, p := range []*string{&c.nixAuth, &c.sops, &c.work} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return os.MkdirAll(c.work, 0o700)
}
