package safefile

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Step is a point of a Write where InjectFault can make it fail.
type Step string

// The steps of a Write, in the order they run for each file.
const (
	StepCreate Step = "create" // creating the temporary file
	StepWrite  Step = "write"  // writing its data
	StepSync   Step = "sync"   // fsyncing it
	StepLink   Step = "link"   // keeping the old version for a rollback
	StepRename Step = "rename" // renaming it over the file
)

type fault struct {
	prefix string
	step   Step
	skip   int
	err    error
}

var (
	faultsOn atomic.Bool // no lock taken on the way when no test injected one
	faultsMu sync.Mutex
	faults   []*fault
)

// InjectFault makes Write fail with err at step for files whose path
// starts with prefix, once skip such steps have passed, until remove is
// called. It is the seam for tests of nix-auth's writers: a full disk
// (StepWrite with ENOSPC), a rename that fails half way through a
// multi-file write. Nothing else calls it; a prefix per test keeps
// parallel tests apart.
func InjectFault(prefix string, step Step, skip int, err error) (remove func()) {
	f := &fault{prefix: prefix, step: step, skip: skip, err: err}
	faultsMu.Lock()
	faults = append(faults, f)
	faultsOn.Store(true)
	faultsMu.Unlock()
	return func() {
		faultsMu.Lock()
		defer faultsMu.Unlock()
		for i, g := range faults {
			if g == f {
				faults = append(faults[:i], faults[i+1:]...)
				break
			}
		}
		faultsOn.Store(len(faults) > 0)
	}
}

// injected is the error a test injected for step on path, if any.
func injected(step Step, path string) error {
	if !faultsOn.Load() {
		return nil
	}
	faultsMu.Lock()
	defer faultsMu.Unlock()
	for _, f := range faults {
		if f.step != step || !strings.HasPrefix(path, f.prefix) {
			continue
		}
		if f.skip > 0 {
			f.skip--
			continue
		}
		return f.err
	}
	return nil
}
