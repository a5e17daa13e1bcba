package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// startupMain compares the cost of starting each binary: `nix-auth
// version` (which does nothing but print) against `age --version`, the
// floor for a Go program of this kind, with `sops --version` beside them.
// Every process pays this before any work: each activation, each login.
func startupMain(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	var c commonFlags
	c.register(fs)
	ageBin := fs.String("age", "", "age binary (built from the version pinned in tools/go.mod)")
	fs.Parse(args)
	if *ageBin == "" {
		return fmt.Errorf("-age is required")
	}
	if err := c.check(); err != nil {
		return err
	}
	dir := filepath.Join(c.work, "startup")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	jobs := []job{
		{label: "nix-auth version", argv: []string{c.nixAuth, "version"}, dir: dir, env: env(dir)},
		{label: "sops --version --disable-version-check", argv: []string{c.sops, "--version", "--disable-version-check"}, dir: dir, env: env(dir)},
		{label: "age --version", argv: []string{*ageBin, "--version"}, dir: dir, env: env(dir)},
	}
	if c.refOnly {
		jobs = jobs[1:]
	}
	res, err := measure(c.runs, jobs)
	if err != nil {
		return err
	}
	m := table(os.Stdout, jobs, res)
	if !c.refOnly {
		target(os.Stdout, "nix-auth version vs age --version", m[0], m[2], 2)
	}
	return nil
}
