package nixconf

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// curlBinary finds the curl CLI, which links the same libcurl as Debian's
// nix. In CI a missing curl fails: the proof that the lookup is curl's
// must not be skipped silently.
func curlBinary(t *testing.T) string {
	t.Helper()
	return requireBinary(t, "curl", ".ci/run installs it")
}

// authServer records the Authorization header of each request, by path.
type authServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]string
}

func newAuthServer(t *testing.T) *authServer {
	s := &authServer{seen: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen[r.URL.Path] = r.Header.Get("Authorization")
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// curlResult is what the real curl did for one host.
type curlSent struct {
	cred         NetrcCredential
	sent, failed bool
}

// curlSends runs the real curl with netrc data for each host (plain HTTP
// here: the lookup is the same as for https) and returns what it sent to
// each: the decoded Basic credential, or nothing, or a failure on the file
// (".netrc parser error", exit code 26).
func curlSends(t *testing.T, curl string, srv *authServer, dir string, n int, data []byte, hosts []string) []curlSent {
	f := filepath.Join(dir, fmt.Sprintf("netrc-%d", n))
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Error(err)
		return nil
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	args := []string{"-s", "--netrc-optional", "--netrc-file", f, "-w", "%{exitcode}\\n"}
	var paths []string
	for _, h := range hosts {
		p := fmt.Sprintf("/%d/%s", n, h)
		paths = append(paths, p)
		args = append(args, "--resolve", h+":"+port+":127.0.0.1", "-o", "/dev/null", "http://"+h+":"+port+p)
	}
	cmd := exec.Command(curl, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, _ := cmd.Output()
	codes := strings.Fields(string(out))
	if len(codes) != len(hosts) {
		t.Errorf("curl printed %q for %d URLs", out, len(hosts))
		return nil
	}
	res := make([]curlSent, len(hosts))
	for i, p := range paths {
		switch codes[i] {
		case "26":
			res[i].failed = true
			continue
		case "0":
		default:
			t.Errorf("curl exit code %s", codes[i])
			continue
		}
		srv.mu.Lock()
		auth, ok := srv.seen[p]
		srv.mu.Unlock()
		if !ok {
			t.Errorf("curl sent no request for %s", p)
			continue
		}
		if auth == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		if err != nil {
			t.Errorf("curl sent %q", auth)
			continue
		}
		login, password, _ := strings.Cut(string(raw), ":")
		res[i] = curlSent{cred: NetrcCredential{Login: login, Password: password}, sent: true}
	}
	return res
}

// netrcCurlCases are files whose reading depends on curl's quirks.
var netrcCurlCases = []string{
	"machine a.test login u password p\n",
	"machine a.test password p\n",
	"machine a.test login u password p",
	"MACHINE A.TEST LOGIN u PASSWORD p\n",
	"default login d password D\nmachine a.test login u password p\n",
	"machine a.test password p\ndefault login d password D\n",
	"machine a.test password p\nmachine a.test login x password y\n",
	"machine a.test login u\nmachine b.test login x password y\n",
	"machine a.test login u password p password q\n",
	"machine a.test password p password q\n",
	"machine a.test login \"u s\" password \"a\\\"b\\tc\"\n",
	"machine b.test login \"u\nmachine a.test login u password p\n",
	"machine a.test login u password p\nmachine b.test login \"u\n",
	"macdef init\ncd /pub\nmachine a.test login m password M\n\nmachine a.test login u password p\n",
	"macdef init\r\nmachine a.test login m password M\n\nmachine a.test login u password p\n",
	"machine a.test login u #c password p\n",
	"machine a.test login u password #p\n",
	"machine a.test login u password a#p\n",
	"# comment\n  # indented comment\nmachine a.test login u password p # trailing\n",
	"machine a.test\r\nlogin u\r\npassword p\r\n",
	"machine a.test login\r\nu password p\n",
	"machine b.test login machine password a.test login u password p\n",
	"machine a.test account x login u password p\n",
	"machine a.test account login u password p\n",
	"machine \"a.test\" login \"u\"x password p\n",
	"machine a.test login u password " + strings.Repeat("x", 4090) + "\nmachine a.test login v password q\n",
	"machine a.test login u password " + strings.Repeat("x", 4070) + "\n",
	"default login d\nmachine a.test password p\n",
	"default\nmachine a.test login u password p\n",
	"machine a.test login u\n\nmacdef m\nbody\n\npassword p\n",
	"machine a.test macdef m\nlogin x password y\n\nlogin u password p\n",
	"machine\ta.test\tlogin\tu\tpassword\tp\n",
	"machine a.test login u password p\vmachine b.test\n",
	"\"machine\" a.test \"login\" u \"password\" p\n",
	"machine a.test login u password \"p\\\"\n",
	"",
	"\n\n\n",
}

func TestNetrcLookupIsCurls(t *testing.T) {
	curl := curlBinary(t)
	srv := newAuthServer(t)
	dir := t.TempDir()
	files := append([]string(nil), netrcCurlCases...)
	// Random files from the pieces curl gives a meaning to.
	pieces := []string{"machine", "default", "login", "password", "account", "macdef", "MACHINE",
		"a.test", "b.test", "A.Test", "u", "p", "\"q u\"", "\"", "\"\\\"\"", "#c", "\r", "\n", "\n\n", " ", "\t", "x"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		var b strings.Builder
		for range 4 + rng.IntN(24) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
			if rng.IntN(3) > 0 {
				b.WriteByte(" \n\t"[rng.IntN(3)])
			}
		}
		files = append(files, b.String())
	}
	hosts := []string{"a.test", "b.test", "c.test"}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for n, data := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sent := curlSends(t, curl, srv, dir, n, []byte(data), hosts)
			for i, want := range sent {
				got, ok, err := NetrcLookup([]byte(data), "netrc", hosts[i])
				switch {
				case want.failed != (err != nil):
					t.Errorf("%q for %s: curl failed=%v, NetrcLookup error %v", data, hosts[i], want.failed, err)
				case ok != want.sent || got != want.cred:
					t.Errorf("%q for %s: curl sent %v %+v, NetrcLookup says %v %+v", data, hosts[i], want.sent, want.cred, ok, got)
				}
			}
		}()
	}
	wg.Wait()
}
