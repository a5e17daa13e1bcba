{
  description = "nix-auth: get forge tokens and put them where Nix reads them, for one machine or a fleet";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # Stamped into `nix-auth version` (cmd.version) by package.nix: the
      # commit, or for a source without one (a tarball, a path) the date of
      # its newest file.
      version = "0.1.0+${self.shortRev or self.dirtyShortRev or self.lastModifiedDate}";
    in
    {
      overlays.default = final: _prev: {
        nix-auth = final.callPackage ./nix/package.nix { inherit version; };
      };

      packages = forAllSystems (pkgs: rec {
        nix-auth = pkgs.callPackage ./nix/package.nix { inherit version; };
        default = nix-auth;
      });

      apps = forAllSystems (
        pkgs:
        let
          nix-auth = {
            type = "app";
            program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.nix-auth;
            meta.description = "Get forge tokens and put them where Nix reads them";
          };
        in
        {
          inherit nix-auth;
          default = nix-auth;
        }
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.go
            pkgs.gopls
            pkgs.sops
            pkgs.age
            pkgs.ssh-to-age # cross-checks crypt's conversion by hand
            pkgs.openssh # ssh-keygen, ssh-keyscan
            pkgs.nix # the real-Nix tests and nix/update-vendor-hash.sh
          ];
        };
      });

      # The modules build the package from the host's own pkgs (any system,
      # overlays, cross-compilation); the flake gives them its version.
      nixosModules.default = import ./nix/nixos-module.nix { inherit version; };
      homeModules.default = import ./nix/hm-module.nix { inherit version; };
      # The output's older name, which many configurations still use.
      homeManagerModules = self.homeModules;
      darwinModules.default = import ./nix/darwin-module.nix { inherit version; };

      checks = forAllSystems (
        pkgs:
        let
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.nix-auth;
        in
        {
          inherit package;
          # The Go test suite, in the sandbox (see doCheck in nix/package.nix),
          # with the pinned sops and age CLIs built by nix/tools.nix.
          tests = package.overrideAttrs (old: {
            doCheck = true;
            preCheck = old.preCheck + ''
              export NIX_AUTH_TOOLS=${pkgs.callPackage ./nix/tools.nix { }}/bin
            '';
          });
        }
        // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          # Needs KVM (the nixos-test system feature) to run in reasonable time.
          nixos = import ./nix/vm-test.nix { inherit self pkgs; };
        }
      );
    };
}
