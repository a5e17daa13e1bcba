# Every mode of the modules in nix/, evaluated against the pinned sources of
# the offline kit (/opt/nixeval) by nix/eval_test.go: one nix-instantiate
# per group, one JSON document per group, so that the scenarios share one
# evaluation of nixpkgs. Each scenario is summed up as the data the test
# asserts on; every system that should build is instantiated to a .drv.
{
  nixpkgs,
  home-manager,
  sops-nix,
  agenix,
  nix-darwin,
  group,
}:

let
  lib = import (nixpkgs + "/lib");
  version = "eval-test";
  vm = ../../testdata/vm;
  ageStore = ./tokens.age;
  hostPub = lib.removeSuffix "\n" (builtins.readFile (vm + "/ssh_host_ed25519_key.pub"));
  hostAge = "age1mvrs473euxsjwu3h0d038fux7le84q0clhnpck0q8vgpvqpkhq4sw344ac";

  # The derivation a store path string comes from.
  drvOf = s: lib.head (builtins.attrNames (builtins.getContext (lib.head (lib.toList s))));
  failed = c: map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
  # A drvPath, or null when evaluating it throws (a failed assertion).
  drvOrNull =
    d:
    let
      r = builtins.tryEval d.drvPath;
    in
    if r.success then r.value else null;

  # --- NixOS ---------------------------------------------------------------

  # One package set for every NixOS scenario: nixpkgs is evaluated once.
  pkgs = import nixpkgs { system = "x86_64-linux"; };

  nixos =
    modules:
    import (nixpkgs + "/nixos/lib/eval-config.nix") {
      system = null;
      modules = [
        (import ../nixos-module.nix { inherit version; })
        {
          nixpkgs.pkgs = lib.mkDefault pkgs;
          boot.loader.grub.enable = false;
          fileSystems."/" = {
            device = "/dev/vda";
            fsType = "ext4";
          };
          system.stateVersion = "26.05";
          services.nix-auth.enable = true;
        }
      ]
      ++ modules;
    };

  nixosSummary =
    sys:
    let
      c = sys.config;
      units = c.systemd.units;
      unitText = name: if units ? ${name} then units.${name}.text else null;
      checks = lib.filter (d: lib.hasPrefix "nix-auth" d.name) c.system.checks;
    in
    {
      assertions = failed c;
      warnings = c.warnings;
      toplevel = drvOrNull c.system.build.toplevel;
      hasUnit = c.systemd.services ? nix-auth;
      unit = unitText "nix-auth.service";
      checkUnit = unitText "nix-auth-check.service";
      checkTimer = unitText "nix-auth-check.timer";
      extraOptions = c.nix.extraOptions;
      activation = c.system.activationScripts.nix-auth.text or null;
      tmpfiles = lib.filter (lib.hasInfix "nix-auth") c.systemd.tmpfiles.rules;
      package = c.services.nix-auth.package.drvPath;
      packageSystem = c.services.nix-auth.package.stdenv.hostPlatform.system;
      identityPaths = c.services.nix-auth.identityPaths;
      recipientChecks = map (d: {
        drv = d.drvPath;
        inherit (d) store key;
        command = d.buildCommand;
        toolSystem = (lib.head d.nativeBuildInputs).stdenv.hostPlatform.system;
      }) checks;
      etcTokens = c.environment.etc."nix/access-tokens.conf".source or null;
      netrcFile = if c.nix.enable then c.nix.settings.netrc-file or null else null;
    };

  sopsStore = {
    services.openssh.enable = true;
    services.nix-auth.secretsFile = vm + "/tokens.yaml";
  };

  nixosScenarios = lib.mapAttrs (_: modules: nixosSummary (nixos modules)) {
    # A sops store, decrypted with the default key: the openssh host key.
    sops = [ sopsStore ];

    # An .age store; openssh off, so no default key: a warning, and the
    # key named by hand.
    age = [ { services.nix-auth.secretsFile = ageStore; } ];
    age-with-key = [
      {
        services.nix-auth.secretsFile = ageStore;
        services.nix-auth.identityPaths = [ "/var/lib/keys/host.agekey" ];
      }
    ];

    # plainFile decrypted by sops-nix, and by agenix.
    sops-nix = [
      (sops-nix + "/modules/sops")
      (
        { config, ... }:
        {
          sops.age.sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
          sops.secrets.nix-tokens.sopsFile = vm + "/tokens.yaml";
          sops.secrets.nix-tokens.format = "yaml";
          sops.secrets.nix-tokens.key = "";
          services.nix-auth.plainFile = config.sops.secrets.nix-tokens.path;
        }
      )
    ];
    agenix = [
      (agenix + "/modules/age.nix")
      (
        { config, ... }:
        {
          age.identityPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
          age.secrets.nix-tokens.file = ageStore;
          services.nix-auth.plainFile = config.age.secrets.nix-tokens.path;
        }
      )
    ];

    # The health check: timer and unit.
    check = [
      sopsStore
      {
        services.nix-auth.check = {
          enable = true;
          interval = "hourly";
          warnExpiring = "72h";
        };
        networking.proxy.default = "http://proxy.example:3128";
      }
    ];

    # hostPublicKey: a check in system.checks, for a sops and an .age store.
    hostkey-sops = [
      sopsStore
      { services.nix-auth.hostPublicKey = hostPub; }
    ];
    hostkey-age = [
      {
        services.nix-auth.secretsFile = ageStore;
        services.nix-auth.identityPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
        services.nix-auth.hostPublicKey = hostPub;
      }
    ];
    # ... with nothing to check: a warning.
    hostkey-plain = [
      {
        services.nix-auth.plainFile = "/run/secrets/nix-tokens";
        services.nix-auth.hostPublicKey = hostAge;
      }
    ];

    # Cross-compiled host: the package is built for it, the check's tool
    # for the build machine.
    cross = [
      sopsStore
      {
        nixpkgs.pkgs = import nixpkgs {
          localSystem = "x86_64-linux";
          crossSystem = "aarch64-linux";
        };
        services.nix-auth.hostPublicKey = hostPub;
      }
    ];

    # An output under /etc on an immutable /etc overlay, in another
    # directory, and the warnings.
    etc-overlay = [
      sopsStore
      {
        services.nix-auth.output = "/etc/nix/access-tokens.conf";
        boot.initrd.systemd.enable = true;
        system.etc.overlay.enable = true;
        system.etc.overlay.mutable = false;
        services.userborn.enable = true;
        users.mutableUsers = false;
        users.allowNoPasswordLogin = true;
      }
    ];
    own-dir = [
      sopsStore
      { services.nix-auth.output = "/var/lib/nix-auth/tokens.conf"; }
    ];
    warnings = [
      {
        nix.enable = false;
        services.nix-auth.secretsFile = "/etc/nix-auth/tokens.yaml";
        services.nix-auth.identityPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
      }
    ];

    # netrc: a netrc-file of the user's own, in nix.settings or in
    # nix.extraOptions, is kept with a warning; an environment.etc netrc
    # is shadowed, with a warning; netrc off.
    netrc-own = [
      sopsStore
      { nix.settings.netrc-file = "/etc/nix/my-netrc"; }
    ];
    netrc-extra = [
      sopsStore
      { nix.extraOptions = "netrc-file = /var/lib/netrc\n"; }
    ];
    netrc-etc = [
      sopsStore
      { environment.etc."nix/netrc".text = "machine cache.example.com login me password x\n"; }
    ];
    netrc-off = [
      sopsStore
      { services.nix-auth.netrc.enable = false; }
    ];

    # Neither input: the assertion speaks, nothing else is evaluated.
    neither = [ ];

    # Token files, one secret each, from the real sops-nix and agenix
    # modules: no secretsFile.
    tokenfiles = [
      (sops-nix + "/modules/sops")
      (agenix + "/modules/age.nix")
      (
        { config, ... }:
        {
          sops.age.sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
          sops.secrets."github/oauth_token" = {
            sopsFile = vm + "/tokens.yaml";
            format = "yaml";
            key = "hosts/github.com/token";
          };
          age.identityPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
          age.secrets.gitlab-token.file = ageStore;
          services.nix-auth.tokenFiles = {
            "github.com" = config.sops.secrets."github/oauth_token".path;
            "gitlab.com" = config.age.secrets.gitlab-token.path;
          };
          services.nix-auth.check.enable = true;
        }
      )
    ];
    # ... beside a store in the flake, and with a decrypted plainFile.
    tokenfiles-store = [
      sopsStore
      { services.nix-auth.tokenFiles."codeberg.org" = /run/agenix/codeberg; }
    ];
    tokenfiles-plain = [
      {
        services.nix-auth.plainFile = "/run/secrets/nix-tokens";
        services.nix-auth.tokenFiles."git.example.com:8443/org" = "/run/secrets/example";
      }
    ];
    # Hosts Nix's config syntax would break, and a token file in the Nix
    # store: assertions.
    tokenfiles-bad = [
      {
        services.nix-auth.tokenFiles = {
          "bad host" = "/run/secrets/a";
          "github.com=x" = "/run/secrets/b";
          "github.com/../x" = "/run/secrets/c";
          "gitlab.com" = "${./tokens.age}";
        };
      }
    ];
  };

  # --- home-manager ----------------------------------------------------------

  hm =
    hmPkgs: modules:
    import (home-manager + "/modules") {
      pkgs = hmPkgs;
      configuration = {
        imports = [ (import ../hm-module.nix { inherit version; }) ] ++ modules;
        home.username = "alice";
        home.homeDirectory = if hmPkgs.stdenv.hostPlatform.isDarwin then "/Users/alice" else "/home/alice";
        home.stateVersion = "26.05";
        services.nix-auth.enable = true;
      };
    };

  hmSummary =
    h:
    let
      c = h.config;
      svc = c.systemd.user.services;
    in
    {
      assertions = failed c;
      warnings = c.warnings;
      unit = svc.nix-auth or null;
      unitFile = c.xdg.configFile."systemd/user/nix-auth.service".source or null;
      checkUnit = svc.nix-auth-check or null;
      checkTimer = c.systemd.user.timers.nix-auth-check or null;
      activation = c.home.activation.nix-auth.data or null;
      activationAfter = c.home.activation.nix-auth.after or null;
      extraOptions = c.nix.extraOptions;
      output = c.services.nix-auth.output;
      # The scripts' derivations, whose text the test reads from the .drv.
      renderScript = if svc ? nix-auth then drvOf svc.nix-auth.Service.ExecStart else null;
      checkScript = if svc ? nix-auth-check then drvOf svc.nix-auth-check.Service.ExecStart else null;
      agent = c.launchd.agents.nix-auth.config or null;
      agentScript = if c.launchd.agents ? nix-auth then drvOf c.launchd.agents.nix-auth.config.ProgramArguments else null;
      checkAgent = c.launchd.agents.nix-auth-check.config or null;
      refreshUnit = svc.nix-auth-refresh or null;
      refreshTimer = c.systemd.user.timers.nix-auth-refresh or null;
      refreshAgent = c.launchd.agents.nix-auth-refresh.config or null;
      activationPackage = drvOrNull h.activationPackage;
      netrcFile = c.nix.settings.netrc-file or null;
    };

  darwinPkgs = import nixpkgs { system = "aarch64-darwin"; };

  hmScenarios = {
    # A store in the flake, rendered by the user unit under
    # $XDG_RUNTIME_DIR.
    secrets = hmSummary (hm pkgs [ { services.nix-auth.secretsFile = vm + "/tokens.yaml"; } ]);

    # plainFile from sops-nix's home-manager module: ordered after its
    # unit, restarted with it, rendered on every switch; with the check.
    sops-nix = hmSummary (
      hm pkgs [
        (sops-nix + "/modules/home-manager/sops.nix")
        (
          { config, ... }:
          {
            sops.age.keyFile = "/home/alice/.config/sops/age/keys.txt";
            sops.secrets.nix-tokens.sopsFile = vm + "/tokens.yaml";
            sops.secrets.nix-tokens.format = "yaml";
            sops.secrets.nix-tokens.key = "";
            services.nix-auth.plainFile = config.sops.secrets.nix-tokens.path;
            services.nix-auth.check.enable = true;
          }
        )
      ]
    );

    # plainFile from agenix's home-manager module: a path for the shell
    # to expand.
    agenix = hmSummary (
      hm pkgs [
        (agenix + "/modules/age-home.nix")
        (
          { config, ... }:
          {
            age.identityPaths = [ "/home/alice/.ssh/id_ed25519" ];
            age.secrets.nix-tokens.file = ageStore;
            services.nix-auth.plainFile = config.age.secrets.nix-tokens.path;
            services.nix-auth.netrc.enable = true;
          }
        )
      ]
    );

    # netrc with a netrc-file of the user's own: kept, with a warning.
    netrc-own = hmSummary (
      hm pkgs [
        {
          services.nix-auth.secretsFile = vm + "/tokens.yaml";
          services.nix-auth.netrc.enable = true;
          nix.settings.netrc-file = "/home/alice/.netrc";
        }
      ]
    );

    # The refresh timer alone, for the tokens login saves: no rendering;
    # home-manager writes nix.conf, which includes login's file.
    refresh = hmSummary (
      hm pkgs [
        {
          services.nix-auth.enable = lib.mkForce false;
          services.nix-auth.refresh.enable = true;
          nix.package = pkgs.nix;
        }
      ]
    );

    # tokenFiles from the home-manager modules of sops-nix and agenix: no
    # store, agenix's path for the shell to expand.
    tokenfiles = hmSummary (
      hm pkgs [
        (sops-nix + "/modules/home-manager/sops.nix")
        (agenix + "/modules/age-home.nix")
        (
          { config, ... }:
          {
            sops.age.keyFile = "/home/alice/.config/sops/age/keys.txt";
            sops.secrets."github/oauth_token" = {
              sopsFile = vm + "/tokens.yaml";
              format = "yaml";
              key = "hosts/github.com/token";
            };
            age.identityPaths = [ "/home/alice/.ssh/id_ed25519" ];
            age.secrets.gitlab-token.file = ageStore;
            services.nix-auth.tokenFiles = {
              "github.com" = config.sops.secrets."github/oauth_token".path;
              "gitlab.com" = config.age.secrets.gitlab-token.path;
            };
          }
        )
      ]
    );

    # macOS: a launchd agent instead of the user unit. Its configuration is
    # evaluated; instantiating a darwin home needs nothing the kit lacks
    # but is left to the darwin scenario's cost budget.
    darwin = removeAttrs (hmSummary (
      hm darwinPkgs [
        {
          services.nix-auth.secretsFile = vm + "/tokens.yaml";
          services.nix-auth.check.enable = true;
          services.nix-auth.netrc.enable = true;
          services.nix-auth.refresh.enable = true;
        }
      ]
    )) [ "activationPackage" ];
  };

  # --- nix-darwin ------------------------------------------------------------

  darwin =
    modules:
    import (nix-darwin + "/eval-config.nix") {
      inherit lib;
      modules = [
        (import ../darwin-module.nix { inherit version; })
        {
          nixpkgs.pkgs = darwinPkgs;
          nixpkgs.source = nixpkgs;
          system.stateVersion = 6;
          system.primaryUser = "alice";
          services.nix-auth.enable = true;
        }
      ]
      ++ modules;
    };

  darwinSummary =
    sys:
    let
      c = sys.config;
      daemons = c.launchd.daemons;
    in
    {
      assertions = failed c;
      warnings = c.warnings;
      daemon = daemons.nix-auth.serviceConfig or null;
      checkDaemon = daemons.nix-auth-check.serviceConfig or null;
      plist = c.environment.launchDaemons."org.nixos.nix-auth.plist".text or null;
      # Only readable with nix.enable: nix-darwin throws otherwise.
      extraOptions = if c.nix.enable then c.nix.extraOptions else null;
      activation = c.system.activationScripts.postActivation.text;
      recipientCheck = (c.system.systemBuilderArgs.nixAuthRecipientCheck or { name = null; }).name;
      # nix-darwin's toplevel needs Haskell's shellcheck, which the kit
      # lacks: nix.conf and the daemons' plists are instantiated instead.
      nixConfDrv = if c.nix.enable then drvOrNull c.environment.etc."nix/nix.conf".source else null;
      launchdDrv = drvOrNull c.system.build.launchd;
      netrcFile = if c.nix.enable then c.nix.settings.netrc-file or null else null;
    };

  darwinScenarios = lib.mapAttrs (_: modules: darwinSummary (darwin modules)) {
    secrets = [
      {
        services.nix-auth.secretsFile = vm + "/tokens.yaml";
        services.nix-auth.hostPublicKey = hostPub;
        services.nix-auth.check.enable = true;
      }
    ];
    plain = [ { services.nix-auth.plainFile = "/run/agenix/nix-tokens"; } ];
    netrc-own = [
      {
        services.nix-auth.plainFile = "/run/agenix/nix-tokens";
        nix.settings.netrc-file = "/etc/nix/my-netrc";
      }
    ];
    netrc-off = [
      {
        services.nix-auth.plainFile = "/run/agenix/nix-tokens";
        services.nix-auth.netrc.enable = false;
      }
    ];
    tokenfiles = [ { services.nix-auth.tokenFiles."github.com" = "/run/agenix/github-token"; } ];
    nix-disabled = [
      {
        nix.enable = false;
        services.nix-auth.plainFile = "/run/agenix/nix-tokens";
      }
    ];
  };

  # The flake's VM test (checks.x86_64-linux.nixos), instantiated: its two
  # machines with the module, and the test driver.
  vmTest.drv = drvOrNull (
    import ../vm-test.nix {
      self.nixosModules.default = import ../nixos-module.nix { inherit version; };
      inherit pkgs;
    }
  );
in
{
  nixos = nixosScenarios // {
    vm-test = vmTest;
  };
  others = {
    hm = hmScenarios;
    darwin = darwinScenarios;
  };
}
.${group}
