package crypt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nix-auth/nix-auth/internal/proc"
	"github.com/nix-auth/nix-auth/internal/termsafe"
	"github.com/nix-auth/nix-auth/providers"
)

// SopsRule is the .sops.yaml creation rule that applies to a file, as the
// sops CLI would pick it.
type SopsRule struct {
	// ConfigPath is the .sops.yaml the rule comes from.
	ConfigPath string
	// Recipients are the rule's age keys.
	Recipients []Recipient
	// sopsRules say which values sops leaves in clear text or encrypts
	// (at most one of the six rule kinds is set; sops refuses rules with
	// more) and its mac_only_encrypted. A new store follows them so that
	// `sops` and nix-auth agree on which values are encrypted.
	sopsRules
	// Warning is sops's warning about an ignored .sops.yml, if any.
	Warning string
}

// SopsCreationRule finds .sops.yaml exactly as the sops CLI does (SOPS_CONFIG
// if set, else .sops.yaml in the current directory or the nearest parent)
// and returns the creation rule sops would use for file, with sops's
// path_regex matching (see sopsrules.go).
//
// When there is no config, or it has no creation_rules, the error wraps
// ErrNoSopsConfig: sops then takes keys from its command line, and nix-auth
// from --recipient. A config whose rules do not match file, or whose rule
// names keys other than age keys (nix-auth cannot encrypt to PGP or cloud
// KMS keys, and dropping them would lock their holders out), is an error
// naming the config and the file.
func SopsCreationRule(file string, getenv func(string) string) (*SopsRule, error) {
	absFile, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	rule := &SopsRule{}
	confPath := getenv("SOPS_CONFIG")
	if confPath == "" {
		found, warning, err := lookupSopsConfig(".")
		rule.Warning = warning
		if err != nil {
			return nil, &keyError{msg: "no .sops.yaml in the current directory or its parents", err: ErrNoSopsConfig,
				hints: []string{"create a .sops.yaml with a creation rule for " + file}}
		}
		confPath = found
	}
	if abs, err := filepath.Abs(confPath); err == nil {
		confPath = abs
	}
	rule.ConfigPath = confPath
	if _, err := os.Stat(confPath); err != nil {
		return nil, &keyError{msg: "SOPS_CONFIG names a missing file", err: err,
			hints: []string{"fix or unset SOPS_CONFIG"}}
	}
	rel := absFile
	if r, err := filepath.Rel(filepath.Dir(confPath), absFile); err == nil {
		rel = r
	}

	conf, err := readCreationRule(confPath, absFile)
	if errors.Is(err, errNoMatchingRule) {
		return nil, &keyError{msg: fmt.Sprintf("%s: no creation rule matches %s", confPath, rel),
			hints: []string{fmt.Sprintf("add a creation rule whose path_regex matches %q (paths are relative to the .sops.yaml), or a rule without path_regex", rel)}}
	}
	if err != nil {
		return nil, &keyError{msg: confPath + ": cannot use the sops config", err: err}
	}
	if conf == nil {
		return nil, &keyError{msg: confPath + " has no creation_rules", err: ErrNoSopsConfig,
			hints: []string{"add creation_rules with age keys"}}
	}
	rules, err := conf.rules()
	if err != nil {
		return nil, &keyError{msg: confPath + ": cannot use the sops config", err: err}
	}
	groups, err := conf.keyGroups()
	if err != nil {
		return nil, &keyError{msg: confPath + ": cannot use the sops config", err: err}
	}

	if len(groups) > 1 {
		return nil, &keyError{msg: fmt.Sprintf("%s: the rule for %s has %d key groups (Shamir secret sharing), which nix-auth does not write", confPath, rel, len(groups)),
			hints: []string{"use a single list of age keys for this file, or encrypt it with sops directly"}}
	}
	var ageKeys, other []string
	for _, g := range groups {
		for _, k := range g {
			if k.Type == "age" {
				ageKeys = append(ageKeys, k.ID)
				continue
			}
			other = append(other, fmt.Sprintf("%s key %s", k.Type, k.ID))
		}
	}
	if len(other) > 0 {
		return nil, &keyError{msg: fmt.Sprintf("%s: the rule for %s names keys nix-auth cannot encrypt to: %s", confPath, rel, strings.Join(other, ", ")),
			hints: []string{"nix-auth encrypts to age keys only: list age1... keys (ssh-to-age converts host keys) in this rule, or manage this file's keys with `sops updatekeys " + file + "`"}}
	}
	if len(ageKeys) == 0 {
		return nil, &keyError{msg: fmt.Sprintf("%s: the rule for %s names no keys", confPath, rel),
			hints: []string{"add age: keys to the rule"}}
	}
	rule.Recipients, err = recipientList(ageKeys, confPath, "rule for "+rel)
	if err != nil {
		return nil, err
	}
	rule.sopsRules = rules
	return rule, nil
}

