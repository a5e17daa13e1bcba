package cmd

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nix-auth/nix-auth/internal/forgetest"
)

type forgeKey struct{}

// setupForge starts one fake forge per script and points the nix-auth
// subprocesses at it through the environment.
func setupForge(e *testscript.Env) error {
	tb, ok := e.T().(testing.TB)
	if !ok {
		return fmt.Errorf("testscript.T is not a testing.TB")
	}
	srv := forgetest.New(tb)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		e.Setenv(k, v)
	}
	e.Values[forgeKey{}] = srv
	return nil
}

func forge(ts *testscript.TestScript) *forgetest.Server {
	return ts.Value(forgeKey{}).(*forgetest.Server)
}

// scriptCmds are the script commands beyond testscript's own:
//
//	forge-host HOST KIND                 a host of the fake forge
//	forge-token VALUE USER [k=v...]      a token it accepts (scopes=a,b expires=RFC3339 oauth hidescopes client=ID installation=ACCOUNT:N:SELECTION)
//	forge-device HOST [step...] [token=V user=U k=v...]   a scripted device flow
//	forge-fail HOST PATH 500|html|redirect|drop
//	snapshot DIR / unchanged DIR         nothing below DIR changed (bytes, mode, mtime)
//	perm FILE MODE                       FILE has exactly MODE (octal)
//	nix-tokens                           print the access-tokens real Nix sees, as sorted host=token lines
//	env-file VAR FILE                    set VAR to FILE's content (trimmed), e.g. SOPS_AGE_KEY
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"forge-host": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: forge-host HOST KIND")
		}
		forge(ts).AddForge(args[0], args[1])
	},
	"forge-token": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: forge-token VALUE USER [k=v...]")
		}
		forge(ts).AddToken(parseToken(ts, args[0], args[1], args[2:]))
	},
	"forge-device": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 1 {
			ts.Fatalf("usage: forge-device HOST [step...] [token=V user=U ...]")
		}
		var d forgetest.DeviceScript
		var value, user string
		var rest []string
		for _, a := range args[1:] {
			switch k, v, ok := strings.Cut(a, "="); {
			case a == "oauth" || a == "hidescopes":
				rest = append(rest, a)
			case !ok:
				d.Steps = append(d.Steps, a)
			case k == "token":
				value = v
			case k == "user":
				user = v
			case k == "client_id":
				d.ClientID = v
			case k == "expires_in":
				d.ExpiresIn, _ = strconv.Atoi(v)
			default:
				rest = append(rest, a)
			}
		}
		if value != "" {
			d.Token = parseToken(ts, value, user, rest)
		}
		forge(ts).ScriptDevice(args[0], d)
	},
	"forge-fail": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 3 {
			ts.Fatalf("usage: forge-fail HOST PATH 500|html|redirect|drop")
		}
		f, ok := map[string]forgetest.Failure{
			"500": forgetest.Fail500, "html": forgetest.FailHTML,
			"redirect": forgetest.FailRedirect, "drop": forgetest.FailDrop,
		}[args[2]]
		if !ok {
			ts.Fatalf("unknown failure %q", args[2])
		}
		forge(ts).Fail(args[0], args[1], f)
	},
	"snapshot": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: snapshot DIR")
		}
		ts.Setenv("SNAPSHOT_"+hashName(args[0]), treeState(ts, ts.MkAbs(args[0])))
	},
	"unchanged": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: unchanged DIR")
		}
		before := ts.Getenv("SNAPSHOT_" + hashName(args[0]))
		if before == "" {
			ts.Fatalf("no snapshot of %s", args[0])
		}
		if now := treeState(ts, ts.MkAbs(args[0])); now != before {
			ts.Fatalf("%s changed:\nbefore:\n%s\nnow:\n%s", args[0], before, now)
		}
	},
	"perm": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: perm FILE MODE")
		}
		want, err := strconv.ParseUint(args[1], 8, 32)
		ts.Check(err)
		fi, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		if got := fi.Mode().Perm(); (got == fs.FileMode(want)) == neg {
			ts.Fatalf("%s has mode %04o (want %s%04o)", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
		}
	},
	"env-file": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: env-file VAR FILE")
		}
		ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
	},
	"nix-tokens": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: nix-tokens")
		}
		fmt.Fprint(ts.Stdout(), nixTokens(ts))
	},
}

