# nix-darwin module: the NixOS module's counterpart for macOS. A launchd
# daemon renders the token store into an access-tokens file at boot and on
# every activation that changes its input, and /etc/nix/nix.conf includes
# it. The same options as on NixOS; check.interval takes launchd's calendar
# intervals, as nix.gc.interval does.
{
  version ? "dev",
}:
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.nix-auth;
  common = import ./common.nix { inherit lib version; };
  inherit (lib) mkOption types;

  exe = lib.getExe cfg.package;
  label = config.launchd.daemons.nix-auth.serviceConfig.Label;

  # The system's netrc, for the nix-daemon's substitution, beside the
  # default output.
  netrcPath = "/var/run/nix-auth/netrc";
  netrcWarning = common.netrcConflictWarning {
    nixCfg = config.nix;
    path = netrcPath;
    etcNetrc = if config.environment.etc ? "nix/netrc" then "/etc/nix/netrc" else null;
    opt = "services.nix-auth.netrc";
  };

  renderArgs = common.inputArgs cfg ++ [
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
  ]
  ++ lib.optionals cfg.netrc.enable [
    "--netrc-output"
    netrcPath
  ];

  recipientCheck = common.recipientCheck { inherit pkgs cfg; };
  logFile = "/var/log/nix-auth.log";
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
      # macOS makes its ssh host keys when it is installed, whether or not
      # Remote Login is on (agenix uses the same default).
      default = [ "/etc/ssh/ssh_host_ed25519_key" ];
      description = ''
        Private keys that decrypt {option}`services.nix-auth.secretsFile`:
        age identity files or ssh ed25519 keys, converted as ssh-to-age does.
        By default the ed25519 host key, which macOS always has. Not used
        with {option}`services.nix-auth.plainFile`.
      '';
    };

    output = mkOption {
      type = types.strMatching "/.+";
      default = "/var/run/nix-auth/access-tokens.conf";
      description = ''
        The access-tokens file, included from /etc/nix/nix.conf. macOS has
        no tmpfs; /var/run is emptied at every boot, when the daemon renders
        the tokens again.
      '';
    };

    group = mkOption {
      type = types.str;
      # macOS has no group named root: gid 0 is wheel.
      default = "wheel";
      example = "admin";
      description = ''
        Group of {option}`services.nix-auth.output` (name or gid). Nix run by
        a user who cannot read the file ignores it without a word: with the
        defaults only root's Nix (`sudo darwin-rebuild`) uses the tokens. To
        give them to the administrators who evaluate private flakes as
        themselves, set `admin`.
      '';
    };

    netrc.enable = common.netrcEnableOption {
      default = true;
      text = ''
        Render the store's netrc credentials (binary caches; the netrc half
        of Gitea, Forgejo and Codeberg tokens) to ${netrcPath}
        (`render --netrc-output`, the same owner and mode as
        {option}`services.nix-auth.output`), and point
        `nix.settings.netrc-file` at it (`mkDefault`), as the NixOS module
        does: every store format may carry netrc credentials, and the
        nix-daemon substitutes with the system's netrc-file only. A
        netrc-file you set yourself is kept, with a warning saying what to
        do; /etc/nix/netrc is no longer read once netrc-file names the
        rendered file (a warning when `environment.etc."nix/netrc"`
        provides it).
      '';
    };

    check.interval = mkOption {
      type = types.listOf (types.attrsOf types.int);
      default = [
        {
          Hour = 9;
          Minute = 30;
        }
      ];
      description = ''
        When the health check runs: launchd calendar intervals
        (`StartCalendarInterval`; missing keys are wildcards). A run missed
        while the Mac slept happens when it wakes.
      '';
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = common.assertions cfg;

        warnings =
          lib.optional (cfg.secretsFile != null && cfg.identityPaths == [ ])
            "services.nix-auth.identityPaths is empty: only root's sops default keys can decrypt ${toString cfg.secretsFile}."
          ++ lib.optional (!config.nix.enable) (
            common.nixDisabledWarning cfg.output (if cfg.netrc.enable then netrcPath else null)
          )
          ++ lib.optional (common.recipientCheckWarning cfg != null) (common.recipientCheckWarning cfg)
          ++ lib.optional (cfg.netrc.enable && config.nix.enable && netrcWarning != null) netrcWarning;

        # !include: skipped while the file does not exist yet.
        nix.extraOptions = lib.mkIf config.nix.enable ''
          !include ${cfg.output}
        '';
        nix.settings.netrc-file = lib.mkIf (config.nix.enable && cfg.netrc.enable) (lib.mkDefault netrcPath);

        # nix-darwin has no list of build-time checks: a dependency of the
        # system derivation fails its build the same way.
        system.systemBuilderArgs = lib.mkIf (recipientCheck != null) {
          nixAuthRecipientCheck = recipientCheck;
        };
      }

      (lib.mkIf (common.inputSet cfg) {
        launchd.daemons.nix-auth.serviceConfig = {
          ProgramArguments = [
            exe
            "render"
          ]
          ++ renderArgs;
          RunAtLoad = true;
          # launchd cannot order daemons: at boot sops-nix or agenix may not
          # have decrypted plainFile or tokenFiles yet. A failed render is
          # run again (ThrottleInterval seconds later) until it succeeds.
          KeepAlive.SuccessfulExit = false;
          ThrottleInterval = 30;
          # A new decrypted file renders again at once.
          WatchPaths = lib.mkIf (common.decrypted cfg) (
            lib.optional (cfg.plainFile != null) cfg.plainFile ++ map toString (lib.attrValues cfg.tokenFiles)
          );
          Umask = 63; # 0077
          StandardOutPath = logFile;
          StandardErrorPath = logFile;
        };

        # See common.renderEverySwitch: the plist (and so the daemon) does
        # not change when only the input's content did.
        system.activationScripts.postActivation.text = lib.mkIf (common.renderEverySwitch cfg) (
          lib.mkAfter ''
            launchctl kickstart -k system/${label} || true
          ''
        );

        launchd.daemons.nix-auth-check = lib.mkIf cfg.check.enable {
          serviceConfig = {
            ProgramArguments = [ exe ] ++ common.checkArgs cfg cfg.output;
            StartCalendarInterval = cfg.check.interval;
            RunAtLoad = false;
            StandardOutPath = "/var/log/nix-auth-check.log";
            StandardErrorPath = "/var/log/nix-auth-check.log";
          };
        };
      })
    ]
  );
}
