package crypt

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestMissingRecipients(t *testing.T) {
	dir := t.TempDir()
	want, err := ResolveRecipientFlags([]string{vectorPub(t, "host1"), vectorPub(t, "host2")})
	if err != nil {
		t.Fatal(err)
	}
	host1Age := Recipient{Age: vectorRecipient(t, "host1")}

	// sops: recipients are age1 keys, ssh keys compared converted.
	sops := filepath.Join(dir, "tokens.yaml")
	createStore(t, sops, vectorRecipient(t, "host1"))
	missing, err := MissingRecipients(sops, append(want, host1Age))
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].SSH != sshKeyOnly(vectorPub(t, "host2")) {
		t.Errorf("sops: missing %v, want only host2", missing)
	}

	// .age: ssh stanzas are matched by their key tag.
	agePath := filepath.Join(dir, "tokens.age")
	createStore(t, agePath, sshKeyOnly(vectorPub(t, "host1")))
	missing, err = MissingRecipients(agePath, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].SSH != sshKeyOnly(vectorPub(t, "host2")) {
		t.Errorf(".age: missing %v, want only host2", missing)
	}

	// An age1 key cannot be seen in an .age header: an error, not a guess.
	if _, err := MissingRecipients(agePath, []Recipient{host1Age}); !errors.Is(err, ErrHiddenRecipient) {
		t.Errorf(".age with an age1 key: %v, want ErrHiddenRecipient", err)
	}

	// Unreadable input is an error naming the file.
	if _, err := MissingRecipients(filepath.Join(dir, "none.age"), want); err == nil {
		t.Error("a missing file gave no error")
	}
}

// createStore writes a one-entry store encrypted to recipient.
func createStore(t *testing.T, path, recipient string) {
	t.Helper()
	recips, err := ResolveRecipientFlags([]string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, recips, CreateOptions{Now: stNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(stEntries()[0]); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
}
