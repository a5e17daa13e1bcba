package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// benchResult is every run of one benchmark: unit -> values.
type benchResult struct {
	pkg, name string
	values    map[string][]float64
}

// gobenchMain summarises `go test -bench` output (with -count > 1) as a
// Markdown table of medians, one row per benchmark, so the results file
// reads without benchstat.
func gobenchMain(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: compare gobench FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var order []*benchResult
	byKey := map[string]*benchResult{}
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/nix-auth/nix-auth/")
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		key := pkg + " " + fields[0]
		r := byKey[key]
		if r == nil {
			r = &benchResult{pkg: pkg, name: fields[0], values: map[string][]float64{}}
			byKey[key] = r
			order = append(order, r)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			r.values[fields[i+1]] = append(r.values[fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return errors.New(args[0] + ": no benchmark results")
	}
	fmt.Println("| package | benchmark | runs | median time/op | min – max time/op | B/op | allocs/op | other |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---|")
	for _, r := range order {
		ns := r.values["ns/op"]
		var other []string
		for unit, vs := range r.values {
			if unit != "ns/op" && unit != "B/op" && unit != "allocs/op" {
				other = append(other, fmt.Sprintf("%s %s", num(medianF(vs)), unit))
			}
		}
		slices.Sort(other)
		fmt.Printf("| %s | %s | %d | %s | %s – %s | %s | %s | %s |\n", r.pkg, r.name, len(ns),
			dur(medianF(ns)), dur(slices.Min(ns)), dur(slices.Max(ns)),
			num(medianF(r.values["B/op"])), num(medianF(r.values["allocs/op"])), strings.Join(other, ", "))
	}
	return nil
}

func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// dur prints nanoseconds in the unit that keeps three digits or so.
func dur(ns float64) string {
	switch {
	case ns < 0:
		return "-"
	case ns >= 1e9:
		return strconv.FormatFloat(ns/1e9, 'f', 2, 64) + " s"
	case ns >= 1e6:
		return strconv.FormatFloat(ns/1e6, 'f', 1, 64) + " ms"
	case ns >= 1e3:
		return strconv.FormatFloat(ns/1e3, 'f', 1, 64) + " µs"
	}
	return strconv.FormatFloat(ns, 'f', 0, 64) + " ns"
}

func num(v float64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
