package crypt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
	"github.com/google/shlex"
	"golang.org/x/crypto/ssh"

	"github.com/nix-auth/nix-auth/internal/proc"
)

// The environment variables sops reads for age identities, under sops's names
// so that a setup that works for `sops -d` works for nix-auth.
const (
	envAgeKey           = "SOPS_AGE_KEY"
	envAgeKeyFile       = "SOPS_AGE_KEY_FILE"
	envAgeKeyCmd        = "SOPS_AGE_KEY_CMD"
	envSSHKeyFile       = "SOPS_AGE_SSH_PRIVATE_KEY_FILE"
	envSSHKeyCmd        = "SOPS_AGE_SSH_PRIVATE_KEY_CMD"
	sopsKeysUserConfig  = "sops/age/keys.txt"
	passphraseHintNoTTY = "use a key without a passphrase (on a host, its own ssh host key), or put an age key in SOPS_AGE_KEY or SOPS_AGE_KEY_FILE"
)

// Identities are the keys available to decrypt stores.
type Identities struct {
	// List holds every identity found, for age.Decrypt. Passphrase-protected
	// keys are in it as identities that ask for the passphrase only when a
	// file actually has a stanza they could open.
	List []age.Identity
	// Tried describes each place looked at, in order, for messages such as
	// "no identity can decrypt": "SOPS_AGE_KEY_FILE=/x/keys.txt (1 key)".
	// It never holds key material.
	Tried []string
}

