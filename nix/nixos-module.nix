# NixOS module: renders the fleet's token store into an access-tokens file at
# boot and whenever an activation changes its input, and includes that file
# from /etc/nix/nix.conf. Optionally checks the tokens with their forges on a
# timer (check) and, at build time, that the store is encrypted to this host
# (hostPublicKey).
#
# The flake passes its version; imported directly the module works too.
{
  version ? "dev",
}:
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.nix-auth;
  common = import ./common.nix { inherit lib version; };
  inherit (lib) mkOption types;

  runtimeDir = "/run/nix-auth";
  defaultOutput = "${runtimeDir}/access-tokens.conf";
  # The system's netrc, for the nix-daemon's substitution: on tmpfs, in the
  # unit's runtime directory, like the tokens.
  netrcPath = "${runtimeDir}/netrc";
  # /etc/nix/netrc, Nix's default netrc-file, when the configuration
  # provides it. nix.settings cannot depend on environment.etc (users.users
  # reads nix.settings for the build users: infinite recursion), so a
  # warning says it is no longer read.
  etcNetrc = if config.environment.etc ? "nix/netrc" then "/etc/nix/netrc" else null;
  netrcWarning = common.netrcConflictWarning {
    nixCfg = config.nix;
    path = netrcPath;
    inherit etcNetrc;
    opt = "services.nix-auth.netrc";
  };

  # An output under /etc is a symlink (environment.etc) to the file render
  # writes in its runtime directory: /etc may be an immutable overlay
  # (system.etc.overlay) that nothing writes at run time, and the tokens
  # stay on tmpfs either way.
  underEtc = lib.hasPrefix "/etc/" cfg.output;
  rendered = if underEtc then "${runtimeDir}/${baseNameOf cfg.output}" else cfg.output;
  renderedDir = dirOf rendered;
  # Any other directory is made by systemd-tmpfiles and is the only place
  # the unit may write.
  ownDir = renderedDir != runtimeDir;

  exe = lib.getExe cfg.package;

  renderArgs = common.inputArgs cfg ++ [
    "--output"
    rendered
    "--mode"
    cfg.mode
    "--owner"
    cfg.owner
    "--group"
    cfg.group
    "--setting"
    cfg.setting
  ]
  ++ lib.optionals cfg.netrc.enable [
    "--netrc-output"
    netrcPath
  ];

  sshHostKeys = map (k: k.path) (lib.filter (k: k.type == "ed25519") config.services.openssh.hostKeys);

  # identityPaths that nothing on this host creates: openssh host keys
  # while openssh (and with it sshd-keygen) is off, unless environment.etc
  # puts them there.
  fromEtc = p: lib.hasPrefix "/etc/" p && (config.environment.etc.${lib.removePrefix "/etc/" p}.enable or false);
  absentKeys = lib.filter (
    p: !config.services.openssh.enable && lib.elem p (map (k: k.path) config.services.openssh.hostKeys) && !fromEtc p
  ) cfg.identityPaths;

  recipientCheck = common.recipientCheck { inherit pkgs cfg; };

  # The systemd sandbox both units share: read-only system, no devices, no
  # new privileges, no kernel or clock access.
  hardening = {
    ProtectSystem = "strict";
    ProtectHome = "read-only";
    PrivateTmp = true;
    PrivateDevices = true;
    UMask = "0077";
    NoNewPrivileges = true;
    ProtectProc = "invisible";
    ProtectClock = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectControlGroups = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" ];
    SystemCallErrorNumber = "EPERM";
  };
