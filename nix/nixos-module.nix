# NixOS module: renders the fleet's token store into an access-tokens file at
# boot and whenever an activation changes its input, and includes that file
# from /etc/nix/nix.conf.
{ self }:
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.nix-auth;
  inherit (lib) mkOption types;

  defaultOutputDir = "/run/nix-auth";
  outputDir = dirOf cfg.output;

  # Interpolating a Nix path copies the (encrypted) file to the store under a
  # name that depends on its content, so ExecStart, and with it the unit,
  # changes exactly when the store changes: switch-to-configuration then
  # restarts the unit. A string path is read at run time instead.
  secretsArg = "${cfg.secretsFile}";

  input =
    if cfg.plainFile != null then
      [
        "--plain"
        cfg.plainFile
      ]
    else
      [ secretsArg ] ++ lib.concatMap (p: [ "--identity" p ]) cfg.identityPaths;

  renderArgs = input ++ [
    "--output"
    cfg.output
    "--mode"
    cfg.mode
    "--owner"
    cfg.owner
    "--group"
    cfg.group
    "--setting"
    cfg.setting
  ];

  # A file that sops-nix or agenix decrypts keeps its path when its content
  # changes, and so does a secretsFile given as a string: nothing in the unit
  # changes, so every switch asks for a restart instead (render writes
  # nothing when the result is unchanged).
  restartEverySwitch = cfg.plainFile != null || !builtins.isPath cfg.secretsFile;