// LoadIdentities gathers decryption identities from the places sops looks,
// read through getenv so callers and tests control the environment:
//
//  1. SOPS_AGE_KEY: age identities, several per line allowed (as sops).
//  2. SOPS_AGE_KEY_FILE: an age identity file.
//  3. SOPS_AGE_KEY_CMD: a command (split like a shell would, not run by a
//     shell, as sops does) printing age identities.
//  4. SOPS_AGE_SSH_PRIVATE_KEY_FILE, then SOPS_AGE_SSH_PRIVATE_KEY_CMD: an
//     OpenSSH private key.
//  5. sops/age/keys.txt under the user config directory (XDG_CONFIG_HOME or
//     ~/.config; on macOS XDG_CONFIG_HOME or ~/Library/Application Support,
//     as sops).
//  6. ~/.ssh/id_ed25519, then ~/.ssh/id_rsa.
//  7. extra: --identity paths, each an age identity file or an OpenSSH
//     private key such as /etc/ssh/ssh_host_ed25519_key.
//
// An ssh-ed25519 key is added twice: as an ssh identity (files that age,
// agenix or sops encrypted to the ssh key) and converted as ssh-to-age does
// (files encrypted to the converted age1 key, as for sops-nix). The order is
// the one sops documents (sops's code gathers the ssh keys first and reads
// the rest in map order); age tries every identity anyway, native age keys
// first, so order only decides which key opens a file several could.
//
// Places named by a variable or by extra must exist; missing default files
// are noted in Tried and skipped. A passphrase-protected ssh key asks
// passphrase(path) when it is first needed; with a nil passphrase an
// explicitly named protected key is an error wrapping ErrPassphrase and a
// protected default key is skipped. Finding no identity is not an error:
// List is empty and Tried says where nix-auth looked.
//
// A key file that other users can read or change (any group or other
// permission bit, ssh's rule) is used, as sops uses it, but warn is told,
// once per file, as ssh says "UNPROTECTED PRIVATE KEY FILE": refusing it
// would break render at activation on a host whose key is 0644, and ssh's
// reason to refuse (a key others may have copied) is one to fix, not to
// stop decrypting for. warn may be nil.
//
// Age plugin identities (AGE-PLUGIN-NAME-1..., a YubiKey's as
// age-plugin-yubikey prints it) are taken wherever age identities are, as
// the age CLI takes them: decrypting with one runs age-plugin-NAME from
// PATH, which talks to the user through plugins (nil: it cannot, and a
// plugin that must ask for a PIN or a touch confirmation fails, as it must
// at activation without a terminal). age tries them after the native
// keys.
//
// Unlike sops, a variable set to the empty string counts as unset (getenv
// cannot tell them apart), and SOPS_AGE_KEY_CMD runs without
// SOPS_AGE_RECIPIENT, which sops sets per recipient while decrypting.
func LoadIdentities(getenv func(string) string, extra []string, passphrase func(path string) ([]byte, error), warn func(msg string), plugins *plugin.ClientUI) (*Identities, error) {
	l := &idLoader{ids: &Identities{}, passphrase: passphrase, warn: warn, warned: map[string]bool{}, ui: plugins}

	if v := getenv(envAgeKey); v != "" {
		if err := l.ageKeys(envAgeKey, envAgeKey, []byte(v), true); err != nil {
			return nil, err
		}
	}
	if p := getenv(envAgeKeyFile); p != "" {
		if err := l.ageKeyFile(envAgeKeyFile+"="+p, p, true); err != nil {
			return nil, err
		}
	}
	if c := getenv(envAgeKeyCmd); c != "" {
		out, err := runKeyCommand(envAgeKeyCmd, c, keyCommandTimeout)
		if err != nil {
			return nil, err
		}
		if err := l.ageKeys(fmt.Sprintf("%s=%q", envAgeKeyCmd, c), envAgeKeyCmd+" output", out, false); err != nil {
			return nil, err
		}
	}
	if p := getenv(envSSHKeyFile); p != "" {
		if err := l.sshKeyFile(envSSHKeyFile+"="+p, p, true); err != nil {
			return nil, err
		}
	}
	if c := getenv(envSSHKeyCmd); c != "" {
		out, err := runKeyCommand(envSSHKeyCmd, c, keyCommandTimeout)
		if err != nil {
			return nil, err
		}
		// As in sops, a protected key from a command is unsupported: the
		// command is there so that nothing has to be typed.
		if err := l.sshKey(fmt.Sprintf("%s=%q", envSSHKeyCmd, c), "", out, true); err != nil {
			return nil, err
		}
	}

	if dir, err := sopsUserConfigDir(getenv); err != nil {
		l.note("sops/age/keys.txt (user config directory unknown: %v)", err)
	} else if err := l.ageKeyFile(filepath.Join(dir, filepath.FromSlash(sopsKeysUserConfig)), filepath.Join(dir, filepath.FromSlash(sopsKeysUserConfig)), false); err != nil {
		return nil, err
	}

	if home := userHomeDir(getenv); home == "" {
		l.note("~/.ssh/id_ed25519 (home directory unknown)")
	} else {
		for _, name := range []string{"id_ed25519", "id_rsa"} {
			p := filepath.Join(home, ".ssh", name)
			if err := l.sshKeyFile(p, p, false); err != nil {
				return nil, err
			}
		}
	}

	for _, p := range extra {
		if err := l.identityFile("--identity "+p, p); err != nil {
			return nil, err
		}
	}
	return l.ids, nil
}

type idLoader struct {
	ids        *Identities
	passphrase func(string) ([]byte, error)
	warn       func(string)
	warned     map[string]bool
	ui         *plugin.ClientUI
}

// readKeyFile reads a private key file and warns when its mode lets other
// users at it. The mode is the opened file's, a symlink's target's.
func (l *idLoader) readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		l.checkMode(path, fi.Mode())
	}
	return io.ReadAll(f)
}

// checkMode is ssh's StrictModes check for a private key, as a warning.
func (l *idLoader) checkMode(path string, mode fs.FileMode) {
	if runtime.GOOS == "windows" || mode.Perm()&0o077 == 0 || l.warn == nil || l.warned[path] {
		return
	}
	l.warned[path] = true
	l.warn(fmt.Sprintf("UNPROTECTED PRIVATE KEY FILE: %s has mode %04o, so other users can read or change it, and with it decrypt every store encrypted to it; fix it with: chmod 600 %s",
		safeLabel(path), mode.Perm(), shellQuote(safeLabel(path))))
}