in
{
  imports = [
    (common.optionsModule "system")
    common.systemOptionsModule
  ];

  options.services.nix-auth = {
    enable = lib.mkEnableOption "rendering forge access tokens for Nix with nix-auth";

    identityPaths = mkOption {
      # Strings, not paths: a Nix path would copy the private key into the
      # world-readable store.
      type = types.listOf types.str;
      default = lib.optionals config.services.openssh.enable sshHostKeys;
      defaultText = lib.literalExpression ''
        lib.optionals config.services.openssh.enable
          (map (k: k.path) (lib.filter (k: k.type == "ed25519") config.services.openssh.hostKeys))
      '';
      example = [ "/etc/ssh/ssh_host_ed25519_key" ];
      description = ''
        Private keys that decrypt {option}`services.nix-auth.secretsFile`:
        age identity files or ssh ed25519 keys, converted as ssh-to-age does
        (so a store encrypted to `ssh-to-age` recipients, as for sops-nix,
        works). By default the ed25519 host key of
        {option}`services.openssh`, when it is enabled: only then does
        sshd-keygen create it. A host that gets its key another way names it
        here. Not used with {option}`services.nix-auth.plainFile`.
      '';
    };

    output = mkOption {
      type = types.strMatching "/.+";
      default = defaultOutput;
      description = ''
        The access-tokens file, included from /etc/nix/nix.conf. The default
        is in the unit's runtime directory: on tmpfs, so the plaintext
        tokens never reach a disk. Another directory is created by
        systemd-tmpfiles and is the only place the unit may write. A path
        under /etc becomes a symlink (`environment.etc`) to a file the unit
        renders in /run/nix-auth, which works with an immutable /etc overlay
        (`system.etc.overlay`) and keeps the tokens on tmpfs.
      '';
    };

    group = mkOption {
      type = types.str;
      default = "root";
      example = "wheel";
      description = ''
        Group of {option}`services.nix-auth.output` (name or gid). Nix run by
        a user who cannot read the file ignores it without a word, so with
        the defaults only root's Nix (nixos-rebuild run with sudo, automatic
        upgrades) uses the tokens. To give them to the users who evaluate
        private flakes as themselves, name their group here and keep
        {option}`services.nix-auth.mode` at 0440: those users can read the
        tokens, as they can read anything else their Nix uses.
      '';
    };

    netrc.enable = common.netrcEnableOption {
      default = true;
      text = ''
        Render the store's netrc credentials (binary caches; the netrc half
        of Gitea, Forgejo and Codeberg tokens) to /run/nix-auth/netrc
        (`render --netrc-output`, the same owner and mode as
        {option}`services.nix-auth.output`), and point
        `nix.settings.netrc-file` at it (`mkDefault`). On by default:
        every store nix-auth writes, sops or `.age`, and the files sops-nix
        and agenix decrypt from them may carry netrc credentials, and the
        nix-daemon, which substitutes from caches as root, reads the
        system's netrc-file only. A netrc-file you set yourself is kept
        (with a warning saying what to do). Nix's default netrc-file,
        /etc/nix/netrc, is no longer read once netrc-file names the
        rendered file: the module warns when `environment.etc."nix/netrc"`
        provides it, and one made by hand outside the configuration it
        cannot see; move its entries into the store, or turn this off.
      '';
    };

    check.interval = mkOption {
      type = types.str;
      default = "daily";
      example = "hourly";
      description = ''
        When the health check runs: a systemd calendar event
        (`OnCalendar=`), spread by up to an hour so that a fleet does not
        ask the forges at the same second; a run missed while the host was
        off is made up at boot.
      '';
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = common.assertions cfg;

        warnings =
          lib.optional (cfg.secretsFile != null && cfg.identityPaths == [ ])
            "services.nix-auth.identityPaths is empty (services.openssh, whose ed25519 host key is the default, is disabled): only root's sops default keys (SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt) can decrypt ${toString cfg.secretsFile}; name the host's key in identityPaths."
          ++ map (
            p:
            "services.nix-auth.identityPaths: ${p} is an openssh host key, but services.openssh is disabled, so nothing creates it on this host and rendering will fail unless it is put there another way."
          ) absentKeys
          ++ lib.optional (!config.nix.enable) (
            common.nixDisabledWarning cfg.output (if cfg.netrc.enable then netrcPath else null)
          )
          ++ lib.optional (common.recipientCheckWarning cfg != null) (common.recipientCheckWarning cfg)
          ++ lib.optional (cfg.netrc.enable && config.nix.enable && netrcWarning != null) netrcWarning;

        # !include, not include: a missing file (before the first render, or
        # in the sandbox that checks nix.conf at build time) is skipped, not
        # an error.
        nix.extraOptions = ''
          !include ${cfg.output}
        '';

        # One setting names the one netrc file Nix reads: the rendered one,
        # unless the configuration names its own (see netrcWarning).
        nix.settings.netrc-file = lib.mkIf cfg.netrc.enable (lib.mkDefault netrcPath);

        environment.etc = lib.mkIf underEtc {
          ${lib.removePrefix "/etc/" cfg.output}.source = rendered;
        };

        systemd.tmpfiles.rules = lib.optional ownDir "d ${renderedDir} - - - -";

        # Fails the build, not the activation, when the store is not
        # encrypted to this host.
        system.checks = lib.optional (recipientCheck != null) recipientCheck;
      }

      (lib.mkIf (common.inputSet cfg) {
        systemd.services.nix-auth = {
          description = "Render forge access tokens for Nix";
          wantedBy = [ "multi-user.target" ];
          # access-tokens are read by the Nix client that evaluates and
          # fetches flake inputs (nix build, nixos-rebuild), never by the
          # daemon, which only builds and substitutes. So the tokens are in
          # place before anyone can log in and before automatic upgrades;
          # other units that run Nix should order themselves after this one.
          # The daemon reads the netrc file at each download, not at start:
          # it needs no ordering either.
          before = [
            "systemd-user-sessions.service"
            "nixos-upgrade.service"
          ];
          # Units that do not exist on this host are ignored by After=.
          after =
            lib.optionals (common.decrypted cfg) [
              # sops-nix and agenix decrypt in activation scripts, which run
              # before any unit; with systemd-based activation (sysusers,
              # userborn) they are these units.
              "sops-install-secrets.service"
              "agenix-install-secrets.service"
            ]
            # openssh makes its host keys at first boot.
            ++ lib.optional (cfg.secretsFile != null && config.services.openssh.enable) "sshd-keygen.service";
          restartTriggers = lib.optional (cfg.secretsFile != null) (common.secretsArg cfg);

          serviceConfig = hardening // {
            Type = "oneshot";
            RemainAfterExit = true;
            # systemd's quoting, with % and $ escaped: not a shell's.
            ExecStart = utils.escapeSystemdExecArgs ([ exe "render" ] ++ renderArgs);

            RuntimeDirectory = "nix-auth";
            # Traversable by every user's Nix; the file's own mode decides
            # who reads it.
            RuntimeDirectoryMode = "0755";
            # Kept across restarts and stops: a restart that renders the
            # same tokens must leave the file (and its mtime) alone.
            RuntimeDirectoryPreserve = true;

            # "-": a directory that does not exist (yet) must not keep the
            # unit from starting; render then says what is missing.
            ReadWritePaths = lib.optional ownDir "-${renderedDir}";
            # render reads its input and keys and writes one file. It never
            # needs the network: activation must not, and sops stores whose
            # keys are in KMS, Vault or GnuPG cannot be rendered here (render
            # decrypts age keys only); decrypt those with sops-nix and use
            # plainFile.
            PrivateNetwork = true;
            # AF_UNIX only: user and group names resolve through nscd or
            # systemd-userdb sockets.
            RestrictAddressFamilies = [ "AF_UNIX" ];
            # chown/chmod the output, read keys and inputs owned by others.
            CapabilityBoundingSet = [
              "CAP_CHOWN"
              "CAP_FOWNER"
              "CAP_DAC_OVERRIDE"
              "CAP_DAC_READ_SEARCH"
            ];
          };
        };

        # See common.renderEverySwitch. switch-to-configuration restarts the
        # units listed in this file after activation; at boot (no
        # /run/current-system yet) the unit starts anyway. Not run by
        # dry-activate.
        system.activationScripts.nix-auth = lib.mkIf (common.renderEverySwitch cfg) {
          text = ''
            if [ -e /run/current-system ]; then
              mkdir -p /run/nixos
              echo nix-auth.service >>/run/nixos/activation-restart-list
            fi
          '';
        };

        systemd.services.nix-auth-check = lib.mkIf cfg.check.enable {
          description = "Check the forge tokens rendered for Nix";
          after = [
            "nix-auth.service"
            "network-online.target"
          ];
          wants = [ "network-online.target" ];
          environment = config.networking.proxy.envVars;
          serviceConfig = hardening // {
            Type = "oneshot";
            # One line per host in the journal; the unit fails when one is
            # invalid, expired or expiring.
            ExecStart = utils.escapeSystemdExecArgs ([ exe ] ++ common.checkArgs cfg rendered);
            # Reads the tokens (whatever owner and mode they were given) and
            # asks their forges: nothing else.
            RestrictAddressFamilies = [
              "AF_UNIX"
              "AF_INET"
              "AF_INET6"
            ];
            CapabilityBoundingSet = [ "CAP_DAC_READ_SEARCH" ];
          };
        };

        systemd.timers.nix-auth-check = lib.mkIf cfg.check.enable {
          description = "Check the forge tokens rendered for Nix";
          wantedBy = [ "timers.target" ];
          timerConfig = {
            OnCalendar = cfg.check.interval;
            Persistent = true;
            RandomizedDelaySec = "1h";
          };
        };
      })
    ]
  );
}
