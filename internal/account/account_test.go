package account

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /etc/passwd")
	}
	u, err := LookupUser("root")
	if err != nil || u.UID != 0 || u.Name != "root" {
		t.Fatalf("root: %+v, %v", u, err)
	}
	if u, err := LookupUID(0); err != nil || u.Name != "root" {
		t.Fatalf("uid 0: %+v, %v", u, err)
	}
	if gid, err := LookupGroup("root"); err != nil || gid != 0 {
		t.Fatalf("group root: %d, %v", gid, err)
	}
	if !InGroup(0, 0) {
		t.Error("root is not in its primary group")
	}
}

// fakeGetent puts a getent on PATH that answers as a name service would
// for accounts /etc/passwd does not have (LDAP, DynamicUser).
func fakeGetent(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "getent"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

func TestNameService(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("getent is the glibc name service client")
	}
	fakeGetent(t, `case "$1 $3" in
"passwd ldapuser"|"passwd 70001") echo 'ldapuser:*:70001:70002:LDAP user:/home/ldapuser:/bin/sh' ;;
"group ldapgroup") echo 'ldapgroup:*:70003:' ;;
"initgroups ldapuser") echo 'ldapuser 70002 70003' ;;
*) exit 2 ;;
esac
`)
	u, err := LookupUser("ldapuser")
	if err != nil || u != (User{Name: "ldapuser", UID: 70001, GID: 70002}) {
		t.Fatalf("ldapuser: %+v, %v", u, err)
	}
	if u, err := LookupUID(70001); err != nil || u.Name != "ldapuser" {
		t.Fatalf("uid 70001: %+v, %v", u, err)
	}
	if gid, err := LookupGroup("ldapgroup"); err != nil || gid != 70003 {
		t.Fatalf("ldapgroup: %d, %v", gid, err)
	}
	if !InGroup(70001, 70003) || !InGroup(70001, 70002) || InGroup(70001, 5) {
		t.Error("InGroup does not follow the name service's groups")
	}
	for _, name := range []string{"nobody-here", "-x", "a:b", ""} {
		if _, err := LookupUser(name); !errors.Is(err, ErrUnknown) {
			t.Errorf("%q: %v, want ErrUnknown", name, err)
		}
	}
}

// A name service answer that is not an entry is refused, not guessed at.
func TestNameServiceGarbage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("getent is the glibc name service client")
	}
	for _, out := range []string{"x:y:notanumber:1:::", "short:line", "neg:x:-5:1:a:b:c", ""} {
		fakeGetent(t, "echo '"+out+"'\n")
		if _, err := LookupUser("someone"); !errors.Is(err, ErrUnknown) {
			t.Errorf("getent printing %q: %v, want ErrUnknown", out, err)
		}
	}
	t.Setenv("PATH", t.TempDir()) // no getent at all
	if _, err := LookupUser("someone"); !errors.Is(err, ErrUnknown) {
		t.Errorf("without getent: %v", err)
	}
}