// shellQuote quotes a path for a command the user may paste.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@%=:,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (l *idLoader) note(format string, args ...any) {
	l.ids.Tried = append(l.ids.Tried, fmt.Sprintf(format, args...))
}

func keyCount(n int) string {
	if n == 1 {
		return "1 key"
	}
	return fmt.Sprintf("%d keys", n)
}

// sopsUserConfigDir is os.UserConfigDir read through getenv, with sops's
// macOS exception that XDG_CONFIG_HOME wins there too.
func sopsUserConfigDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("AppData"); d != "" {
			return d, nil
		}
		return "", errors.New("%AppData% is not defined")
	case "darwin", "ios":
		if d := getenv("XDG_CONFIG_HOME"); d != "" {
			return d, nil
		}
		if h := getenv("HOME"); h != "" {
			return h + "/Library/Application Support", nil
		}
		return "", errors.New("$HOME is not defined")
	case "plan9":
		if h := getenv("home"); h != "" {
			return h + "/lib", nil
		}
		return "", errors.New("$home is not defined")
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		if !filepath.IsAbs(d) {
			return "", errors.New("path in $XDG_CONFIG_HOME is relative")
		}
		return d, nil
	}
	if h := getenv("HOME"); h != "" {
		return h + "/.config", nil
	}
	return "", errors.New("neither $XDG_CONFIG_HOME nor $HOME are defined")
}

// userHomeDir is os.UserHomeDir read through getenv.
func userHomeDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows":
		return getenv("USERPROFILE")
	case "plan9":
		return getenv("home")
	}
	return getenv("HOME")
}

// Bounds on a SOPS_AGE_*_CMD, a program the environment names.
const (
	// keyCommandTimeout leaves time for a hardware key's touch or PIN,
	// which a key command may wait for; a command that hangs past it is
	// broken, and render at activation must not wait for it forever.
	keyCommandTimeout = 2 * time.Minute
	// maxKeyCommandOutput is far above an identity file of many keys or
	// the largest OpenSSH private key (RSA 16384, about 12 KiB).
	maxKeyCommandOutput = 64 << 10
)

// runKeyCommand runs a SOPS_AGE_*_CMD as sops does: split into words with
// shell quoting rules and executed directly, bounded by timeout and
// maxKeyCommandOutput. Its output is a secret and never appears in errors;
// its stderr is not kept either, for the same reason. It stays in
// nix-auth's process group (proc's Interactive), so that a command asking
// the terminal for a PIN is not stopped by it.
func runKeyCommand(env, command string, timeout time.Duration) ([]byte, error) {
	args, err := shlex.Split(command)
	if err == nil && len(args) == 0 {
		err = errors.New("empty command")
	}
	if err != nil {
		return nil, &keyError{msg: fmt.Sprintf("%s: cannot parse the command", env), err: err}
	}
	res, err := proc.Run(context.Background(), proc.Cmd{Path: args[0], Args: args[1:],
		Timeout: timeout, MaxStdout: maxKeyCommandOutput, MaxStderr: -1, Interactive: true})
	switch {
	case errors.Is(err, proc.ErrTimeout):
		return nil, &keyError{msg: fmt.Sprintf("%s: %q did not finish within %s; it was stopped", env, command, timeout),
			hints: []string{"a key command may wait for a hardware key's touch or PIN, not longer; run it by hand to see why it hangs, or unset " + env}}
	case errors.Is(err, proc.ErrTooLarge):
		return nil, &keyError{msg: fmt.Sprintf("%s: %q printed more than %d KiB; it was stopped", env, command, maxKeyCommandOutput>>10),
			hints: []string{"the command must print age identities (AGE-SECRET-KEY-1...) or one OpenSSH private key; fix it or unset " + env}}
	case err != nil:
		return nil, &keyError{msg: fmt.Sprintf("%s: running %q failed", env, command), err: err,
			hints: []string{fmt.Sprintf("run the command by hand to see what is wrong, or unset %s", env)}}
	}
	return res.Stdout, nil
}

