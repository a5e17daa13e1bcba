package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// rekeyMain compares `nix-auth rekey` with `sops updatekeys -y` on the same
// sops file, encrypted to one key, after .sops.yaml grew to n recipients
// (that key among them). The file is put back before every run, so each
// run re-wraps the data key for all n.
func rekeyMain(args []string) error {
	fs := flag.NewFlagSet("rekey", flag.ExitOnError)
	var c commonFlags
	c.register(fs)
	sizes := fs.String("sizes", "10,100,1000", "recipient counts, comma-separated")
	hosts := fs.Int("hosts", 20, "tokens in the store")
	fs.Parse(args)
	if err := c.check(); err != nil {
		return err
	}
	var last int
	var lastMedians []time.Duration
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-sizes: %q is not a recipient count", f)
		}
		jobs, err := rekeyJobs(c, n, *hosts)
		if err != nil {
			return err
		}
		if c.refOnly {
			jobs = jobs[1:]
		}
		res, err := measure(c.runs, jobs)
		if err != nil {
			return err
		}
		fmt.Printf("**%d recipients** (%d tokens; file before: %s)\n\n", n, *hosts, size(filepath.Join(c.work, fmt.Sprintf("rekey-%d", n), "tokens.yaml.orig")))
		m := table(os.Stdout, jobs, res)
		if n >= last {
			last, lastMedians = n, m
		}
	}
	if !c.refOnly && len(lastMedians) == 2 {
		target(os.Stdout, fmt.Sprintf("rekey to %d recipients vs sops updatekeys", last), lastMedians[0], lastMedians[1], 0.6)
	}
	return nil
}

// rekeyJobs makes the fixture for n recipients and returns the nix-auth
// and sops jobs on it.
func rekeyJobs(c commonFlags, n, hosts int) ([]job, error) {
	dir := filepath.Join(c.work, fmt.Sprintf("rekey-%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key := filepath.Join(dir, "key.txt")
	id, err := newIdentity(key)
	if err != nil {
		return nil, err
	}
	recips := []string{id.Recipient().String()}
	for len(recips) < n {
		other, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		recips = append(recips, other.Recipient().String())
	}
	file, orig := filepath.Join(dir, "tokens.yaml"), filepath.Join(dir, "tokens.yaml.orig")
	if err := writeSopsConfig(dir, recips[:1]); err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, sopsPlaintext(fleet(hosts)), 0o600); err != nil {
		return nil, err
	}
	if err := sopsEncrypt(c.sops, dir, file); err != nil {
		return nil, err
	}
	if err := os.Rename(file, orig); err != nil {
		return nil, err
	}
	if err := writeSopsConfig(dir, recips); err != nil {
		return nil, err
	}
	reset := func() error {
		data, err := os.ReadFile(orig)
		if err != nil {
			return err
		}
		return os.WriteFile(file, data, 0o600)
	}
	check := func() error {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if got := strings.Count(string(data), "recipient: age1"); got != n {
			return fmt.Errorf("%s has %d recipients after the rekey, want %d", file, got, n)
		}
		return nil
	}
	keyEnv := env(dir, "SOPS_AGE_KEY_FILE="+key)
	return []job{
		{label: "nix-auth rekey tokens.yaml", argv: []string{c.nixAuth, "rekey", file},
			dir: dir, env: keyEnv, reset: reset, check: check},
		{label: "sops updatekeys -y tokens.yaml", argv: []string{c.sops, "updatekeys", "-y", file},
			dir: dir, env: keyEnv, reset: reset, check: check},
	}, nil
}
