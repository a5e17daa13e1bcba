package crypt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func vectorRecipient(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(string(readKey(t, name+".age-recipient")))
}

func vectorPub(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(string(readKey(t, name+".pub")))
}

// sshKeyOnly drops the comment of an authorized_keys line.
func sshKeyOnly(line string) string {
	f := strings.Fields(line)
	return f[0] + " " + f[1]
}

func ages(rs []Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Age)
	}
	return out
}

func TestParseRecipientsForms(t *testing.T) {
	native, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	h1, h2, h3 := vectorPub(t, "host1"), vectorPub(t, "host2"), vectorPub(t, "host3")
	rsaKey := sshKeyOnly(vectorPub(t, "rsa1"))
	// What `ssh-keyscan web2 web3` prints: comment lines and every key type.
	keyscan := "# web2:22 SSH-2.0-OpenSSH_9.6\n" +
		"web2 " + rsaKey + "\n" +
		"web2 " + sshKeyOnly(h2) + "\n" +
		"# web3:22 SSH-2.0-OpenSSH_9.6\n" +
		"web3 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=\n" +
		"[web3]:2222 " + sshKeyOnly(h3) + "\n"
	data := "# fleet recipients\n\n" +
		native.Recipient().String() + "\n" +
		"   " + h1 + "   \r\n" + // authorized_keys line, CRLF and padding
		keyscan +
		"web3 " + sshKeyOnly(h3) + "\n" +
		h1 + "\n" + // duplicate
		"ssh-gw " + sshKeyOnly(h1) + "\n" // a host whose name starts like a key type

	rs, err := ParseRecipients([]byte(data), "fleet.txt")
	if err != nil {
		t.Fatalf("%v (hints %q)", err, hintsOf(err))
	}
	want := []string{native.Recipient().String(), vectorRecipient(t, "host1"), vectorRecipient(t, "host2"), vectorRecipient(t, "host3")}
	if got := ages(rs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("recipients = %q\nwant %q", got, want)
	}
	if rs[0].SSH != "" || rs[1].SSH != sshKeyOnly(h1) || rs[2].SSH != sshKeyOnly(h2) {
		t.Errorf("SSH forms = %q, %q, %q", rs[0].SSH, rs[1].SSH, rs[2].SSH)
	}
	for i, wantSrc := range []string{"fleet.txt:3", "fleet.txt:4 (host1)", "fleet.txt:7 (web2)", "fleet.txt:10 ([web3]:2222)"} {
		if rs[i].Source != wantSrc {
			t.Errorf("Source[%d] = %q, want %q", i, rs[i].Source, wantSrc)
		}
	}
	for _, r := range rs {
		if _, err := r.AgeRecipient(nil); err != nil {
			t.Errorf("%s: AgeRecipient: %v", r.Source, err)
		}
		ar, err := r.AgenixRecipient(nil)
		if err != nil {
			t.Errorf("%s: AgenixRecipient: %v", r.Source, err)
		}
		if _, isX := ar.(*age.X25519Recipient); isX != (r.SSH == "") {
			t.Errorf("%s: AgenixRecipient is %T", r.Source, ar)
		}
	}
}

