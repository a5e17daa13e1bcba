// Package account resolves user and group names the way the system does,
// without cgo. nix-auth is built with CGO_ENABLED=0 (a static binary that
// starts in two thirds of the time a dynamically linked one takes, which
// every render at activation pays): os/user then reads /etc/passwd and
// /etc/group itself. Accounts that only the name service switch knows
// (LDAP, sssd, systemd's DynamicUser and userdb) are asked of `getent`,
// which goes through NSS as a cgo build would, and only when the files do
// not have the name.
package account

import (
	"context"
	"errors"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/nix-auth/nix-auth/internal/proc"
)

// ErrUnknown: neither the files nor the name service know the account.
var ErrUnknown = errors.New("unknown account")

// getentTimeout bounds a name service lookup: a hung LDAP server must not
// hold an activation.
const getentTimeout = 5 * time.Second

// User is a user's uid and primary gid.
type User struct {
	Name     string
	UID, GID int
}

// LookupUser resolves a user name.
func LookupUser(name string) (User, error) {
	if u, err := user.Lookup(name); err == nil {
		return fromUser(u)
	}
	return getentUser(name)
}

// LookupUID resolves a uid.
func LookupUID(uid int) (User, error) {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fromUser(u)
	}
	return getentUser(strconv.Itoa(uid))
}

// LookupGroup resolves a group name to its gid.
func LookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			return gid, nil
		}
	}
	f, err := getent("group", name)
	if err != nil {
		return 0, err
	}
	return number(f, 2)
}

// InGroup says whether uid is a member of gid, as its primary group or a
// supplementary one listed in /etc/group (or by the name service).
func InGroup(uid, gid int) bool {
	u, err := LookupUID(uid)
	if err != nil {
		return false
	}
	if u.GID == gid {
		return true
	}
	if osu, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		if gids, err := osu.GroupIds(); err == nil && contains(gids, gid) {
			return true
		}
	}
	// initgroups lists the groups the name service gives the user.
	res, err := run("initgroups", u.Name)
	if err != nil {
		return false
	}
	f := strings.Fields(string(res))
	return len(f) > 1 && contains(f[1:], gid)
}

func contains(ids []string, id int) bool {
	for _, s := range ids {
		if n, err := strconv.Atoi(s); err == nil && n == id {
			return true
		}
	}
	return false
}

func fromUser(u *user.User) (User, error) {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return User{}, ErrUnknown
	}
	return User{Name: u.Username, UID: uid, GID: gid}, nil
}

func getentUser(key string) (User, error) {
	f, err := getent("passwd", key)
	if err != nil {
		return User{}, err
	}
	uid, err1 := number(f, 2)
	gid, err2 := number(f, 3)
	if err1 != nil || err2 != nil {
		return User{}, ErrUnknown
	}
	return User{Name: f[0], UID: uid, GID: gid}, nil
}

// getent returns the fields of the one passwd or group entry for key.
func getent(db, key string) ([]string, error) {
	if key == "" || strings.ContainsAny(key, ":\n") || strings.HasPrefix(key, "-") {
		return nil, ErrUnknown
	}
	out, err := run(db, key)
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Split(line, ":")
	if len(f) < 3 || (db == "passwd" && len(f) < 7) {
		return nil, ErrUnknown
	}
	return f, nil
}

func run(db, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), getentTimeout)
	defer cancel()
	res, err := proc.Run(ctx, proc.Cmd{Path: "getent", Args: []string{db, "--", key}, MaxStdout: 64 << 10, MaxStderr: -1})
	if err != nil {
		// Exit 2 is "not found"; a system without getent (macOS, where
		// os/user asks Directory Services itself) knows no more either.
		return nil, ErrUnknown
	}
	return res.Stdout, nil
}

func number(f []string, i int) (int, error) {
	n, err := strconv.Atoi(f[i])
	if err != nil || n < 0 {
		return 0, ErrUnknown
	}
	return n, nil
}