in
{
  options.services.nix-auth = {
    enable = lib.mkEnableOption "rendering forge access tokens for Nix with nix-auth";

    package = mkOption {
      type = types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "nix-auth.packages.\${pkgs.stdenv.hostPlatform.system}.default";
      description = "The nix-auth package.";
    };

    secretsFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = lib.literalExpression "./secrets/tokens.yaml";
      description = ''
        Encrypted token store written by `nix-auth login --encrypt-to` (a
        sops `.yaml`/`.json` file or an `.age` file), usually kept in the
        flake repository. Given as a Nix path it is copied to the Nix store,
        still encrypted (world-readable there, like every store path, which
        is what the encryption is for), and the unit re-renders whenever its
        content changes. It is decrypted on the host with
        {option}`services.nix-auth.identityPaths`.
      '';
    };

    plainFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = lib.literalExpression ''config.sops.secrets."nix-access-tokens".path'';
      description = ''
        Path of a file that sops-nix or agenix already decrypted on this host:
        the sops tree of a store written by nix-auth, or an
        `access-tokens = ...` line. Use it instead of
        {option}`services.nix-auth.secretsFile` to keep your own sops-nix or
        agenix setup; the unit runs after theirs and again on every switch.
      '';
    };

    identityPaths = mkOption {
      # Strings, not paths: a Nix path would copy the private key into the
      # world-readable store.
      type = types.listOf types.str;
      default = map (k: k.path) (
        lib.filter (k: k.type == "ed25519") config.services.openssh.hostKeys
      );
      defaultText = lib.literalExpression ''
        map (k: k.path) (lib.filter (k: k.type == "ed25519") config.services.openssh.hostKeys)
      '';
      example = [ "/etc/ssh/ssh_host_ed25519_key" ];
      description = ''
        Private keys that decrypt {option}`services.nix-auth.secretsFile`:
        age identity files or ssh ed25519 keys, converted as ssh-to-age does
        (so a store encrypted to `ssh-to-age` recipients, as for sops-nix,
        works). Not used with {option}`services.nix-auth.plainFile`.
      '';
    };

    output = mkOption {
      type = types.strMatching "/.+";
      default = "${defaultOutputDir}/access-tokens.conf";
      description = ''
        The access-tokens file, included from /etc/nix/nix.conf. The default
        directory is the unit's runtime directory: on tmpfs, so the plaintext
        tokens never reach a disk. Another directory is created by
        systemd-tmpfiles and is the only place the unit may write.
      '';
    };

    owner = mkOption {
      type = types.str;
      default = "root";
      description = "Owner of {option}`services.nix-auth.output` (name or uid).";
    };

    group = mkOption {
      type = types.str;
      default = "root";
      example = "wheel";
      description = ''
        Group of {option}`services.nix-auth.output` (name or gid). Nix run by
        a user who cannot read the file ignores it without a word, so with
        the defaults only root's Nix (nixos-rebuild run with sudo, the
        daemon) uses the tokens. To give them to the users who evaluate
        private flakes as themselves, name their group here and keep
        {option}`services.nix-auth.mode` at 0440: those users can read the
        tokens, as they can read anything else their Nix uses.
      '';
    };

    mode = mkOption {
      type = types.strMatching "0?[0-7]{3}";
      default = "0440";
      description = "Mode of {option}`services.nix-auth.output`, in octal.";
    };

    setting = mkOption {
      type = types.enum [
        "access-tokens"
        "extra-access-tokens"
      ];
      default = "extra-access-tokens";
      description = ''
        The setting written to {option}`services.nix-auth.output`. The
        include comes last in /etc/nix/nix.conf (from `nix.extraOptions`), so
        an `access-tokens =` line there would replace every token the
        configuration sets in `nix.settings.access-tokens`; the default
        `extra-access-tokens` adds to them instead (where both name the same
        host, the earlier `nix.settings` entry wins). Users' own nix.conf
        files come later and are not affected either way.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.secretsFile == null) != (cfg.plainFile == null);
        message = "services.nix-auth: set exactly one of secretsFile and plainFile.";
      }
    ];

    warnings =
      lib.optional (cfg.secretsFile != null && cfg.identityPaths == [ ])
        "services.nix-auth.identityPaths is empty (no ed25519 host key in services.openssh.hostKeys): nothing can decrypt ${toString cfg.secretsFile}.";

    # !include, not include: a missing file (before the first render, or in
    # the sandbox that checks nix.conf at build time) is skipped, not an error.
    nix.extraOptions = ''
      !include ${cfg.output}
    '';

    systemd.tmpfiles.rules = lib.optional (outputDir != defaultOutputDir) "d ${outputDir} - - - -";

    systemd.services.nix-auth = {
      description = "Render forge access tokens for Nix";
      # nix-daemon.service as well as multi-user.target: socket activation can
      # start the daemon before multi-user.target is reached, and Before= only
      # orders jobs that are both queued.
      wantedBy = [
        "multi-user.target"
        "nix-daemon.service"
      ];
      before = [ "nix-daemon.service" ];
      # Units that do not exist on this host are ignored by After=.
      after =
        lib.optionals (cfg.plainFile != null) [
          # sops-nix and agenix decrypt in activation scripts, which run
          # before any unit; with systemd-based activation (sysusers,
          # userborn) they are these units.
          "sops-install-secrets.service"
          "agenix-install-secrets.service"
        ]
        # Hosts whose ssh host keys are made at first boot.
        ++ lib.optional (cfg.secretsFile != null) "sshd-keygen.service";
      restartTriggers = lib.optional (cfg.secretsFile != null) secretsArg;

      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        # systemd's quoting, with % and $ escaped: not a shell's.
        ExecStart = utils.escapeSystemdExecArgs ([ (lib.getExe cfg.package) "render" ] ++ renderArgs);

        RuntimeDirectory = "nix-auth";
        # Traversable by every user's Nix; the file's own mode decides who
        # reads it.
        RuntimeDirectoryMode = "0755";
        # Kept across restarts and stops: a restart that renders the same
        # tokens must leave the file (and its mtime) alone.
        RuntimeDirectoryPreserve = true;
        UMask = "0077";

        # render reads its input and keys and writes one file; it never needs
        # the network (activation must not) nor more than these capabilities:
        # chown/chmod the output, read keys and inputs owned by other users.
        ProtectSystem = "strict";
        ReadWritePaths = lib.optional (outputDir != defaultOutputDir) outputDir;
        ProtectHome = "read-only";
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateNetwork = true;
        # AF_UNIX only: user and group names resolve through nscd or
        # systemd-userdb sockets.
        RestrictAddressFamilies = [ "AF_UNIX" ];
        CapabilityBoundingSet = [
          "CAP_CHOWN"
          "CAP_FOWNER"
          "CAP_DAC_OVERRIDE"
          "CAP_DAC_READ_SEARCH"
        ];
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
    };

    # See restartEverySwitch. switch-to-configuration restarts the units
    # listed in this file after activation; at boot (no /run/current-system
    # yet) the unit starts anyway. Not run by dry-activate.
    system.activationScripts.nix-auth = lib.mkIf restartEverySwitch {
      text = ''
        if [ -e /run/current-system ]; then
          mkdir -p /run/nixos
          echo nix-auth.service >>/run/nixos/activation-restart-list
        fi
      '';
    };
  };
}