// ageKeyFile reads an age identity file. A missing file is an error only
// when it was named explicitly.
func (l *idLoader) ageKeyFile(desc, path string, explicit bool) error {
	data, err := l.readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		l.note("%s (not found)", desc)
		return nil
	}
	if err != nil {
		return &keyError{msg: fmt.Sprintf("%s: cannot read the age identity file", desc), err: err,
			hints: []string{"check the path, or unset the variable that names it"}}
	}
	return l.ageKeys(desc, path, data, false)
}

// identityFile reads an --identity path: an OpenSSH private key or an age
// identity file (plain or passphrase-encrypted).
func (l *idLoader) identityFile(desc, path string) error {
	data, err := l.readKeyFile(path)
	if err != nil {
		return &keyError{msg: fmt.Sprintf("%s: cannot read the identity", desc), err: err,
			hints: []string{"give an age identity file (AGE-SECRET-KEY-1...) or an OpenSSH private key such as /etc/ssh/ssh_host_ed25519_key"}}
	}
	if isSSHPrivateKey(data) {
		return l.sshKey(desc, path, data, true)
	}
	before := len(l.ids.List)
	if err := l.ageKeys(desc, path, data, false); err != nil {
		return err
	}
	if len(l.ids.List) == before {
		return &keyError{msg: desc + ": no identities in the file",
			hints: []string{"give an age identity file (AGE-SECRET-KEY-1...) or an OpenSSH private key such as /etc/ssh/ssh_host_ed25519_key"}}
	}
	return nil
}

func isSSHPrivateKey(data []byte) bool {
	t := bytes.TrimSpace(data)
	return bytes.HasPrefix(t, []byte("-----BEGIN ")) && !bytes.HasPrefix(t, []byte("-----BEGIN AGE ENCRYPTED FILE-----"))
}

// ageKeys parses age identities, one per line ("#" comments and blank lines
// skipped), or several per line when words is set, as sops reads
// SOPS_AGE_KEY. A passphrase-encrypted identity file (what `age -p` makes of
// keys.txt) is decrypted when first needed, as sops does.
func (l *idLoader) ageKeys(desc, where string, data []byte, words bool) error {
	if t := bytes.TrimSpace(data); bytes.HasPrefix(t, []byte("age-encryption.org/")) || bytes.HasPrefix(t, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		if l.passphrase == nil {
			return &keyError{msg: fmt.Sprintf("%s: the identity file is passphrase-encrypted and there is no terminal to ask for the passphrase", desc),
				err: ErrPassphrase, hints: []string{passphraseHintNoTTY}}
		}
		l.ids.List = append(l.ids.List, &encryptedIdentityFile{path: where, contents: t, passphrase: l.passphrase, ui: l.ui})
		l.note("%s (passphrase-encrypted; asked for when needed)", desc)
		return nil
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		keys := []string{text}
		if words {
			keys = strings.Fields(text)
		}
		for _, k := range keys {
			id, err := l.parseAgeIdentity(k)
			if err != nil {
				// The offending text is a secret: say where, not what.
				return &keyError{msg: fmt.Sprintf("%s: line %d: %v", desc, line, err),
					hints: []string{"identity lines are AGE-SECRET-KEY-1... as age-keygen writes them; comments start with #"}}
			}
			l.ids.List = append(l.ids.List, id)
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return &keyError{msg: desc + ": cannot read identities", err: err}
	}
	l.note("%s (%s)", desc, keyCount(n))
	return nil
}

// parseAgeIdentity accepts what the age CLI's identity files hold: native
// X25519 and post-quantum identities, and plugin identities.
func (l *idLoader) parseAgeIdentity(s string) (age.Identity, error) {
	switch {
	case strings.HasPrefix(s, "AGE-PLUGIN-"):
		id, err := plugin.NewIdentity(s, pluginUI(l.ui))
		if err != nil {
			return nil, errors.New("malformed age plugin identity")
		}
		return &pluginIdentity{id}, nil
	case strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1"):
		id, err := age.ParseHybridIdentity(s)
		if err != nil {
			return nil, errors.New("malformed post-quantum age identity")
		}
		return id, nil
	case strings.HasPrefix(s, "AGE-SECRET-KEY-1"):
		id, err := age.ParseX25519Identity(s)
		if err != nil {
			return nil, errors.New("malformed age identity")
		}
		return id, nil
	}
	return nil, errors.New("not an age identity")
}

// sshKeyFile loads an OpenSSH private key file; a missing default is noted
// and skipped.
func (l *idLoader) sshKeyFile(desc, path string, explicit bool) error {
	data, err := l.readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		l.note("%s (not found)", desc)
		return nil
	}
	if err != nil {
		return &keyError{msg: fmt.Sprintf("%s: cannot read the ssh private key", desc), err: err}
	}
	return l.sshKey(desc, path, data, explicit)
}

