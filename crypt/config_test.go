package crypt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/tooltest"
)

// sopsRecipients encrypts file with the real sops CLI, run in the current
// directory so it finds .sops.yaml itself, and returns the age recipients it
// wrote.
func sopsRecipients(t *testing.T, sops, file string, env ...string) []string {
	t.Helper()
	cmd := exec.Command(sops, "encrypt", file)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sops encrypt %s: %v\n%s", file, err, out)
	}
	var got []string
	for _, m := range regexp.MustCompile(`recipient: (age1\w+)`).FindAllStringSubmatch(string(out), -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	return got
}

func sortedAges(rs []Recipient) []string {
	a := ages(rs)
	slices.Sort(a)
	return a
}

func TestSopsCreationRule(t *testing.T) {
	sops := tooltest.ToolPath(t, "sops")
	repo := t.TempDir()
	r1, r2, r3 := vectorRecipient(t, "host1"), vectorRecipient(t, "host2"), vectorRecipient(t, "host3")
	config := `creation_rules:
  - path_regex: ^secrets/tokens\.yaml$
    encrypted_regex: ^(token|refresh_token)$
    age: >-
      ` + r1 + `,
      ` + r2 + `
  - path_regex: ^secrets/ssh/.*\.yaml$
    age:
      - ` + vectorPub(t, "host3") + `
      - ` + r1 + `
  - path_regex: ^pgp/.*
    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21
  - path_regex: ^mixed/.*
    age: ` + r1 + `
    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21
  - path_regex: ^shamir/.*
    key_groups:
      - age: [` + r1 + `]
      - age: [` + r2 + `]
  - path_regex: ^suffix/.*
    unencrypted_suffix: _plain
    age: ` + r3 + `
`
	writeFile(t, filepath.Join(repo, ".sops.yaml"), []byte(config))
	for _, f := range []string{"secrets/tokens.yaml", "secrets/ssh/a.yaml", "suffix/x.yaml"} {
		writeFile(t, filepath.Join(repo, f), []byte("token: x\n"))
	}
	env := envOf(map[string]string{})

	// From a subdirectory, as sops does: it walks up from the current
	// directory, and matches path_regex against the path relative to the
	// config.
	t.Chdir(filepath.Join(repo, "secrets"))
	rule, err := SopsCreationRule("tokens.yaml", env)
	if err != nil {
		t.Fatalf("%v (hints %q)", err, hintsOf(err))
	}
	if rule.ConfigPath != filepath.Join(repo, ".sops.yaml") {
		t.Errorf("ConfigPath = %s", rule.ConfigPath)
	}
	if got := ages(rule.Recipients); strings.Join(got, ",") != r1+","+r2 {
		t.Errorf("recipients = %q", got)
	}
	if rule.EncryptedRegex != "^(token|refresh_token)$" || rule.UnencryptedSuffix != "" {
		t.Errorf("encrypted_regex = %q, unencrypted_suffix = %q", rule.EncryptedRegex, rule.UnencryptedSuffix)
	}
	if want := sopsRecipients(t, sops, "tokens.yaml"); !slices.Equal(sortedAges(rule.Recipients), want) {
		t.Errorf("we chose %q, sops chose %q", sortedAges(rule.Recipients), want)
	}

	// ssh-ed25519 keys in the rule are converted.
	ssh, err := SopsCreationRule("ssh/a.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	if recips := ssh.Recipients; ssh.ConfigPath != rule.ConfigPath || strings.Join(ages(recips), ",") != r3+","+r1 || recips[0].SSH == "" {
		t.Errorf("ssh rule: %q from %s", ages(recips), ssh.ConfigPath)
	}

	t.Chdir(repo)
	rule, err = SopsCreationRule("suffix/x.yaml", env)
	if err != nil || rule.UnencryptedSuffix != "_plain" || strings.Join(ages(rule.Recipients), ",") != r3 {
		t.Errorf("suffix rule: %+v, %v", rule, err)
	}
	if want := sopsRecipients(t, sops, "suffix/x.yaml"); !slices.Equal(sortedAges(rule.Recipients), want) {
		t.Errorf("we chose %q, sops chose %q", sortedAges(rule.Recipients), want)
	}

	for _, tc := range []struct {
		file string
		want []string
	}{
		{"other/x.yaml", []string{filepath.Join(repo, ".sops.yaml"), "no creation rule matches other/x.yaml"}},
		{"pgp/x.yaml", []string{"pgp key 85D77543B3D624B63CEA9E6DBC17301B491B3F21", "cannot encrypt to"}},
		{"mixed/x.yaml", []string{"pgp key 85D77543B3D624B63CEA9E6DBC17301B491B3F21"}},
		{"shamir/x.yaml", []string{"2 key groups"}},
	} {
		_, err := SopsCreationRule(tc.file, env)
		if err == nil {
			t.Errorf("%s: no error", tc.file)
			continue
		}
		if errors.Is(err, ErrNoSopsConfig) {
			t.Errorf("%s: %v must not fall back to --recipient", tc.file, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.file, err, w)
			}
		}
		if len(hintsOf(err)) == 0 {
			t.Errorf("%s: no hint", tc.file)
		}
	}
}

