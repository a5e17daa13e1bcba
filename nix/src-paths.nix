# The files buildGoModule sees, relative to the repository root. One list for
# nix/package.nix (the source fileset) and nix/update-vendor-hash.sh (which
# must run `go mod vendor` over exactly these files, or vendorHash would not
# match): add a directory here when it gets Go code or test fixtures that the
# package or its tests need. bench/ stays out: its programs are not part of
# the package (buildGoModule would install them) and it measures, not tests.
[
  "go.mod"
  "go.sum"
  "main.go"
  "cmd"
  "crypt"
  "internal"
  "nixconf"
  "providers"
  "render"
  # Fixtures of the Go tests (crypt reads ../testdata/crypt); testdata/vm is
  # here too, which costs nothing and keeps the list to whole directories.
  "testdata"
]