// sshKey adds the identities of an OpenSSH private key: for ed25519 both the
// ssh identity and its ssh-to-age conversion, for RSA (as sops) only the ssh
// identity. path is "" for a key that came from a command.
func (l *idLoader) sshKey(desc, path string, pem []byte, explicit bool) error {
	k, err := ssh.ParseRawPrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return l.protectedSSHKey(desc, path, pem, missing.PublicKey, explicit)
	}
	if err != nil {
		return &keyError{msg: fmt.Sprintf("%s: not a usable OpenSSH private key", desc), err: err}
	}
	switch k := k.(type) {
	case *ed25519.PrivateKey:
		return l.ed25519Key(desc, *k)
	case ed25519.PrivateKey:
		return l.ed25519Key(desc, k)
	}
	id, err := agessh.ParseIdentity(pem)
	if err != nil {
		return &keyError{msg: fmt.Sprintf("%s: unsupported ssh key", desc), err: err, hints: ed25519Hints}
	}
	l.ids.List = append(l.ids.List, id)
	l.note("%s (ssh-rsa)", desc)
	return nil
}

func (l *idLoader) ed25519Key(desc string, k ed25519.PrivateKey) error {
	sshID, err := agessh.NewEd25519Identity(k)
	if err != nil {
		return &keyError{msg: desc + ": invalid ssh-ed25519 key", err: err}
	}
	conv, err := convertedIdentity(k)
	if err != nil {
		return &keyError{msg: desc + ": cannot convert the ssh-ed25519 key", err: err}
	}
	l.ids.List = append(l.ids.List, conv, sshID)
	l.note("%s (ssh-ed25519, as ssh key and converted to age)", desc)
	return nil
}

// protectedSSHKey adds a passphrase-protected key as identities that ask for
// the passphrase only when a file has a stanza they could open, so a
// protected ~/.ssh/id_ed25519 costs nothing when another key works.
func (l *idLoader) protectedSSHKey(desc, path string, pem []byte, pub ssh.PublicKey, explicit bool) error {
	if path == "" {
		return &keyError{msg: desc + ": the ssh private key is passphrase-protected, which is not supported for a key from a command",
			err: ErrPassphrase, hints: []string{"make the command print an unprotected key, or use SOPS_AGE_SSH_PRIVATE_KEY_FILE"}}
	}
	if l.passphrase == nil {
		if !explicit {
			l.note("%s (passphrase-protected; skipped: no terminal to ask)", desc)
			return nil
		}
		return &keyError{msg: fmt.Sprintf("%s: the ssh private key needs a passphrase and there is no terminal to ask for it", desc),
			err: ErrPassphrase, hints: []string{passphraseHintNoTTY}}
	}
	if pub == nil {
		// Old PEM formats do not carry the public key; sops reads it
		// from the .pub file beside the key, and so do we.
		data, err := os.ReadFile(path + ".pub")
		if err == nil {
			pub, _, _, _, err = ssh.ParseAuthorizedKey(data)
		}
		if err != nil {
			return &keyError{msg: fmt.Sprintf("%s: the key is passphrase-protected and its public key %s.pub is unusable", desc, path), err: err}
		}
	}
	ask := func() ([]byte, error) { return l.passphrase(path) }
	if pub.Type() != ssh.KeyAlgoED25519 {
		id, err := agessh.NewEncryptedSSHIdentity(pub, pem, ask)
		if err != nil {
			return &keyError{msg: desc + ": unsupported ssh key", err: err, hints: ed25519Hints}
		}
		l.ids.List = append(l.ids.List, id)
		l.note("%s (%s, passphrase-protected; asked for when needed)", desc, pub.Type())
		return nil
	}
	l.ids.List = append(l.ids.List, &protectedEd25519{desc: desc, pem: pem, tag: sshTag(pub), ask: ask})
	l.note("%s (ssh-ed25519, passphrase-protected; asked for when needed; as ssh key and converted to age)", desc)
	return nil
}