func parseToken(ts *testscript.TestScript, value, user string, kvs []string) forgetest.Token {
	t := forgetest.Token{Value: value, User: user}
	for _, a := range kvs {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "scopes":
			t.Scopes = strings.Split(v, ",")
		case "expires":
			// +DURATION is from now: the fake forge checks expiry on the
			// real clock.
			if d, ok := strings.CutPrefix(v, "+"); ok {
				dur, err := time.ParseDuration(d)
				ts.Check(err)
				t.Expires = time.Now().Add(dur)
				continue
			}
			exp, err := time.Parse(time.RFC3339, v)
			ts.Check(err)
			t.Expires = exp
		case "oauth":
			t.OAuth = true
		case "hidescopes":
			t.HideScopes = true
		case "refresh":
			t.RefreshToken = v
		case "client":
			t.ClientID = v
		case "installation":
			// installation=ACCOUNT:REPOSITORIES:SELECTION
			parts := strings.SplitN(v, ":", 3)
			if len(parts) != 3 {
				ts.Fatalf("installation=ACCOUNT:REPOSITORIES:SELECTION, not %q", v)
			}
			n, err := strconv.Atoi(parts[1])
			ts.Check(err)
			t.Installation = &forgetest.Installation{Account: parts[0], Repositories: n, Selection: parts[2]}
		default:
			ts.Fatalf("unknown token attribute %q", a)
		}
	}
	return t
}

func hashName(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// treeState describes every file below dir: path, mode, mtime, content hash.
func treeState(ts *testscript.TestScript, dir string) string {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		// A directory's mtime moves when a lock file comes and goes;
		// what must not change is the files.
		line := fmt.Sprintf("%s %v", p, fi.Mode())
		if fi.Mode().IsRegular() {
			line += fmt.Sprintf(" %d", fi.ModTime().UnixNano())
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			line += " " + hex.EncodeToString(h[:])
		}
		lines = append(lines, line)
		return nil
	})
	ts.Check(err)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// scriptCondition adds [nix]: whether Debian's nix is there, and
// [git-crypt]: whether git and git-crypt are. Outside CI a script guarded
// by one skips on a machine without the tools; in CI the condition is an
// error, so the proof that Nix and git-crypt read our files can never be
// skipped silently.
func scriptCondition(cond string) (bool, error) {
	tools := map[string][]string{"nix": {"nix"}, "git-crypt": {"git", "git-crypt"}}[cond]
	if tools == nil {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				return false, fmt.Errorf("%s is not installed; .ci/run installs it", tool)
			}
			return false, nil
		}
	}
	return true, nil
}

// nixEnv is the environment a real nix runs in for a script: its config
// ($NIX_CONF_DIR, which the setup puts in $WORK, the user config and
// NIX_CONFIG), isolated from the machine's own.
func nixEnv(ts *testscript.TestScript) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + ts.Getenv("HOME"),
		"XDG_CONFIG_HOME=" + ts.Getenv("XDG_CONFIG_HOME"),
		"XDG_CONFIG_DIRS=" + ts.Getenv("XDG_CONFIG_DIRS"),
		"NIX_CONF_DIR=" + ts.Getenv("NIX_CONF_DIR"),
	}
	for _, v := range []string{"NIX_CONFIG", "NIX_USER_CONF_FILES"} {
		if val := ts.Getenv(v); val != "" {
			env = append(env, v+"="+val)
		}
	}
	return env
}

// nixTokens asks Debian's nix 2.8 which access-tokens it sees for the
// script's config: its system config ($NIX_CONF_DIR, which the setup puts
// in $WORK), user config and NIX_CONFIG, isolated from the machine's own.
// In CI a missing nix fails the script: the proof that Nix reads our
// files must not be skipped silently.
func nixTokens(ts *testscript.TestScript) string {
	nix, err := exec.LookPath("nix")
	if err != nil {
		ts.Fatalf("nix is not installed (guard the script with [nix])")
	}
	cmd := exec.Command(nix, "--extra-experimental-features", "nix-command", "show-config", "--json")
	cmd.Env = nixEnv(ts)
	out, err := cmd.Output()
	if err != nil {
		ts.Fatalf("nix show-config: %v", err)
	}
	var conf map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	ts.Check(json.Unmarshal(out, &conf))
	var tokens map[string]string
	ts.Check(json.Unmarshal(conf["access-tokens"].Value, &tokens))
	var lines []string
	for h, t := range tokens {
		lines = append(lines, h+"="+t+"\n")
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}
