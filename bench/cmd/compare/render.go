package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// renderMain compares `nix-auth render` of a sops store and of an .age
// store holding the same tokens with `sops -d` and `age -d` of them: the
// work each host does at activation. Render runs twice per store: with its
// output up to date (the usual activation: decrypt, compare, write
// nothing), and with the output removed before every run, so that it
// writes (temporary file, fsync, rename, directory fsync), which the
// decrypting CLIs, printing to a pipe, do not.
func renderMain(args []string) error {
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	var c commonFlags
	c.register(fs)
	ageBin := fs.String("age", "", "age binary (built from the version pinned in tools/go.mod)")
	hosts := fs.Int("hosts", 20, "tokens in the store")
	fs.Parse(args)
	if *ageBin == "" {
		return fmt.Errorf("-age is required")
	}
	if err := c.check(); err != nil {
		return err
	}
	dir := filepath.Join(c.work, "render")
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o700); err != nil {
		return err
	}
	key := filepath.Join(dir, "key.txt")
	id, err := newIdentity(key)
	if err != nil {
		return err
	}
	fl := fleet(*hosts)
	sopsFile, ageFile := filepath.Join(dir, "tokens.yaml"), filepath.Join(dir, "tokens.age")
	if err := writeSopsConfig(dir, []string{id.Recipient().String()}); err != nil {
		return err
	}
	if err := os.WriteFile(sopsFile, sopsPlaintext(fl), 0o600); err != nil {
		return err
	}
	if err := sopsEncrypt(c.sops, dir, sopsFile); err != nil {
		return err
	}
	if err := writeAgeFile(ageFile, accessTokensLine(fl), id.Recipient()); err != nil {
		return err
	}

	renderJob := func(store, out string, write bool) job {
		out = filepath.Join(dir, "out", out)
		j := job{
			label: "nix-auth render " + filepath.Base(store) + " --identity key.txt --output " + filepath.Base(out) + " (output up to date)",
			argv:  []string{c.nixAuth, "render", store, "--identity", key, "--output", out},
			dir:   dir, env: env(dir),
			check: func() error { return hasTokens(out, fl) },
		}
		if write {
			j.label = strings.Replace(j.label, "(output up to date)", "(output removed: writes)", 1)
			j.reset = func() error {
				if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
					return err
				}
				return nil
			}
		}
		return j
	}
	sopsJob := job{label: "sops -d tokens.yaml", argv: []string{c.sops, "-d", sopsFile},
		dir: dir, env: env(dir, "SOPS_AGE_KEY_FILE="+key)}
	ageJob := job{label: "age -d -i key.txt tokens.age", argv: []string{*ageBin, "-d", "-i", key, ageFile},
		dir: dir, env: env(dir)}

	fmt.Printf("Store: %d tokens; sops file %s, age file %s (armored).\n\n", *hosts, size(sopsFile), size(ageFile))
	// One round of all four, alternating, so that each ratio to age -d
	// (the reference, last) is taken under the same load.
	jobs := []job{renderJob(sopsFile, "sops.conf", false), renderJob(sopsFile, "sops-written.conf", true), sopsJob,
		renderJob(ageFile, "age.conf", false), renderJob(ageFile, "age-written.conf", true), ageJob}
	if c.refOnly {
		jobs = []job{sopsJob, ageJob}
	}
	res, err := measure(c.runs, jobs)
	if err != nil {
		return err
	}
	m := table(os.Stdout, jobs, res)
	if !c.refOnly {
		ref := m[len(m)-1]
		target(os.Stdout, fmt.Sprintf("render of a %d-token sops store vs age -d of the same tokens (output up to date)", *hosts), m[0], ref, 1.5)
		target(os.Stdout, "the same render writing its output (fsync), for comparison", m[1], ref, 0)
	}
	return nil
}

// hasTokens checks that the rendered file holds every token of the fleet.
func hasTokens(path string, fl []fleetHost) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, h := range fl {
		if !strings.Contains(string(data), h.host+"="+h.token) {
			return fmt.Errorf("%s lacks the token for %s", path, h.host)
		}
	}
	return nil
}

func size(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f KiB", float64(fi.Size())/1024)
}