// sshTag is the key tag agessh puts in ssh stanzas: the first four bytes of
// the SHA-256 of the public key in wire format.
func sshTag(pub ssh.PublicKey) string {
	h := sha256.Sum256(pub.Marshal())
	return base64.RawStdEncoding.EncodeToString(h[:4])
}

// protectedEd25519 is a passphrase-protected ssh-ed25519 key standing for
// both its ssh identity and its converted X25519 identity. The passphrase
// is asked at most once; the outcome, good or bad, is kept.
type protectedEd25519 struct {
	desc string
	pem  []byte
	tag  string
	ask  func() ([]byte, error)

	mu   sync.Mutex
	done bool
	ids  []age.Identity
	err  error
}

// Unwrap implements age.Identity.
func (p *protectedEd25519) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	relevant := false
	for _, s := range stanzas {
		// An X25519 stanza does not say whose it is: any could be ours.
		if s.Type == "X25519" || (s.Type == ssh.KeyAlgoED25519 && len(s.Args) > 0 && s.Args[0] == p.tag) {
			relevant = true
			break
		}
	}
	if !relevant {
		return nil, age.ErrIncorrectIdentity
	}
	ids, err := p.unlock()
	if err != nil {
		return nil, err
	}
	return unwrapAny(ids, stanzas)
}

func (p *protectedEd25519) unlock() ([]age.Identity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return p.ids, p.err
	}
	p.done = true
	pass, err := p.ask()
	if err != nil {
		p.err = &keyError{msg: fmt.Sprintf("%s: cannot get the passphrase of the ssh private key", p.desc), err: errors.Join(ErrPassphrase, err),
			hints: []string{passphraseHintNoTTY}}
		return nil, p.err
	}
	key, err := parseSSHEd25519PrivateKey(p.pem, pass)
	clear(pass)
	if err != nil {
		p.err = &keyError{msg: p.desc, err: err, hints: []string{"check the passphrase, or " + passphraseHintNoTTY}}
		return nil, p.err
	}
	sshID, err := agessh.NewEd25519Identity(key)
	if err != nil {
		p.err = &keyError{msg: p.desc + ": invalid ssh-ed25519 key", err: err}
		return nil, p.err
	}
	conv, err := convertedIdentity(key)
	if err != nil {
		p.err = &keyError{msg: p.desc + ": cannot convert the ssh-ed25519 key", err: err}
		return nil, p.err
	}
	p.ids = []age.Identity{conv, sshID}
	return p.ids, nil
}

// unwrapAny tries each identity in turn, as age.Decrypt does.
func unwrapAny(ids []age.Identity, stanzas []*age.Stanza) ([]byte, error) {
	for _, id := range ids {
		key, err := id.Unwrap(stanzas)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		return key, err
	}
	return nil, age.ErrIncorrectIdentity
}

// encryptedIdentityFile is an age identity file encrypted with a passphrase
// (`age -p keys.txt`), opened when first needed, as sops and age do.
type encryptedIdentityFile struct {
	path       string
	contents   []byte
	passphrase func(string) ([]byte, error)
	ui         *plugin.ClientUI

	mu   sync.Mutex
	done bool
	ids  []age.Identity
	err  error
}