func TestSopsConfigLookup(t *testing.T) {
	r1 := vectorRecipient(t, "host1")
	elsewhere := t.TempDir()
	explicit := writeFile(t, filepath.Join(elsewhere, "custom.yaml"), []byte("creation_rules:\n  - age: "+r1+"\n"))

	empty := t.TempDir()
	t.Chdir(empty)
	if _, err := SopsCreationRule("tokens.yaml", envOf(nil)); !errors.Is(err, ErrNoSopsConfig) {
		t.Errorf("no config anywhere: err = %v, want ErrNoSopsConfig", err)
	}

	// SOPS_CONFIG is used as it is, without searching.
	rule, err := SopsCreationRule("tokens.yaml", envOf(map[string]string{"SOPS_CONFIG": explicit}))
	if err != nil || rule.ConfigPath != explicit || len(rule.Recipients) != 1 || rule.Recipients[0].Age != r1 {
		t.Errorf("SOPS_CONFIG: %+v, %v", rule, err)
	}
	if _, err := SopsCreationRule("tokens.yaml", envOf(map[string]string{"SOPS_CONFIG": filepath.Join(elsewhere, "nope.yaml")})); err == nil || errors.Is(err, ErrNoSopsConfig) {
		t.Errorf("missing SOPS_CONFIG: %v", err)
	}

	// A config without creation_rules is, to sops, no config.
	writeFile(t, filepath.Join(empty, ".sops.yaml"), []byte("stores:\n  yaml:\n    indent: 2\n"))
	if _, err := SopsCreationRule("tokens.yaml", envOf(nil)); !errors.Is(err, ErrNoSopsConfig) {
		t.Errorf("no creation_rules: err = %v, want ErrNoSopsConfig", err)
	}

	// .sops.yml is not a config name; sops warns when it skips one.
	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, ".sops.yaml"), []byte("creation_rules:\n  - age: "+r1+"\n"))
	writeFile(t, filepath.Join(repo, "sub", ".sops.yml"), []byte("creation_rules:\n  - pgp: X\n"))
	t.Chdir(filepath.Join(repo, "sub"))
	rule, err = SopsCreationRule("x.yaml", envOf(nil))
	if err != nil || rule.ConfigPath != filepath.Join(repo, ".sops.yaml") || !strings.Contains(rule.Warning, ".sops.yml") {
		t.Errorf("alternate name: %+v, %v", rule, err)
	}
}

