package stresstest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/nix-auth/nix-auth/crypt"
)

const storeFile = "secrets/tokens.yaml"

// fleet is what the encrypted writers start from, built once per test
// binary: an age key, a sops store of the 50 seed hosts made by crypt,
// the same store with one host more, and what render made of the first.
type fleet struct {
	once sync.Once
	err  error
	key  string // AGE-SECRET-KEY-1..., given to nix-auth as SOPS_AGE_KEY
	id   *age.X25519Identity
	dir  string // where the fixture files are kept

	store, storeNew []byte
	// rendered are nix.conf and render's file as render left them from
	// store.
	renderedConf, renderedTokens []byte

	// decrypted caches what store versions decrypt to: a trial compares
	// the same reference many times, and sops is slow under -race.
	mu        sync.Mutex
	decrypted map[[sha256.Size]byte]map[string]string
}

// theFleet is shared by the sops and render rows. Its key exists from
// the start: the rows' invocations carry it.
var theFleet = newFleet()

func newFleet() *fleet {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		panic(err) // only when the system has no randomness
	}
	return &fleet{id: id, key: id.String()}
}

func (f *fleet) prepare() error {
	f.once.Do(func() { f.err = f.build() })
	return f.err
}

func (f *fleet) build() error {
	var err error
	if f.dir, err = os.MkdirTemp(workDir, "fleet-"); err != nil {
		return err
	}
	p := filepath.Join(f.dir, "tokens.yaml")
	file, err := crypt.Create(p, []crypt.Recipient{{Age: f.id.Recipient().String()}}, crypt.CreateOptions{Now: time.Now})
	if err != nil {
		return err
	}
	for h, tok := range seedHosts() {
		if err := file.Put(crypt.Entry{Host: h, Token: tok, Provider: "forgejo"}); err != nil {
			return err
		}
	}
	if err := file.Save(); err != nil {
		return err
	}
	if f.store, err = os.ReadFile(p); err != nil {
		return err
	}
	if err := file.Put(crypt.Entry{Host: "new.example.com", Token: fakeToken("new.example.com", "new")}); err != nil {
		return err
	}
	if err := file.Save(); err != nil {
		return err
	}
	if f.storeNew, err = os.ReadFile(p); err != nil {
		return err
	}

	home := filepath.Join(f.dir, "home")
	if err := writeFilesErr(home, map[string]string{nixConf: confHead, storeFile: string(f.store)},
		map[string]os.FileMode{nixConf: 0o644, storeFile: 0o600}); err != nil {
		return err
	}
	o, err := run(home, f.render(), nil)
	if err != nil {
		return err
	}
	if o.code != 0 {
		return fmt.Errorf("render: exit %d: %s", o.code, o.stderr)
	}
	if f.renderedConf, err = os.ReadFile(filepath.Join(home, nixConf)); err != nil {
		return err
	}
	f.renderedTokens, err = os.ReadFile(filepath.Join(home, renderedFile))
	return err
}

// setToken is set-token HOST into the store.
func (f *fleet) setToken(host, tok string) invocation {
	return invocation{
		args:  []string{"set-token", host, "--no-validate", "--encrypt-to", storeFile},
		stdin: tok + "\n", env: []string{"SOPS_AGE_KEY=" + f.key}, secret: tok,
	}
}

// render renders the store into the config beside nix.conf.
func (f *fleet) render() invocation {
	return invocation{args: []string{"render", storeFile}, env: []string{"SOPS_AGE_KEY=" + f.key}}
}

// tokens decrypts the store at path with crypt, as host -> token.
func (f *fleet) tokens(path string) (map[string]string, error) {
	file, err := crypt.Load(path, []age.Identity{f.id}, []string{"the test's key"}, time.Now)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range file.Entries() {
		m[e.Host] = e.Token
	}
	return m, nil
}

// sameStore: every run encrypts anew, so two versions are the same when
// they decrypt to the same tokens.
func (f *fleet) sameStore(home, rel string, data, ref []byte) error {
	got, err := f.decrypt(data, filepath.Ext(rel))
	if err != nil {
		return fmt.Errorf("does not decrypt: %v", err)
	}
	want, err := f.decrypt(ref, filepath.Ext(rel))
	if err != nil {
		return err
	}
	if !sameTokens(got, want) {
		return fmt.Errorf("decrypts to %d tokens, not the %d of the new version", len(got), len(want))
	}
	return nil
}

// decrypt decrypts a store's content with crypt (which reads files; ext
// tells it the format).
func (f *fleet) decrypt(data []byte, ext string) (map[string]string, error) {
	sum := sha256.Sum256(data)
	f.mu.Lock()
	m, ok := f.decrypted[sum]
	f.mu.Unlock()
	if ok {
		return m, nil
	}
	tmp, err := os.CreateTemp(f.dir, "cmp-*"+ext)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if m, err = f.tokens(tmp.Name()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.decrypted == nil {
		f.decrypted = map[[sha256.Size]byte]map[string]string{}
	}
	f.decrypted[sum] = m
	f.mu.Unlock()
	return m, nil
}

func writeFilesErr(home string, files map[string]string, modes map[string]os.FileMode) error {
	for rel, data := range files {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), modes[rel]); err != nil {
			return err
		}
		if err := os.Chmod(p, modes[rel]); err != nil {
			return err
		}
	}
	return nil
}