// Agenix finds and evaluates agenix's secrets.nix. Its zero value runs
// nix-instantiate from PATH with no RULES.
type Agenix struct {
	// NixInstantiate is the nix-instantiate binary; "" means
	// "nix-instantiate" looked up in PATH.
	NixInstantiate string
	// Getenv reads RULES, from the caller's environment; nil reads
	// nothing (no RULES).
	Getenv func(string) string
	// Timeout bounds the evaluation; zero: SecretsNixTimeout.
	Timeout time.Duration
}

// Bounds on evaluating secrets.nix, repository content that nobody
// authenticated: one that never finishes or prints a huge value must not
// hang or flood nix-auth.
const (
	// SecretsNixTimeout is far above what a fleet's secrets.nix takes
	// (well under a second), with room for a cold evaluation cache and a
	// slow disk.
	SecretsNixTimeout = 30 * time.Second
	// maxSecretsNixOutput bounds nix-instantiate's answer: one rule's
	// publicKeys, a few hundred bytes a key.
	maxSecretsNixOutput = 4 << 20
	// maxNixStderr bounds the Nix messages kept for the error line.
	maxNixStderr = 16 << 10
)

// AgenixRecipients returns the publicKeys that agenix's secrets.nix lists for
// file, and the secrets.nix path, reading RULES through getenv.
func AgenixRecipients(file string, getenv func(string) string) (recips []Recipient, secretsNix string, err error) {
	return Agenix{Getenv: getenv}.Recipients(file)
}

