package nixconf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

func TestStateFile(t *testing.T) {
	t.Parallel()
	s := newStore(t, map[string]string{"nix.conf": "experimental-features = nix-command\n"})
	state := s.Paths.StateFile()
	if filepath.Dir(state) != filepath.Dir(s.Paths.TokensFile) || filepath.Base(state) != StateFileName {
		t.Fatalf("state file %s", state)
	}
	// A token without anything to remember makes no state file.
	if _, err := s.Set("example.org", "tok-one"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetState("example.net", "tok-two", HostState{Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a state file for nothing: %v", err)
	}

	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hs := HostState{Provider: "gitlab", User: "erin", Scopes: []string{"read_api"}, Expires: exp, RefreshToken: "refresh-SECRET", ClientID: "app"}
	if _, err := s.SetState("gitlab.example.com", "OAuth2:first", hs); err != nil {
		t.Fatal(err)
	}
	if perm(t, state) != 0o600 {
		t.Errorf("state file mode %o", perm(t, state))
	}
	if strings.Contains(read(t, s.Paths.NixConf), StateFileName) || strings.Contains(read(t, s.Paths.TokensFile), "refresh-SECRET") {
		t.Error("the state reached a file Nix reads")
	}
	st, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.For("gitlab.example.com", "OAuth2:first"); !reflect.DeepEqual(got, hs) {
		t.Errorf("For = %+v, want %+v", got, hs)
	}
	// Beside a recorded host, a token nothing is known of gets no entry.
	if _, err := s.SetState("example.net", "tok-three", HostState{Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(); len(st.Hosts) != 1 {
		t.Errorf("state hosts %v, want gitlab.example.com only", st.Hosts)
	}
	// Changed by hand: the provider stays, nothing about the old token.
	if got := st.For("gitlab.example.com", "OAuth2:edited"); !reflect.DeepEqual(got, HostState{Provider: "gitlab"}) {
		t.Errorf("For another token = %+v", got)
	}
	// set-token without state keeps the host's forge.
	if _, err := s.Set("gitlab.example.com", "PAT:second"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.State()
	if got := st.For("gitlab.example.com", "PAT:second"); !reflect.DeepEqual(got, HostState{Provider: "gitlab"}) {
		t.Errorf("after Set: %+v", got)
	}
	if strings.Contains(read(t, state), "refresh-SECRET") {
		t.Error("the old token's refresh token outlived it")
	}
	// A state without a provider keeps the one recorded.
	if _, err := s.SetState("gitlab.example.com", "PAT:third", HostState{User: "erin"}); err != nil {
		t.Fatal(err)
	}
	st, _ = s.State()
	if got := st.For("gitlab.example.com", "PAT:third"); got.Provider != "gitlab" || got.User != "erin" {
		t.Errorf("after SetState without provider: %+v", got)
	}
	if _, err := s.Remove("gitlab.example.com"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.State()
	if _, ok := st.Hosts["gitlab.example.com"]; ok {
		t.Error("a removed host's state stayed")
	}
	// A dry run writes neither.
	dry := *s
	dry.DryRun = true
	before := snapshot(t, filepath.Dir(state))
	if _, err := dry.SetState("github.com", "ghp_x", HostState{Provider: "github"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, snapshot(t, filepath.Dir(state))) {
		t.Error("a dry run wrote")
	}
}

func TestStateFileRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, content, want string
	}{
		{"not json", "hosts = x\n", "malformed JSON at byte 1"},
		{"unknown field", `{"version":1,"hosts":{},"password":"x"}`, "not a state file nix-auth wrote"},
		{"other version", `{"version":9,"hosts":{}}`, "state format 9"},
		{"bad host", `{"version":1,"hosts":{"a b":{}}}`, "names a host that is not one"},
		{"too large", `{"version":1,"hosts":{}}` + strings.Repeat(" ", maxStateFile), "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, map[string]string{"nix.conf": "", StateFileName: c.content})
			before := snapshot(t, filepath.Dir(s.Paths.NixConf))
			_, err := s.SetState("github.com", "ghp_x", HostState{Provider: "github"})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), s.Paths.StateFile()) {
				t.Fatalf("error %v, want one naming the file and saying %q", err, c.want)
			}
			if err := s.CheckSet("github.com"); err == nil {
				t.Error("CheckSet passed a state file Set refuses")
			}
			if !reflect.DeepEqual(before, snapshot(t, filepath.Dir(s.Paths.NixConf))) {
				t.Error("files changed")
			}
		})
	}

	// Never through a symlink.
	s := newStore(t, map[string]string{"nix.conf": "", "elsewhere.json": `{"version":1,"hosts":{}}`})
	if err := os.Symlink("elsewhere.json", s.Paths.StateFile()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetState("github.com", "ghp_x", HostState{Provider: "github"}); err == nil {
		t.Error("wrote through a symlinked state file")
	}
	if _, err := os.Stat(s.Paths.TokensFile); !errors.Is(err, os.ErrNotExist) {
		t.Error("the tokens file was written anyway")
	}
}

// TestStateAllOrNothing: the token and its state are written together:
// a full disk while writing the state leaves the old token in place.
func TestStateAllOrNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t, map[string]string{"nix.conf": ""})
	if _, err := s.SetState("gitlab.com", "OAuth2:old", HostState{Provider: "gitlab", RefreshToken: "r1"}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(s.Paths.NixConf)
	before := snapshot(t, dir)
	defer safefile.InjectFault(s.Paths.StateFile(), safefile.StepWrite, 0, syscall.ENOSPC)()
	if _, err := s.SetState("gitlab.com", "OAuth2:new", HostState{Provider: "gitlab", RefreshToken: "r2"}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	if !reflect.DeepEqual(before, snapshot(t, dir)) {
		t.Error("a failed write changed the files")
	}
}