// sopsWriter is `set-token HOST --no-validate --encrypt-to tokens.yaml`.
func sopsWriter() writer {
	f := theFleet
	start := func(mode os.FileMode) func(t *testing.T, home string) {
		return func(t *testing.T, home string) {
			writeFiles(t, home, map[string]string{storeFile: string(f.store)}, map[string]os.FileMode{storeFile: mode})
		}
	}
	const procs = 20
	want := seedHosts()
	for i := range procs {
		h := fmt.Sprintf("c%02d.example.com", i)
		want[h] = fakeToken(h, "race")
	}
	return writer{
		name:            "set-token-sops",
		needs:           []string{"set-token --encrypt-to"},
		prepare:         f.prepare,
		crashTrials:     200,
		reportsTakeover: true,
		variants: []variant{{
			name:  "add",
			start: start(0o600),
			run:   f.setToken("new.example.com", fakeToken("new.example.com", "new")),
			files: []string{storeFile}, modes: map[string]os.FileMode{storeFile: 0o600},
		}, {
			// A store shared with a deploy group keeps its mode.
			name:  "replace",
			start: start(0o640),
			run:   f.setToken("h25.example.com", fakeToken("h25.example.com", "replaced")),
			files: []string{storeFile}, modes: map[string]os.FileMode{storeFile: 0o640},
		}},
		visible: func(home string) (map[string]string, error) {
			data, err := os.ReadFile(filepath.Join(home, storeFile))
			if err != nil {
				return nil, err
			}
			return f.decrypt(data, filepath.Ext(storeFile))
		},
		sameVersion: f.sameStore,
		race: race{
			procs: procs,
			files: []string{storeFile},
			// render reads the store while it is written, as a host's
			// activation may while an admin adds tokens.
			start: func(t *testing.T, home string) {
				writeFiles(t, home, map[string]string{nixConf: confHead, storeFile: string(f.store)},
					map[string]os.FileMode{nixConf: 0o644, storeFile: 0o600})
			},
			run: func(i int) invocation {
				h := fmt.Sprintf("c%02d.example.com", i)
				return f.setToken(h, want[h])
			},
			want:       want,
			reader:     ptr(f.render()),
			readerSees: nixconfTokens,
		},
	}
}

// renderWriter is `render tokens.yaml` into its own file beside nix.conf,
// adding the include.
func renderWriter() writer {
	f := theFleet
	want := seedHosts()
	return writer{
		name:            "render",
		needs:           []string{"render"},
		prepare:         f.prepare,
		crashTrials:     200,
		reportsTakeover: true,
		variants: []variant{{
			// The store gained a host since the last render.
			name: "update",
			start: func(t *testing.T, home string) {
				writeFiles(t, home, map[string]string{
					nixConf: string(f.renderedConf), renderedFile: string(f.renderedTokens), storeFile: string(f.storeNew),
				}, map[string]os.FileMode{nixConf: 0o644, renderedFile: 0o600, storeFile: 0o600})
			},
			run:   f.render(),
			files: []string{nixConf, renderedFile},
			modes: map[string]os.FileMode{nixConf: 0o644, renderedFile: 0o600},
		}, {
			// The first render: the file and the include are new.
			name: "first",
			start: func(t *testing.T, home string) {
				writeFiles(t, home, map[string]string{nixConf: confHead, storeFile: string(f.storeNew)},
					map[string]os.FileMode{nixConf: 0o644, storeFile: 0o600})
			},
			run:   f.render(),
			files: []string{nixConf, renderedFile},
			modes: map[string]os.FileMode{nixConf: 0o644, renderedFile: 0o600},
		}},
		visible:  nixconfTokens,
		nixReads: true,
		race: race{
			// Every process renders the same store and adds the include
			// to a nix.conf without it: exactly one include must result.
			procs: 20,
			files: []string{nixConf, renderedFile},
			start: func(t *testing.T, home string) {
				writeFiles(t, home, map[string]string{nixConf: confHead, storeFile: string(f.store)},
					map[string]os.FileMode{nixConf: 0o644, storeFile: 0o600})
			},
			run:  func(int) invocation { return f.render() },
			want: want,
			check: func(t *testing.T, home string) {
				conf, err := os.ReadFile(filepath.Join(home, nixConf))
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(string(conf), "!include"); n != 1 {
					t.Errorf("nix.conf has %d include lines, want 1", n)
				}
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// checkNeeds fails the row when the binary lacks what it drives.
func checkNeeds(t *testing.T, w writer) {
	t.Helper()
	for _, need := range w.needs {
		command, flag, _ := strings.Cut(need, " ")
		o, err := run(t.TempDir(), invocation{args: []string{command, "--help"}}, nil)
		if err == nil && o.code != 0 {
			err = errors.New(o.stderr)
		}
		if err == nil && flag != "" && !strings.Contains(o.stdout, flag) {
			err = fmt.Errorf("its help does not mention %s", flag)
		}
		if err != nil {
			t.Fatalf("the binary lacks `nix-auth %s`, which this row drives: %v", need, err)
		}
	}
	if w.prepare != nil {
		if err := w.prepare(); err != nil {
			t.Fatalf("preparing the fixtures: %v", err)
		}
	}
}