// Unwrap implements age.Identity.
func (e *encryptedIdentityFile) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	ids, err := e.unlock()
	if err != nil {
		return nil, err
	}
	return unwrapAny(ids, stanzas)
}

func (e *encryptedIdentityFile) unlock() ([]age.Identity, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return e.ids, e.err
	}
	e.done = true
	e.err = func() error {
		pass, err := e.passphrase(e.path)
		if err != nil {
			return &keyError{msg: fmt.Sprintf("%s: cannot get the passphrase of the encrypted identity file", e.path),
				err: errors.Join(ErrPassphrase, err), hints: []string{passphraseHintNoTTY}}
		}
		sid, err := age.NewScryptIdentity(string(pass))
		clear(pass)
		if err != nil {
			return &keyError{msg: e.path + ": unusable passphrase", err: err}
		}
		var r io.Reader = bytes.NewReader(e.contents)
		if bytes.HasPrefix(e.contents, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
			r = armor.NewReader(r)
		}
		dr, err := age.Decrypt(r, sid)
		if err != nil {
			var noMatch *age.NoIdentityMatchError
			if errors.As(err, &noMatch) {
				return &keyError{msg: e.path + ": wrong passphrase for the encrypted identity file", err: ErrPassphrase}
			}
			return &keyError{msg: e.path + ": cannot decrypt the identity file", err: err}
		}
		plain, err := io.ReadAll(dr)
		if err != nil {
			return &keyError{msg: e.path + ": cannot decrypt the identity file", err: err}
		}
		inner := &idLoader{ids: &Identities{}, ui: e.ui}
		err = inner.ageKeys(e.path, e.path, plain, false)
		clear(plain)
		if err != nil {
			return err
		}
		e.ids = inner.ids.List
		return nil
	}()
	return e.ids, e.err
}

// pluginIdentity is an age plugin's identity whose failures say so: a
// plugin that is missing, or that failed (a wrong PIN, no touch, nobody
// to ask), is a *PluginError rather than a damaged file.
type pluginIdentity struct{ id *plugin.Identity }

// Unwrap implements age.Identity.
func (p *pluginIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := p.id.Unwrap(stanzas)
	if err != nil && !errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, &PluginError{Name: p.id.Name(), Err: err}
	}
	return key, err
}

// PluginError is an age plugin that could not be run, or that failed.
type PluginError struct {
	// Name is the plugin's name: its binary is age-plugin-Name.
	Name string
	Err  error
}

// Error names the plugin; the plugin's own words follow, escaped where
// they are printed.
func (e *PluginError) Error() string {
	var nf *plugin.NotFoundError
	if errors.As(e.Err, &nf) {
		return fmt.Sprintf("the age plugin age-plugin-%s is not on PATH", e.Name)
	}
	return fmt.Sprintf("the age plugin age-plugin-%s failed: %v", e.Name, e.Err)
}

// Unwrap returns the plugin's error.
func (e *PluginError) Unwrap() error { return e.Err }

// pluginErr is the file error of kind for err when err is about an age
// plugin (a *PluginError, or a plugin age could not find), else nil: the
// one place a plugin's failure becomes a FileError with its hints.
func pluginErr(path string, kind, err error) error {
	var pe *PluginError
	var nf *plugin.NotFoundError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &nf):
		pe = &PluginError{Name: nf.Name, Err: err}
	default:
		return nil
	}
	return fileErr(path, kind, pe.Error(), pe.Hints()...)
}

// Hints say what a plugin needs.
func (e *PluginError) Hints() []string {
	var nf *plugin.NotFoundError
	if errors.As(e.Err, &nf) {
		return []string{fmt.Sprintf("install age-plugin-%s where this command (or the activation service) finds it on PATH", e.Name)}
	}
	return []string{fmt.Sprintf("run it where age-plugin-%s can ask what it needs (a PIN, a touch): on a terminal; at activation a plugin must need no interaction", e.Name)}
}