// needNix returns the Nix program (nix-instantiate, nix) to test with.
// Outside CI a machine without Nix skips; in CI (CI=true) that is a
// failure, so the agenix path cannot go untested unnoticed.
func needNix(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func TestAgenixRecipients(t *testing.T) {
	nix := needNix(t, "nix-instantiate")
	repo := t.TempDir()
	native := newAgeKey(t).Recipient().String()
	writeFile(t, filepath.Join(repo, "keys.nix"), []byte(`{ host1 = "`+vectorPub(t, "host1")+`"; }`+"\n"))
	writeFile(t, filepath.Join(repo, "secrets.nix"), []byte(`let
  keys = import ./keys.nix;
  admins = [ "`+native+`" ];
in {
  "secrets/tokens.age".publicKeys = [ keys.host1 ] ++ admins;
  "secrets/empty.age".publicKeys = [ ];
  "secrets/rsa.age".publicKeys = [ "`+vectorPub(t, "rsa1")+`" ];
  "secrets/number.age".publicKeys = [ 42 ];
}
`))
	// The common layout with secrets.nix beside the secrets.
	writeFile(t, filepath.Join(repo, "fleet", "secrets.nix"), []byte(`{ "tokens.age".publicKeys = [ "`+vectorPub(t, "host2")+`" ]; }`+"\n"))
	a := Agenix{NixInstantiate: nix, Getenv: envOf(nil)}

	t.Chdir(repo)
	recips, secretsNix, err := a.Recipients("secrets/tokens.age")
	if err != nil {
		t.Fatalf("%v (hints %q)", err, hintsOf(err))
	}
	if secretsNix != filepath.Join(repo, "secrets.nix") {
		t.Errorf("secretsNix = %s", secretsNix)
	}
	if got := ages(recips); strings.Join(got, ",") != vectorRecipient(t, "host1")+","+native {
		t.Errorf("recipients = %q", got)
	}
	if recips[0].SSH != sshKeyOnly(vectorPub(t, "host1")) || recips[1].SSH != "" {
		t.Errorf("SSH forms = %q, %q", recips[0].SSH, recips[1].SSH)
	}

	// ./secrets.nix comes first, as in agenix, even when it has no entry
	// for the file and another secrets.nix sits beside it.
	_, _, err = a.Recipients("fleet/tokens.age")
	if err == nil || !strings.Contains(err.Error(), "there is no rule for fleet/tokens.age in "+filepath.Join(repo, "secrets.nix")) {
		t.Errorf("./secrets.nix first: %v", err)
	}
	// From elsewhere, secrets.nix beside the file is found and the entry
	// is looked up relative to it.
	t.Chdir(t.TempDir())
	recips, secretsNix, err = a.Recipients(filepath.Join(repo, "fleet", "tokens.age"))
	if err != nil || secretsNix != filepath.Join(repo, "fleet", "secrets.nix") || len(recips) != 1 || recips[0].Age != vectorRecipient(t, "host2") {
		t.Errorf("beside the file: %v from %s, %v", recips, secretsNix, err)
	}

	// RULES, as agenix reads it.
	t.Chdir(repo)
	withRules := Agenix{NixInstantiate: nix, Getenv: envOf(map[string]string{"RULES": "fleet/secrets.nix"})}
	recips, _, err = withRules.Recipients("fleet/tokens.age")
	if err != nil || len(recips) != 1 || recips[0].Age != vectorRecipient(t, "host2") {
		t.Errorf("RULES: %v, %v", recips, err)
	}
	if _, _, err := (Agenix{NixInstantiate: nix, Getenv: envOf(map[string]string{"RULES": "nope.nix"})}).Recipients("x.age"); err == nil || !strings.Contains(err.Error(), "RULES") {
		t.Errorf("missing RULES file: %v", err)
	}

	for _, tc := range []struct{ file, want string }{
		{"secrets/missing.age", "there is no rule for secrets/missing.age in " + filepath.Join(repo, "secrets.nix")},
		{"secrets/empty.age", `"secrets/empty.age".publicKeys is empty`},
		{"secrets/rsa.age", "only ssh-ed25519 keys can become age recipients"},
		{"secrets/number.age", "entry 1 is not a string"},
		// Names reach Nix as data, never as code.
		{`secrets/x".age`, "there is no rule for"},
		{"secrets/${builtins.abort \"boom\"}.age", "there is no rule for"},
	} {
		_, _, err := a.Recipients(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.file, err, tc.want)
		}
	}

	writeFile(t, filepath.Join(repo, "broken", "secrets.nix"), []byte("{ this is not nix"))
	t.Chdir(filepath.Join(repo, "broken"))
	if _, _, err := a.Recipients("x.age"); err == nil || !strings.Contains(err.Error(), "nix-instantiate failed: error:") || strings.Contains(err.Error(), "warning:") {
		t.Errorf("syntax error: %v", err)
	}

	t.Chdir(t.TempDir())
	if _, _, err := a.Recipients("x.age"); !errors.Is(err, ErrNoSecretsNix) {
		t.Errorf("no secrets.nix: err = %v, want ErrNoSecretsNix", err)
	}
}

