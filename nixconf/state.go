package nixconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// StateFileName is the file beside the tokens file where nix-auth keeps
// what it knows of each token there and Nix has no setting for: the
// host's forge, the GitLab refresh token, the expiry. It is JSON, mode
// 0600 (a refresh token is a secret), and never included from nix.conf:
// Nix would refuse the whole config for a line it cannot parse.
const StateFileName = "nix-auth-state.json"

// stateVersion is the state file's format; another is refused, not
// guessed at.
const stateVersion = 1

// maxStateFile bounds what is read of the state file: a few hundred
// bytes a host.
const maxStateFile = 1 << 20

// StateFile is the state file beside TokensFile.
func (p Paths) StateFile() string {
	return filepath.Join(filepath.Dir(p.TokensFile), StateFileName)
}

// HostState is what nix-auth remembers of one host's token in the user's
// config. Provider is about the host and outlives its tokens; the rest is
// about one token, and is only given for it (State.For).
type HostState struct {
	// Provider is the host's forge, as a login found it or was told: a
	// host it names is never probed again.
	Provider string `json:"provider,omitempty"`
	// User and Scopes are what the forge said of the token.
	User   string   `json:"user,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	// Created and Expires are zero when unknown / never.
	Created time.Time `json:"created,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	// RefreshToken renews a GitLab OAuth token (two hours); ClientID is
	// the OAuth application it was issued to, which a refresh must name.
	RefreshToken string `json:"refresh_token,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	// TokenSHA256 is the hex SHA-256 of the access-tokens value the rest
	// is about. A token changed by hand (or by another tool) no longer
	// matches, and gets none of it.
	TokenSHA256 string `json:"token_sha256,omitempty"`
}

// State is the state file's content.
type State struct {
	Version int                  `json:"version"`
	Hosts   map[string]HostState `json:"hosts"`
}

// For is what the state says of host's token token: everything when it
// was recorded for that token, else the provider only.
func (st *State) For(host, token string) HostState {
	if st == nil {
		return HostState{}
	}
	hs, ok := st.Hosts[host]
	if !ok {
		return HostState{}
	}
	if hs.TokenSHA256 != tokenHash(token) {
		return HostState{Provider: hs.Provider}
	}
	hs.TokenSHA256 = ""
	return hs
}

// worthKeeping is whether h says more of a token than when it was made:
// of a token nothing is known of (set-token --no-validate on a host of no
// known forge) no state is kept, and no state file made.
func (h HostState) worthKeeping() bool {
	return h.Provider != "" || h.User != "" || len(h.Scopes) > 0 || !h.Expires.IsZero() || h.RefreshToken != "" || h.ClientID != ""
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// State reads the state file; a missing one is an empty state.
func (s *Store) State() (*State, error) {
	st, _, err := readStateFile(s.Paths.StateFile())
	return st, err
}

// readStateFile reads and checks the state file at path.
func readStateFile(path string) (st *State, data []byte, err error) {
	st = &State{Version: stateVersion, Hosts: map[string]HostState{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	bad := func(why string) error {
		return &Error{msg: fmt.Sprintf("%s: %s; nothing was written", path, why),
			hints: []string{"it is nix-auth's own record of the tokens beside it (forges, refresh tokens): move it away and log in again to the hosts whose tokens need refreshing"}}
	}
	if len(data) > maxStateFile {
		return nil, nil, bad(fmt.Sprintf("larger than %d KiB, which no state file is", maxStateFile>>10))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(st); err != nil {
		return nil, nil, bad("not a state file nix-auth wrote (" + jsonProblem(err) + ")")
	}
	if st.Version != stateVersion {
		return nil, nil, bad(fmt.Sprintf("state format %d, which this nix-auth does not know (it writes %d)", st.Version, stateVersion))
	}
	for h := range st.Hosts {
		if ValidateHost(h) != nil {
			return nil, nil, bad("it names a host that is not one")
		}
	}
	if st.Hosts == nil {
		st.Hosts = map[string]HostState{}
	}
	return st, data, nil
}

// jsonProblem says what is wrong with JSON without quoting it: the file
// holds refresh tokens.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("a %s where %s belongs", te.Value, te.Field)
	}
	return "unexpected content"
}

// stateEdit is one host's change for planState: its token becomes token
// (nil: it is removed), and hs is what is known of the new token (nil
// keeps the host's provider only).
type stateEdit struct {
	host  string
	token *string
	hs    *HostState
}

// planState computes the state file after the edits. It returns the new
// content and whether it must be written.
func planState(path string, edits ...stateEdit) (data []byte, write bool, err error) {
	st, old, err := readStateFile(path)
	if err != nil {
		return nil, false, err
	}
	for _, e := range edits {
		prev := st.Hosts[e.host]
		switch {
		case e.token == nil:
			delete(st.Hosts, e.host)
		case e.hs == nil:
			st.Hosts[e.host] = HostState{Provider: prev.Provider}
			if prev.Provider == "" {
				delete(st.Hosts, e.host)
			}
		default:
			n := *e.hs
			if n.Provider == "" {
				n.Provider = prev.Provider
			}
			n.Scopes = slices.Clone(n.Scopes)
			n.TokenSHA256 = tokenHash(*e.token)
			st.Hosts[e.host] = n
			if !n.worthKeeping() {
				delete(st.Hosts, e.host)
			}
		}
	}
	if old == nil && len(st.Hosts) == 0 {
		// Nothing to remember: no file is made.
		return nil, false, nil
	}
	data, err = json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, false, err
	}
	data = append(data, '\n')
	return data, !bytes.Equal(data, old) || !modeIs(path, tokensFileMode), nil
}