func TestParseRecipientsRefusals(t *testing.T) {
	rsa := vectorPub(t, "rsa1")
	rsaKey := strings.Join(strings.Fields(rsa)[:2], " ")
	good := vectorRecipient(t, "host1")
	for _, tc := range []struct {
		name, data string
		want       []string // substrings of the error
		hint       string
	}{
		{"rsa authorized key", good + "\n" + rsa + "\n", []string{"hosts.txt:2", "ssh-rsa", "only ssh-ed25519 keys can become age recipients"}, "ed25519"},
		{"keyscan host with rsa only", "# old:22 SSH-2.0\nold " + rsaKey + "\n", []string{"hosts.txt:2", "ssh-rsa", "old has none"}, "ssh-keyscan -t ed25519"},
		{"ecdsa", "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= x\n", []string{"hosts.txt:1", "ecdsa-sha2-nistp256"}, "ed25519"},
		{"bad checksum", good[:len(good)-1] + "x\n", []string{"hosts.txt:1", "invalid age recipient"}, ""},
		{"age1 too short", "age1qqqq\n", []string{"hosts.txt:1", "invalid age recipient"}, ""},
		{"plugin recipient with a bad checksum", "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3q\n", []string{"hosts.txt:1", "invalid age recipient"}, ""},
		{"trailing text", good + " # web1\n", []string{"hosts.txt:1", "unexpected text"}, "own line"},
		{"garbage", "hello world\n", []string{"hosts.txt:1", "not an age recipient or ssh public key"}, "ssh-keyscan"},
		{"bad ssh base64", "ssh-ed25519 AAAA!!!\n", []string{"hosts.txt:1", "invalid ssh public key"}, ""},
		{"ssh type without key", "ssh-ed25519\n", []string{"hosts.txt:1"}, ""},
		{"known_hosts CA", "@cert-authority *.example.com " + sshKeyOnly(vectorPub(t, "host1")) + "\n", []string{"hosts.txt:1", "@cert-authority"}, "ssh-keyscan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRecipients([]byte(tc.data), "hosts.txt")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.hint != "" && !strings.Contains(strings.Join(hintsOf(err), "\n"), tc.hint) {
				t.Errorf("hints %q lack %q", hintsOf(err), tc.hint)
			}
		})
	}
}

func TestParseRecipientsEmpty(t *testing.T) {
	rs, err := ParseRecipients([]byte("# nothing yet\n\n"), "empty.txt")
	if err != nil || len(rs) != 0 {
		t.Fatalf("got %v, %v", rs, err)
	}
}

func TestResolveRecipientFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ssh-hosts.txt") // a name that starts like a key type
	if err := os.WriteFile(file, []byte("web2 "+sshKeyOnly(vectorPub(t, "host2"))+"\n"+vectorRecipient(t, "host3")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("# none\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	rs, err := ResolveRecipientFlags("--recipient", []string{
		vectorRecipient(t, "host1"),
		vectorPub(t, "host2"), // same key as in the file: deduplicated
		file,
		"  " + vectorRecipient(t, "host1") + " ",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{vectorRecipient(t, "host1"), vectorRecipient(t, "host2"), vectorRecipient(t, "host3")}
	if strings.Join(ages(rs), ",") != strings.Join(want, ",") {
		t.Fatalf("recipients = %q, want %q", ages(rs), want)
	}
	if rs[1].Source != "--recipient (host2)" || !strings.HasPrefix(rs[2].Source, file+":2") {
		t.Errorf("sources = %q, %q", rs[1].Source, rs[2].Source)
	}

	// `--recipient "$(ssh-keyscan -t ed25519 web4)"`: a host, then its key.
	rs, err = ResolveRecipientFlags("--recipient", []string{"web4 " + sshKeyOnly(vectorPub(t, "host3")) + "\n"})
	if err != nil || len(rs) != 1 || rs[0].Age != vectorRecipient(t, "host3") || rs[0].Source != "--recipient (web4)" {
		t.Errorf("ssh-keyscan output: %+v, %v", rs, err)
	}

	for _, tc := range []struct {
		flag, want string
	}{
		{filepath.Join(dir, "missing.txt"), "not an age1 key, an ssh-ed25519 key, or an existing file"},
		{empty, "no recipients"},
		{vectorPub(t, "rsa1"), "only ssh-ed25519 keys"},
		{"", "empty --recipient"},
		{"age1bogus", "invalid age recipient"},
	} {
		if _, err := ResolveRecipientFlags("--recipient", []string{tc.flag}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("flag %.30q: err = %v, want %q", tc.flag, err, tc.want)
		}
	}
}

// TestRecipientCanonical: an age recipient is taken in the one spelling
// sops and age write (lower case, as the age CLI takes it), checksum
// checked.
func TestRecipientCanonical(t *testing.T) {
	r := stKey(t).Recipient().String()
	if got, err := parseRecipient(r, "test"); err != nil || got.Age != r {
		t.Errorf("%q, %v; want %q", got.Age, err, r)
	}
	// One character changed: bech32's checksum catches every such change.
	other := "q"
	if strings.HasSuffix(r, other) {
		other = "p"
	}
	for _, bad := range []string{strings.ToUpper(r), r[:10] + strings.ToUpper(r[10:]), r[:len(r)-1] + other} {
		if _, err := parseRecipient(bad, "test"); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}
