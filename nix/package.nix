{
  lib,
  buildGoModule,
  openssh,
  git,
  git-crypt,
  version ? "dev",
}:

buildGoModule {
  pname = "nix-auth";
  inherit version;

  # Only what the Go build and its tests read, so that editing the flake or
  # the README does not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions (map (p: ../. + "/${p}") (import ./src-paths.nix));
  };

  # NAR hash of `go mod vendor` over the files above. It changes with go.mod
  # and go.sum, and also when the code imports a package of a required module
  # that nothing imported before (vendor holds packages, not modules): run
  # nix/update-vendor-hash.sh after such changes; it rewrites this line, and
  # `nix/update-vendor-hash.sh --check` tells whether it is stale.
  vendorHash = "sha256-ufkRuvcaSvmB/dTRg5KTYMm3VtDM4j6sd4m2TOP8ors=";

  # A static binary: no libc to load, which takes a third off every start
  # (render runs at each activation); internal/account asks getent for
  # accounts only the name service knows, as a cgo build would find them.
  env.CGO_ENABLED = 0;

  ldflags = [
    "-s"
    "-w"
    "-X github.com/nix-auth/nix-auth/cmd.version=${version}"
  ];

  # The test suite is the flake's `checks.<system>.tests` (this package with
  # doCheck turned on), not part of every install: its interop tests need
  # the pinned sops CLI, whose cloud SDKs take many minutes to compile.
  #
  # The tests can run in the sandbox. The pinned CLIs (tools/go.mod) are
  # built by nix/tools.nix, whose modules stay out of this vendorHash, and
  # the check passes them in NIX_AUTH_TOOLS; without it the interop tests
  # skip. Tests that need a real `nix` or `nix-instantiate` skip when it is
  # not on PATH (they fail instead only when CI=true, which the sandbox does
  # not set): Nix inside the build sandbox has no usable state directory,
  # so Nix is deliberately not a check input; the NixOS VM test covers real
  # Nix.
  doCheck = false;
  # ssh-keygen makes the fleet tests' host keys; git and git-crypt init,
  # commit, lock and unlock the git-crypt store tests' repositories.
  nativeCheckInputs = [
    openssh
    git
    git-crypt
  ];
  preCheck = ''
    export HOME=$TMPDIR
  '';
  # Tests are run per package with go test's default 10 minute limit, which a
  # slow builder can reach in the crypt interop tests.
  checkFlags = [ "-timeout=30m" ];

  meta = {
    description = "Get forge tokens (GitHub, GitLab, Gitea, Forgejo, SourceHut) and put them where Nix reads them";
    homepage = "https://github.com/nix-auth/nix-auth";
    mainProgram = "nix-auth";
  };
}