func TestAgenixWithoutNix(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secrets.nix"), []byte(`{ "x.age".publicKeys = [ ]; }`))
	t.Chdir(dir)
	for _, bin := range []string{filepath.Join(dir, "no-such-nix-instantiate"), "no-such-nix-instantiate-in-path"} {
		_, _, err := Agenix{NixInstantiate: bin, Getenv: envOf(nil)}.Recipients("x.age")
		if err == nil || !strings.Contains(err.Error(), "needs Nix") || !strings.Contains(strings.Join(hintsOf(err), " "), "install Nix") {
			t.Errorf("%s: err = %v, hints %q", bin, err, hintsOf(err))
		}
	}
}

// A secrets.nix is repository content nobody authenticated: one whose
// evaluation never ends, prints a huge value, or makes Nix print a token or
// terminal controls gives one error line naming it, with a hint, quickly,
// and leaves the repository as it was.
func TestAgenixBounded(t *testing.T) {
	fake := func(script string) string {
		bin := filepath.Join(t.TempDir(), "nix-instantiate")
		writeFile(t, bin, []byte("#!/bin/sh\n"+script+"\n"))
		if err := os.Chmod(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		return bin
	}
	const flood = `{ "x.age".publicKeys = [ (builtins.concatStringsSep "" (builtins.genList (i: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") 200000)) ]; }`
	for _, tc := range []struct {
		name, bin, secretsNix, want, hint string
	}{
		{"hang", fake("exec sleep 30"), "", "did not finish evaluating it within 300ms; it was stopped", "prints its rules quickly"},
		{"hang-child", fake("sleep 30 &\nwait"), "", "did not finish evaluating it", "prints its rules quickly"},
		{"flood", fake("exec yes '\"age1'"), "", "evaluating it printed more than 4 MiB; nix-instantiate was stopped", "prints its rules quickly"},
		{"flood-real-nix", "", flood, "evaluating it printed more than 4 MiB", "agenix's secrets.nix is an attribute set"},
		{"config-line", fake("echo \"error: syntax error in configuration line 'access-tokens = github.com=ghp_SECRETsecret'\" >&2\nexit 1"), "",
			"its message is not shown", "works"},
		{"controls", fake("printf 'error: \\033[2J\\033]0;pwned\\007 bad\\n' >&2\nexit 1"), "", "nix-instantiate failed: error: ", "works"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.bin
			if bin == "" {
				bin = needNix(t, "nix-instantiate")
			}
			body := tc.secretsNix
			if body == "" {
				body = `{ "x.age".publicKeys = [ ]; }`
			}
			dir := t.TempDir()
			secretsNix := filepath.Join(dir, "secrets.nix")
			writeFile(t, secretsNix, []byte(body))
			t.Chdir(dir)
			start := time.Now()
			// A short bound for the fakes that hang; the others must fail
			// for their own reason however loaded the machine is.
			var timeout time.Duration
			if strings.HasPrefix(tc.name, "hang") {
				timeout = 300 * time.Millisecond
			}
			_, _, err := Agenix{NixInstantiate: bin, Getenv: envOf(nil), Timeout: timeout}.Recipients("x.age")
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			if err == nil || !strings.Contains(err.Error(), secretsNix) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q naming %s", err, tc.want, secretsNix)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\x1b\a") || strings.Contains(msg, "ghp_") || len(msg) > 4096 {
				t.Errorf("not one safe line: %q", msg)
			}
			if h := strings.Join(hintsOf(err), "\n"); !strings.Contains(h, tc.hint) {
				t.Errorf("hints %q, want %q", h, tc.hint)
			}
			entries, _ := os.ReadDir(dir)
			data, _ := os.ReadFile(secretsNix)
			if len(entries) != 1 || string(data) != body {
				t.Errorf("the repository changed: %d entries", len(entries))
			}
		})
	}
}

// TestNixErrorsHideTokens: a secrets.nix that reads a token and throws it
// does not get it printed by nix-auth.
func TestNixErrorsHideTokens(t *testing.T) {
	const tok = "glpat-Zq3x9T0kLm7VbN2wYc5R"
	got := nixErrors("warning: the group 'nixbld' does not exist\nerror: " + tok + "\n       at /repo/secrets.nix:1:1")
	if strings.Contains(got, tok) || !strings.Contains(got, "secrets.nix:1:1") {
		t.Errorf("nixErrors = %q", got)
	}
}
