# The CLIs the interop tests run (sops, age, age-keygen,
# age-plugin-batchpass at the versions tools/go.mod pins), built apart from
# the package so that their dependencies stay out of its vendorHash. Only
# the flake's test check uses them, through NIX_AUTH_TOOLS (see
# internal/tooltest): the sandbox cannot fetch their modules itself.
{ lib, buildGoModule }:

buildGoModule {
  pname = "nix-auth-test-tools";
  version = "pinned";

  src = lib.fileset.toSource {
    root = ../tools;
    fileset = lib.fileset.unions [
      ../tools/go.mod
      ../tools/go.sum
    ];
  };

  # NAR hash of `go mod vendor` in tools/ (which vendors what the tool lines
  # need); nix/update-vendor-hash.sh rewrites this line with the package's.
  vendorHash = "sha256-pmfaGE3f4gccGyjrlec+Lqb8ehA1fk4udKBIqHq8FKg=";

  # tools/go.mod has no packages of its own, only tool lines; buildGoModule's
  # install phase copies what this puts in $GOPATH/bin.
  buildPhase = ''
    runHook preBuild
    go install tool
    runHook postBuild
  '';
  doCheck = false;
}