// Recipients returns the publicKeys that secrets.nix lists for file, and the
// secrets.nix path. secrets.nix is where agenix looks: $RULES if set, else
// ./secrets.nix; nix-auth also tries secrets.nix beside file, so it works
// from anywhere in the repository. It is evaluated with `nix-instantiate
// --eval --strict --json`, as agenix does. The entry is looked up under
// file's path relative to the current directory (agenix's key) and relative
// to secrets.nix. ssh-ed25519 keys are kept in Recipient.SSH (agenix
// encrypts to them directly) and converted in Recipient.Age.
//
// Without a secrets.nix the error wraps ErrNoSecretsNix, so callers fall back
// to --recipient; a secrets.nix with no entry for file is an error.
func (a Agenix) Recipients(file string) (recips []Recipient, secretsNix string, err error) {
	getenv := a.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	absFile, err := filepath.Abs(file)
	if err != nil {
		return nil, "", err
	}
	if rules := getenv("RULES"); rules != "" {
		secretsNix, err = filepath.Abs(rules)
		if err == nil {
			_, err = os.Stat(secretsNix)
		}
		if err != nil {
			return nil, "", &keyError{msg: "RULES names a secrets.nix that cannot be read", err: err, kind: ErrDeclaration,
				hints: []string{"fix or unset RULES"}}
		}
	} else {
		for _, cand := range []string{"secrets.nix", filepath.Join(filepath.Dir(absFile), "secrets.nix")} {
			if _, err := os.Stat(cand); err == nil {
				secretsNix, err = filepath.Abs(cand)
				if err != nil {
					return nil, "", err
				}
				break
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, "", &keyError{msg: "cannot read " + cand, err: err}
			}
		}
		if secretsNix == "" {
			return nil, "", &keyError{msg: "no secrets.nix in the current directory or beside " + file, err: ErrNoSecretsNix,
				kind: ErrDeclaration, hints: []string{"set RULES to agenix's secrets.nix"}}
		}
	}

	var names []string
	if cwd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(cwd, absFile); err == nil {
			names = append(names, filepath.ToSlash(r))
		}
	}
	if r, err := filepath.Rel(filepath.Dir(secretsNix), absFile); err == nil && (len(names) == 0 || names[0] != filepath.ToSlash(r)) {
		names = append(names, filepath.ToSlash(r))
	}
	namesJSON, err := json.Marshal(names)
	if err != nil {
		return nil, "", err
	}

	bin := a.NixInstantiate
	if bin == "" {
		bin = "nix-instantiate"
	}
	// Names and path go in as --argstr, never spliced into the expression,
	// so no file name can change what Nix evaluates.
	const expr = `{ rules, names }:
let
  r = import (/. + rules);
  found = builtins.filter (n: builtins.hasAttr n r) (builtins.fromJSON names);
in
  if found == [ ] then null
  else { name = builtins.head found; keys = r.${builtins.head found}.publicKeys; }`
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = SecretsNixTimeout
	}
	res, err := proc.Run(context.Background(), proc.Cmd{Path: bin,
		Args:    []string{"--eval", "--strict", "--json", "--argstr", "rules", secretsNix, "--argstr", "names", string(namesJSON), "-E", expr},
		Timeout: timeout, MaxStdout: maxSecretsNixOutput, MaxStderr: maxNixStderr})
	evalHint := "check that `nix-instantiate --eval --strict " + secretsNix + "` prints its rules quickly: agenix's secrets.nix is an attribute set of publicKeys lists"
	switch {
	case errors.Is(err, proc.ErrNotFound):
		return nil, secretsNix, &keyError{msg: fmt.Sprintf("%s needs Nix to be read, and %s was not found", secretsNix, bin), err: err,
			kind: ErrDeclaration, hints: []string{"install Nix (nix-instantiate evaluates secrets.nix, as agenix does)"}}
	case errors.Is(err, proc.ErrTimeout):
		return nil, secretsNix, &keyError{msg: fmt.Sprintf("%s: nix-instantiate did not finish evaluating it within %s; it was stopped", secretsNix, timeout),
			hints: []string{evalHint}}
	case errors.Is(err, proc.ErrTooLarge):
		return nil, secretsNix, &keyError{msg: fmt.Sprintf("%s: evaluating it printed more than %d MiB; nix-instantiate was stopped", secretsNix, maxSecretsNixOutput>>20),
			hints: []string{evalHint}}
	case errors.Is(err, proc.ErrExit):
		// Nix's own error lines (where secrets.nix is wrong) are worth
		// showing; nixErrors says which.
		return nil, secretsNix, &keyError{msg: fmt.Sprintf("%s: nix-instantiate failed: %s", secretsNix, nixErrors(string(proc.StderrOf(err)))),
			hints: []string{"check that `nix-instantiate --eval --strict " + secretsNix + "` works"}}
	case err != nil:
		return nil, secretsNix, &keyError{msg: secretsNix + ": cannot run nix-instantiate", err: err,
			hints: []string{"check that `nix-instantiate --eval --strict " + secretsNix + "` works"}}
	}
	out := res.Stdout
	var rule *struct {
		Name string `json:"name"`
		Keys []any  `json:"keys"`
	}
	if err := json.Unmarshal(out, &rule); err != nil {
		return nil, secretsNix, &keyError{msg: secretsNix + ": unexpected nix-instantiate output", err: err}
	}
	if rule == nil {
		return nil, secretsNix, &keyError{msg: fmt.Sprintf("there is no rule for %s in %s", names[0], secretsNix),
			kind: ErrDeclaration, hints: []string{fmt.Sprintf("add `%q.publicKeys = [ ... ];` to %s", names[len(names)-1], secretsNix)}}
	}
	keys := make([]string, 0, len(rule.Keys))
	for i, k := range rule.Keys {
		s, ok := k.(string)
		if !ok {
			return nil, secretsNix, &keyError{msg: fmt.Sprintf("%s: %q.publicKeys entry %d is not a string", secretsNix, rule.Name, i+1)}
		}
		keys = append(keys, s)
	}
	if len(keys) == 0 {
		return nil, secretsNix, &keyError{msg: fmt.Sprintf("%s: %q.publicKeys is empty", secretsNix, rule.Name),
			hints: []string{"list the age1... or ssh-ed25519 keys that may decrypt " + rule.Name}}
	}
	recips, err = recipientList(keys, secretsNix, strconv.Quote(rule.Name))
	return recips, secretsNix, err
}

// nixErrors keeps Nix's error lines and drops its warnings (such as the
// missing nixbld group on machines without a daemon), which are noise here.
// Nix quotes a configuration line it refuses whole, and nix.conf includes
// the access tokens: then nothing of stderr is kept. What is kept is
// escaped and cut, as text nobody authenticated, and a secrets.nix that
// read a token (builtins.readFile) and threw it finds it hidden.
func nixErrors(stderr string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.Contains(l, "configuration") {
			return "its message is not shown: it is about Nix's configuration, which may hold tokens"
		}
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "warning:") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return "no message"
	}
	return termsafe.Line(providers.HideTokens(strings.Join(keep, " ")))
}
