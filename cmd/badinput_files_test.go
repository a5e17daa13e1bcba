package cmd

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nix-auth/nix-auth/internal/safefile"
)

func init() { moreBadCases = append(moreBadCases, filesBadCases) }

// Paths of the user's config that the file cases plant things at.
const (
	confDir      = "$D/home/.config/nix"
	tokensPath   = confDir + "/access-tokens.conf"
	renderedPath = confDir + "/access-tokens.rendered.conf"
	renderOut    = "$D/out/access-tokens.conf"
	victimPath   = "$D/elsewhere/victim"
	victimBytes  = "root:x:0:0:root:/root:/bin/sh\n"
)

// victim is a file that a planted link points at: it must stay as it is.
func victim(e *badEnv) { e.write(victimPath, []byte(victimBytes)) }

// link plants a symlink at name pointing to target (both $D paths).
func link(name, target string) func(e *badEnv) {
	return func(e *badEnv) {
		p := e.path(name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Symlink(e.path(target), p); err != nil {
			e.t.Fatal(err)
		}
	}
}

// mode sets the mode (with sticky bit, unlike os.Chmod) of a $D directory,
// making it first.
func mode(name string, m uint32) func(e *badEnv) {
	return func(e *badEnv) {
		p := e.path(name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := syscall.Chmod(p, m); err != nil {
			e.t.Fatal(err)
		}
	}
}

// nobodyOwns gives a $D file or directory to uid and gid 65534; only root
// can, so the case is skipped for others.
func nobodyOwns(name string) func(e *badEnv) {
	return func(e *badEnv) {
		if os.Geteuid() != 0 {
			e.t.Skip("only root can give a file to another user")
		}
		if err := os.Lchown(e.path(name), 65534, 65534); err != nil {
			e.t.Fatal(err)
		}
	}
}

// fault makes the step of every write below $D/prefix fail with err, after
// skip such steps: the full disk of a case, without a full disk.
func fault(prefix string, step safefile.Step, skip int, err error) func(e *badEnv) {
	return func(e *badEnv) {
		e.t.Cleanup(safefile.InjectFault(e.path(prefix), step, skip, err))
	}
}

// onTmpfs moves the $D directory dir onto a small tmpfs of its own,
// keeping its files, so that fillDisk can fill it for real. Mounting needs
// root: elsewhere the case is skipped, but CI (which runs as root) must
// run it.
func onTmpfs(dir string) func(e *badEnv) {
	return func(e *badEnv) {
		p := e.path(dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			e.t.Fatal(err)
		}
		keep := map[string][]byte{}
		ents, _ := os.ReadDir(p)
		for _, ent := range ents {
			b, err := os.ReadFile(filepath.Join(p, ent.Name()))
			if err != nil {
				e.t.Fatal(err)
			}
			keep[ent.Name()] = b
		}
		unmount, err := mountTmpfs(p, 256<<10)
		if errors.Is(err, errNoTmpfs) {
			e.t.Skip(err)
		}
		if err != nil {
			if os.Getenv("CI") == "true" {
				e.t.Fatalf("mounting a tmpfs for a real full disk: %v", err)
			}
			e.t.Skipf("cannot mount a tmpfs (%v): the real full-disk cases need root", err)
		}
		e.t.Cleanup(unmount)
		for name, b := range keep {
			e.write(filepath.Join(dir, name), b)
		}
	}
}

// errNoTmpfs: this system has no tmpfs to fill (it is Linux's).
var errNoTmpfs = errors.New("a tmpfs for the real full-disk cases needs Linux")

// fillDisk takes every free block of the file system that holds the $D
// directory dir.
func fillDisk(dir string) func(e *badEnv) {
	return func(e *badEnv) {
		f, err := os.Create(filepath.Join(e.path(dir), "filler"))
		if err != nil {
			e.t.Fatal(err)
		}
		defer f.Close()
		block := make([]byte, 4096)
		for {
			if _, err = f.Write(block); err != nil {
				break
			}
		}
		if !errors.Is(err, unix.ENOSPC) {
			e.t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

// confWithTokens is a nix.conf whose tokens set-token moves out (after a
// backup): the write with the most files.
func confWithTokens(e *badEnv) {
	e.nixConf("experimental-features = nix-command flakes\naccess-tokens = github.com=" + tokConf + "\n")
}

// confIncluding is a nix.conf that includes the tokens file, which holds
// a token for github.com.
func confIncluding(e *badEnv) {
	e.nixConf("experimental-features = nix-command flakes\n!include access-tokens.conf\n")
	e.write(tokensPath, []byte("access-tokens = github.com="+tokConf+"\n"))
}

func filesBadCases() []badCase {
	render := func(extra ...string) []string {
		return append([]string{"render", "$D/tokens.yaml", "--identity", "$D/good.key"}, extra...)
	}
	setToken := []string{"set-token", "example.org", "--no-validate"}
	setTokenEnc := []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"}
	// rekey adds a recipient: the good key stays, so the file could be
	// written.
	rekey := []string{"rekey", "$D/tokens.yaml", "--identity", "$D/good.key", "--recipient", "$D/both.pub"}
	bothPub := func(e *badEnv) {
		e.write("both.pub", []byte(badKeys()[0].Recipient().String()+"\n"+badKeys()[1].Recipient().String()+"\n"))
	}
	const (
		linkHint = "remove it"
		dirHint  = "write below a directory that only you or root can change"
		fullHint = "free some space"
		full     = "no space left on device; nothing was changed"
	)
	return []badCase{
		// Symlinks planted where nix-auth writes (as root, for render):
		// refused, and the file they point to is untouched.
		{name: "files/render-output-symlink", args: render("--output", renderOut),
			setup: then(sopsStore, victim, link(renderOut, victimPath)),
			code:  1, file: renderOut, want: "is a symbolic link", hint: linkHint},
		{name: "files/render-check-output-symlink", args: render("--output", renderOut, "--check"),
			setup: then(sopsStore, victim, link(renderOut, victimPath)),
			code:  1, file: renderOut, want: "is a symbolic link", hint: linkHint},
		{name: "files/render-output-lock-symlink", args: render("--output", renderOut),
			setup: then(sopsStore, victim, link(renderOut+".lock", victimPath)),
			code:  1, file: renderOut + ".lock", want: "is a symbolic link", hint: linkHint},
		{name: "files/render-output-lock-dangling-symlink", args: render("--output", renderOut),
			setup: then(sopsStore, link(renderOut+".lock", "$D/elsewhere/created")),
			code:  1, file: renderOut + ".lock", want: "is a symbolic link", hint: linkHint},
		{name: "files/render-default-output-symlink", args: render(),
			setup: then(sopsStore, victim, link(renderedPath, victimPath)),
			code:  1, file: renderedPath, want: "is a symbolic link", hint: linkHint},
		{name: "files/set-token-lock-symlink", args: setToken,
			setup: then(withToken, victim, link(tokensPath+".lock", victimPath)),
			code:  1, file: tokensPath + ".lock", want: "is a symbolic link", hint: linkHint, secrets: []string{tokStdin}},
		{name: "files/login-nixconf-lock-symlink-before-login", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(withToken, victim, link(nixConfPath+".lock", victimPath), func(e *badEnv) { e.stdin = []byte(tokForge) }),
			code:  1, file: nixConfPath + ".lock", want: "is a symbolic link", hint: linkHint, secrets: []string{tokForge}},
		{name: "files/set-token-tokens-file-symlink", args: setToken,
			setup: then(withToken, victim, link(tokensPath, victimPath)),
			code:  1, file: tokensPath, want: "is a symbolic link", hint: linkHint, secrets: []string{tokStdin}},
		{name: "files/logout-lock-symlink", args: []string{"logout", "github.com"},
			setup: then(confIncluding, victim, link(tokensPath+".lock", victimPath)),
			code:  1, file: tokensPath + ".lock", want: "is a symbolic link", hint: linkHint, secrets: []string{tokConf}},
		{name: "files/set-token-encrypted-lock-symlink", args: setTokenEnc,
			setup: then(sopsStore, withToken, victim, link("$D/tokens.yaml.lock", victimPath)),
			code:  1, file: "$D/tokens.yaml.lock", want: "is a symbolic link", hint: linkHint, secrets: []string{tokStdin}},
		{name: "files/login-encrypted-store-symlink-before-login", args: []string{"login", "codeberg", "--token-stdin", "--encrypt-to", "$D/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(sopsStore, withToken, func(e *badEnv) {
				e.stdin = []byte(tokForge)
				os.MkdirAll(e.path("elsewhere"), 0o755)
				if err := os.Rename(e.path("tokens.yaml"), e.path("elsewhere/tokens.yaml")); err != nil {
					e.t.Fatal(err)
				}
			}, link("$D/tokens.yaml", "$D/elsewhere/tokens.yaml")),
			code: 1, file: "$D/tokens.yaml", want: "is a symbolic link", hint: linkHint, secrets: []string{tokForge}},
		{name: "files/rekey-lock-symlink", args: rekey,
			setup: then(sopsStore, bothPub, victim, link("$D/tokens.yaml.lock", victimPath)),
			code:  1, file: "$D/tokens.yaml.lock", want: "is a symbolic link", hint: linkHint},

		// Directories others can change (ssh's StrictModes).
		{name: "files/render-dir-world-writable", args: render("--output", renderOut),
			setup: then(sopsStore, mode("$D/out", 0o777)),
			code:  1, file: renderOut, want: "writable by other users (mode 0777, not sticky)", hint: dirHint},
		{name: "files/render-dir-world-writable-foreign-file", args: render("--output", renderOut),
			setup: then(sopsStore, mode("$D/out", 0o777), func(e *badEnv) { e.write(renderOut, []byte("planted\n")) }, nobodyOwns(renderOut)),
			code:  1, file: renderOut, want: "writable by other users", hint: dirHint},
		{name: "files/render-sticky-dir-foreign-file", args: render("--output", renderOut),
			setup: then(sopsStore, mode("$D/out", 0o1777), func(e *badEnv) { e.write(renderOut, []byte("planted\n")) }, nobodyOwns(renderOut)),
			code:  1, file: renderOut, want: "belongs to uid 65534", hint: "remove it"},
		{name: "files/render-dir-of-another-user", args: render("--output", renderOut),
			setup: then(sopsStore, mode("$D/out", 0o755), nobodyOwns("$D/out")),
			code:  1, file: renderOut, want: "belongs to uid 65534", hint: dirHint},
		{name: "files/set-token-config-dir-world-writable", args: setToken,
			setup: then(withToken, mode(confDir, 0o777)),
			code:  1, file: tokensPath, want: "writable by other users", hint: dirHint, secrets: []string{tokStdin}},

		// A full disk, through the fault seam: every writer changes nothing.
		{name: "files/set-token-migration-full-disk", args: setToken,
			setup: then(confWithTokens, withToken, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: nixConfPath, want: full, hint: fullHint, secrets: []string{tokConf, tokStdin}},
		{name: "files/set-token-migration-full-disk-at-nixconf", args: setToken,
			setup: then(confWithTokens, withToken, fault(nixConfPath, safefile.StepWrite, 1, unix.ENOSPC)),
			code:  1, file: nixConfPath, want: full, hint: fullHint, secrets: []string{tokConf, tokStdin}},
		{name: "files/set-token-migration-last-rename-fails", args: setToken,
			setup: then(confWithTokens, withToken, fault(nixConfPath, safefile.StepRename, 1, unix.EIO)),
			code:  1, file: nixConfPath, want: "input/output error; nothing was changed", secrets: []string{tokConf, tokStdin}},
		{name: "files/login-full-disk", args: []string{"login", "codeberg", "--token-stdin"},
			setup: then(withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: tokensPath, want: full, hint: fullHint, secrets: []string{tokForge}},
		{name: "files/logout-full-disk", args: []string{"logout", "github.com"},
			setup: then(confIncluding, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: tokensPath, want: full, hint: fullHint, secrets: []string{tokConf}},
		{name: "files/set-token-encrypted-full-disk", args: setTokenEnc,
			setup: then(sopsStore, withToken, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: "$D/tokens.yaml", want: full, hint: fullHint, secrets: []string{tokStdin}},
		{name: "files/login-new-store-in-new-folder-full-disk",
			args:  []string{"login", "codeberg", "--token-stdin", "--encrypt-to", "$D/secrets/tokens.age", "--recipient", badKeys()[0].Recipient().String()},
			setup: then(withToken, func(e *badEnv) { e.stdin = []byte(tokForge) }, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: "$D/secrets/tokens.age", want: full, hint: fullHint, secrets: []string{tokForge}},
		{name: "files/rekey-full-disk", args: rekey,
			setup: then(sopsStore, bothPub, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: "$D/tokens.yaml", want: full, hint: fullHint},
		{name: "files/render-full-disk", args: render("--output", renderOut),
			setup: then(sopsStore, fault("$D", safefile.StepWrite, 0, unix.ENOSPC)),
			code:  1, file: renderOut, want: full, hint: fullHint},
		{name: "files/render-include-rename-fails", args: render(),
			setup: then(sopsStore, fault(nixConfPath, safefile.StepRename, 0, unix.EIO)),
			code:  1, file: nixConfPath, want: "input/output error; nothing was changed"},

		// A real full disk: a small tmpfs, filled.
		{name: "files/real-full-disk-set-token-migration", args: setToken,
			setup: then(confWithTokens, withToken, onTmpfs(confDir), fillDisk(confDir)),
			code:  1, file: nixConfPath, want: full, hint: fullHint, secrets: []string{tokConf, tokStdin}},
		{name: "files/real-full-disk-render-with-include", args: render(),
			setup: then(sopsStore, onTmpfs(confDir), fillDisk(confDir)),
			code:  1, file: confDir, want: full, hint: fullHint},
		{name: "files/real-full-disk-set-token-encrypted",
			args:  []string{"set-token", "example.org", "--no-validate", "--encrypt-to", "$D/fs/tokens.yaml", "--identity", "$D/good.key"},
			setup: then(withToken, onTmpfs("$D/fs"), func(e *badEnv) { e.store("fs/tokens.yaml") }, fillDisk("$D/fs")),
			code:  1, file: "$D/fs/tokens.yaml", want: full, hint: fullHint, secrets: []string{tokStdin}},
		{name: "files/real-full-disk-rekey", args: []string{"rekey", "$D/fs/tokens.yaml", "--identity", "$D/good.key", "--recipient", "$D/both.pub"},
			setup: then(bothPub, onTmpfs("$D/fs"), func(e *badEnv) { e.store("fs/tokens.yaml") }, fillDisk("$D/fs")),
			code:  1, file: "$D/fs/tokens.yaml", want: full, hint: fullHint},
	}
}
