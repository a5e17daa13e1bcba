package forgetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// Cache is the kind of a binary cache host (AddCache): Attic, Cachix,
// Harmonia or nix-serve behind Basic auth.
const Cache = "cache"

// CacheInfo is the nix-cache-info a fake cache serves: Nix refuses a
// cache whose StoreDir is not its own.
const CacheInfo = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"

// CacheCredential is a Basic credential a fake cache accepts. An empty
// User accepts any login with the password, as token caches do (Attic,
// Cachix); a set one must match, as nix-serve behind a web server's
// password file requires.
type CacheCredential struct {
	User, Password string
}

// AddCache makes host answer as a binary cache that requires one of creds
// for everything, /nix-cache-info included: 401 with WWW-Authenticate:
// Basic without a credential or with a wrong one.
func (s *Server) AddCache(host string, creds ...CacheCredential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	host = strings.ToLower(host)
	s.forges[host] = Cache
	if s.caches == nil {
		s.caches = map[string][]CacheCredential{}
	}
	s.caches[host] = append(s.caches[host], creds...)
}

// cache answers as a binary cache for the API fake (what nix-auth's
// validation asks).
func (s *Server) cache(w http.ResponseWriter, r *http.Request, host string) {
	s.mu.Lock()
	creds := s.caches[host]
	s.mu.Unlock()
	user, password, ok := basicAuth(r)
	serveCache(w, r, host, ok && cacheAccepts(creds, user, password))
}

func cacheAccepts(creds []CacheCredential, user, password string) bool {
	for _, c := range creds {
		if password == c.Password && (c.User == "" || user == c.User) {
			return true
		}
	}
	return false
}

// serveCache answers a cache's requests: nix-cache-info when authorized,
// 401 and a Basic challenge when not, 404 for anything else.
func serveCache(w http.ResponseWriter, r *http.Request, host string, authorized bool) int {
	if !authorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", host))
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return http.StatusUnauthorized
	}
	if !strings.HasSuffix(r.URL.Path, "/nix-cache-info") {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	w.Header().Set("Content-Type", "text/x-nix-cache-info")
	fmt.Fprint(w, CacheInfo)
	return http.StatusOK
}

// basicAuth decodes a Basic Authorization header.
func basicAuth(r *http.Request) (user, password string, ok bool) {
	s, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(s, "basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return user, password, ok
}

// AddCache makes host answer, through the proxy, as a binary cache that
// requires one of creds (see Server.AddCache): for the real nix's
// `nix store ping` and substitution.
func (g *GitServer) AddCache(host string, creds ...CacheCredential) {
	g.mu.Lock()
	defer g.mu.Unlock()
	host = strings.ToLower(host)
	g.forges[host] = Cache
	if g.caches == nil {
		g.caches = map[string][]CacheCredential{}
	}
	g.caches[host] = append(g.caches[host], creds...)
}

// ArchiveFile is the file every archive of the fake holds, and
// ArchiveContent what it says for OWNER/REPO: a Nix expression, so that
// `import (builtins.fetchTarball URL)` evaluates to a string naming the
// repository.
const ArchiveFile = "default.nix"

// ArchiveContent is the content of ArchiveFile for owner/repo.
func ArchiveContent(owner, repo string) string {
	return fmt.Sprintf("%q\n", "private "+owner+"/"+repo)
}

// download answers what Nix's downloader (curl) fetches from the fake:
// a cache host's files, and a Gitea or Forgejo host's archives
// (/OWNER/REPO/archive/REF.tar.gz, as builtins.fetchTarball and tarball
// inputs name them), both behind Basic auth with the forge's rule for a
// token. ok is false for what it does not serve.
func (g *GitServer) download(w http.ResponseWriter, r *http.Request, kind string, req GitRequest) (status int, ok bool) {
	switch kind {
	case Cache:
		g.mu.Lock()
		creds := g.caches[req.Host]
		g.mu.Unlock()
		return serveCache(w, r, req.Host, req.Auth == "basic" && cacheAccepts(creds, req.User, req.Password)), true
	case Gitea, Forgejo:
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if len(parts) != 4 || parts[2] != "archive" || !strings.HasSuffix(parts[3], ".tar.gz") {
			return 0, false
		}
		if req.Auth != "basic" || !g.accepts(kind, req.User, req.Password) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", req.Host))
			http.Error(w, "Authentication required", http.StatusUnauthorized)
			return http.StatusUnauthorized, true
		}
		data, err := archive(parts[1], ArchiveContent(parts[0], parts[1]))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return http.StatusInternalServerError, true
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
		return http.StatusOK, true
	}
	return 0, false
}

// archive is a .tar.gz of one directory holding ArchiveFile, as Gitea
// makes them (the repository's name as the top directory).
func archive(dir, content string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + ArchiveFile, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
