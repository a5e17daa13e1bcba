# home-manager module: the per-user variant. A systemd user unit (a launchd
# agent on macOS) renders the user's token store at login, after sops-nix and
# agenix have decrypted theirs, and again on every switch that needs it; the
# nix.conf that home-manager writes includes the result.
#
# On Linux the tokens are rendered under $XDG_RUNTIME_DIR (tmpfs, gone at
# logout) and `output` is a symlink to them, as sops-nix does for its
# secrets: nix.conf cannot name $XDG_RUNTIME_DIR, and Nix skips an include
# whose target is gone. macOS has no such directory: the agent renders
# `output` itself.
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
  inherit (pkgs.stdenv.hostPlatform) isDarwin isLinux;

  # The name render gives a user's own access-tokens file by default
  # (nixconf.Locate's TokensFile, beside nix.conf): the module's output
  # keeps to it, so that `nix-auth render` by hand and the module agree.
  # render's own file beside login's access-tokens.conf (which render never
  # overwrites): nixconf.RenderFileName.
  renderDefaultName = "access-tokens.rendered.conf";
  defaultOutput = "${config.xdg.configHome}/nix/${renderDefaultName}";

  exe = lib.getExe cfg.package;

  # A shell word that keeps $VAR and $(...) working: agenix's user paths are
  # "${XDG_RUNTIME_DIR}/agenix/NAME" (on macOS "$(getconf
  # DARWIN_USER_TEMP_DIR)/agenix/NAME"), for the shell to expand.
  expanded = s: ''"${lib.replaceStrings [ ''"'' ''\'' "`" ] [ ''\"'' ''\\'' "\\`" ] s}"'';

  rendered = if isLinux then ''"$XDG_RUNTIME_DIR/nix-auth/${renderDefaultName}"'' else lib.escapeShellArg cfg.output;

  # The netrc render writes (netrc.enable): beside login's netrc, never
  # over it (render writes only files it made). On Linux a symlink to the
  # file rendered under $XDG_RUNTIME_DIR, like output.
  netrcDefaultName = "netrc.rendered";
  netrcRendered =
    if isLinux then ''"$XDG_RUNTIME_DIR/nix-auth/${netrcDefaultName}"'' else lib.escapeShellArg cfg.netrc.output;
  netrcLink = lib.escapeShellArg cfg.netrc.output;
  netrcWarning = common.netrcConflictWarning {
    nixCfg = config.nix;
    path = cfg.netrc.output;
    opt = "services.nix-auth.netrc";
  };

  # Keeps a stable path linked to the rendered file (Linux).
  linkTo = link: target: ''
    if [ "$(readlink ${link} || true)" != ${target} ]; then
      mkdir -p "$(dirname ${link})"
      ln -sfn ${target} ${link}
    fi'';

  # Token files may be agenix's user paths too: expanded by the shell.
  inputWords = lib.concatStringsSep " " (
    (
      if cfg.plainFile != null then
        [ "--plain ${expanded cfg.plainFile}" ]
      else
        lib.optional (cfg.secretsFile != null) (
          lib.escapeShellArgs (common.inputArgs (cfg // { tokenFiles = { }; }))
        )
    )
    ++ lib.mapAttrsToList (host: path: "--token-file ${expanded "${host}=${toString path}"}") cfg.tokenFiles
  );

  link = lib.escapeShellArg cfg.output;
  renderScript = pkgs.writeShellScript "nix-auth-render" (
    lib.concatLines (
      [
        "set -eu"
        "export PATH=${lib.makeBinPath [ pkgs.coreutils ]}:$PATH"
      ]
      ++ lib.optionals isLinux [
        '': "''${XDG_RUNTIME_DIR:?is not set: not in a systemd user session}"''
        ''mkdir -p "$XDG_RUNTIME_DIR/nix-auth"''
        ''chmod 0700 "$XDG_RUNTIME_DIR/nix-auth"''
      ]
      ++ [
        "${exe} render ${inputWords} --output ${rendered} --mode 0600 --setting ${cfg.setting}${
          lib.optionalString cfg.netrc.enable " --netrc-output ${netrcRendered}"
        }"
      ]
      # The stable path nix.conf includes. It replaces a plaintext file an
      # earlier version of this module rendered there.
      ++ lib.optional isLinux (linkTo link rendered)
      ++ lib.optional (isLinux && cfg.netrc.enable) (linkTo netrcLink netrcRendered)
    )
  );

  checkScript = pkgs.writeShellScript "nix-auth-check" ''
    exec ${exe} status --plain ${
      if cfg.plainFile != null && cfg.tokenFiles == { } then expanded cfg.plainFile else lib.escapeShellArg cfg.output
    } --warn-expiring ${lib.escapeShellArg cfg.check.warnExpiring}
  '';

  # The user units of sops-nix and agenix (their home-manager modules):
  # render after them, and again whenever they run again.
  decrypters = lib.optionals (common.decrypted cfg) [
    "sops-nix.service"
    "agenix.service"
  ];

  systemctl = ''env XDG_RUNTIME_DIR="''${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" ${config.systemd.user.systemctlPath}'';
  agentLabel = config.launchd.agents.nix-auth.config.Label;
in
{
  imports = [
    (common.optionsModule "user")
    common.refreshOptionsModule
  ];

  options.services.nix-auth = {
    enable = lib.mkEnableOption "rendering forge access tokens for the user's Nix with nix-auth";

    identityPaths = mkOption {
      # Strings, not paths: a Nix path would copy the key into the store.
      type = types.listOf types.str;
      default = [ ];
      example = [ "/home/alice/.ssh/id_ed25519_work" ];
      description = ''
        Keys that decrypt {option}`services.nix-auth.secretsFile`, besides
        those sops looks for, which are always tried: `SOPS_AGE_KEY_FILE`
        and the like when set in the unit's environment,
        ~/.config/sops/age/keys.txt and ~/.ssh/id_ed25519 (as an ssh key and
        converted as ssh-to-age does). Rendering cannot ask for a
        passphrase: a protected key that sops would look for is skipped, and
        one listed here is an error, as is a listed key that does not exist.
      '';
    };

    output = mkOption {
      type = types.str;
      default = defaultOutput;
      defaultText = lib.literalExpression ''"''${config.xdg.configHome}/nix/${renderDefaultName}"'';
      description = ''
        The access-tokens file included from the user's nix.conf, mode 0600.
        On Linux a symlink to the file the user unit renders in
        $XDG_RUNTIME_DIR/nix-auth (tmpfs: the plaintext never reaches a disk,
        and is gone at logout until the next login renders it again); on
        macOS the rendered file itself.
      '';
    };

    setting = mkOption {
      type = types.enum [
        "access-tokens"
        "extra-access-tokens"
      ];
      default = "extra-access-tokens";
      description = ''
        The setting written to {option}`services.nix-auth.output`. The
        default `extra-access-tokens` adds this user's tokens to the
        system's and to those `nix-auth login` saves (the first entry for a
        host wins). `access-tokens` replaces every token set before the
        file is read: the system's, and login's when its file is included
        first.
      '';
    };

    netrc = {
      enable = common.netrcEnableOption {
        default = false;
        text = ''
          Render the store's netrc credentials (binary caches; the netrc
          half of Gitea, Forgejo and Codeberg tokens) for this user's Nix,
          to {option}`services.nix-auth.netrc.output`, and point
          `nix.settings.netrc-file` at it (`mkDefault`; a netrc-file you
          set yourself is kept, with a warning). Off by default: the
          user's netrc-file replaces the system's for the user's own Nix
          (its fetches of archives and `fetchTarball`), so a user who
          relies on the system's netrc, or on `nix-auth login`'s, opts in.
          Substitution from binary caches is the nix-daemon's, which reads
          the system's netrc-file (the NixOS and nix-darwin modules
          render it), unless Nix runs single-user.
        '';
      };
      output = mkOption {
        type = types.str;
        default = "${config.xdg.configHome}/nix/${netrcDefaultName}";
        defaultText = lib.literalExpression ''"''${config.xdg.configHome}/nix/${netrcDefaultName}"'';
        description = ''
          The netrc file named by the user's netrc-file, mode 0600. On Linux
          a symlink to the file the user unit renders in
          $XDG_RUNTIME_DIR/nix-auth (tmpfs), as for
          {option}`services.nix-auth.output`; on macOS the rendered file
          itself.
        '';
      };
    };

    refresh.interval = mkOption {
      type = if isDarwin then types.ints.positive else types.str;
      default = if isDarwin then 1800 else "*:0/30";
      defaultText = lib.literalExpression ''if isDarwin then 1800 else "*:0/30"'';
      description = ''
        How often the refresh timer runs: a systemd calendar event
        (`OnCalendar=`, made up when missed, as after a suspend) on Linux;
        seconds between runs (`StartInterval`) on macOS. Every half hour by
        default, well inside {option}`services.nix-auth.refresh.within`.
      '';
    };

    check.interval = mkOption {
      type = if isDarwin then types.listOf (types.attrsOf types.int) else types.str;
      default =
        if isDarwin then
          [
            {
              Hour = 9;
              Minute = 30;
            }
          ]
        else
          "daily";
      defaultText = lib.literalExpression ''if isDarwin then [ { Hour = 9; Minute = 30; } ] else "daily"'';
      description = ''
        When the health check runs: a systemd calendar event (`OnCalendar=`)
        on Linux, spread by up to an hour and made up when missed; launchd
        calendar intervals (`StartCalendarInterval`) on macOS.
      '';
    };
  };

  config = lib.mkMerge [
    (lib.mkIf cfg.refresh.enable (
      lib.mkMerge [
        {
          # login's tokens file, which refresh rewrites, included from the
          # nix.conf home-manager writes: login cannot add the include to a
          # nix.conf in the Nix store. home-manager writes one only with
          # nix.package set; otherwise login edits the user's own.
          nix.extraOptions = lib.mkIf (config.nix.package != null) ''
            !include ${config.xdg.configHome}/nix/access-tokens.conf
          '';
        }
        (lib.mkIf isLinux {
          systemd.user.services.nix-auth-refresh = {
            Unit.Description = "Renew the GitLab OAuth tokens in the user's Nix config";
            Service = {
              Type = "oneshot";
              ExecStart = lib.escapeShellArgs ([ exe ] ++ common.refreshArgs cfg);
            };
          };
          systemd.user.timers.nix-auth-refresh = {
            Unit.Description = "Renew the GitLab OAuth tokens in the user's Nix config";
            Timer = {
              OnCalendar = cfg.refresh.interval;
              Persistent = true;
            };
            Install.WantedBy = [ "timers.target" ];
          };
        })
        (lib.mkIf isDarwin {
          launchd.agents.nix-auth-refresh = {
            enable = true;
            config = {
              ProgramArguments = [ exe ] ++ common.refreshArgs cfg;
              StartInterval = cfg.refresh.interval;
              RunAtLoad = true;
              StandardOutPath = "${config.home.homeDirectory}/Library/Logs/nix-auth/refresh.log";
              StandardErrorPath = "${config.home.homeDirectory}/Library/Logs/nix-auth/refresh.log";
            };
          };
        })
      ]
    ))

    (lib.mkIf cfg.enable (lib.mkMerge [
      {
        assertions = common.assertions cfg;

        # home-manager writes ~/.config/nix/nix.conf only with nix.package
        # set (it checks the file with that Nix). Inside NixOS, home-manager
        # sets it to the system's Nix, which wins over this default.
        nix.package = lib.mkDefault pkgs.nix;
        # !include: skipped while the file (or the symlink's target) does
        # not exist.
        nix.extraOptions = ''
          !include ${cfg.output}
        '';
      }

      (lib.mkIf cfg.netrc.enable {
        nix.settings.netrc-file = lib.mkDefault cfg.netrc.output;
        warnings = lib.optional (netrcWarning != null) netrcWarning;
      })

      (lib.mkIf (common.inputSet cfg && isLinux) {
        systemd.user.services.nix-auth = {
          Unit = {
            Description = "Render forge access tokens for the user's Nix";
            After = decrypters;
            # Their restart (home-manager restarts sops-nix on every switch,
            # agenix when its secrets change) restarts this unit, after them.
            PartOf = decrypters;
          };
          Service = {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = "${renderScript}";
          };
          Install.WantedBy = [ "default.target" ];
        };

        # See common.renderEverySwitch. After reloadSystemd, which has
        # started or restarted the unit if its definition changed.
        home.activation.nix-auth = lib.mkIf (common.renderEverySwitch cfg) (
          lib.hm.dag.entryAfter [ "reloadSystemd" ] ''
            systemdStatus=$(${systemctl} --user is-system-running 2>&1 || true)
            if [[ $systemdStatus == running || $systemdStatus == degraded ]]; then
              run ${systemctl} --user restart nix-auth.service ||
                warnEcho "nix-auth: rendering the tokens failed (journalctl --user -u nix-auth); Nix keeps the ones it had."
            fi
            unset systemdStatus
          ''
        );

        systemd.user.services.nix-auth-check = lib.mkIf cfg.check.enable {
          Unit = {
            Description = "Check the forge tokens rendered for the user's Nix";
            After = [ "nix-auth.service" ];
          };
          Service = {
            Type = "oneshot";
            ExecStart = "${checkScript}";
          };
        };

        systemd.user.timers.nix-auth-check = lib.mkIf cfg.check.enable {
          Unit.Description = "Check the forge tokens rendered for the user's Nix";
          Timer = {
            OnCalendar = cfg.check.interval;
            Persistent = true;
            RandomizedDelaySec = "1h";
          };
          Install.WantedBy = [ "timers.target" ];
        };
      })

      (lib.mkIf (common.inputSet cfg && isDarwin) {
        launchd.agents.nix-auth = {
          enable = true;
          config = {
            ProgramArguments = [ "${renderScript}" ];
            RunAtLoad = true;
            # launchd cannot order agents: at login sops-nix or agenix may
            # not have decrypted plainFile yet. A failed render is run again
            # (ThrottleInterval seconds later) until it succeeds.
            KeepAlive.SuccessfulExit = false;
            ThrottleInterval = 30;
            # A new decrypted file renders again at once (when its path
            # needs no shell to expand).
            WatchPaths =
              let
                watched = lib.filter (p: !lib.hasInfix "$" p) (
                  lib.optional (cfg.plainFile != null) cfg.plainFile ++ map toString (lib.attrValues cfg.tokenFiles)
                );
              in
              lib.mkIf (watched != [ ]) watched;
            StandardOutPath = "${config.home.homeDirectory}/Library/Logs/nix-auth/render.log";
            StandardErrorPath = "${config.home.homeDirectory}/Library/Logs/nix-auth/render.log";
          };
        };

        home.activation.nix-auth = lib.mkIf (common.renderEverySwitch cfg) (
          lib.hm.dag.entryAfter [ "setupLaunchAgents" ] ''
            run /bin/launchctl kickstart -k "gui/$(id -u)/${agentLabel}" ||
              warnEcho "nix-auth: could not start ${agentLabel}; the tokens are rendered at the next login."
          ''
        );

        launchd.agents.nix-auth-check = lib.mkIf cfg.check.enable {
          enable = true;
          config = {
            ProgramArguments = [ "${checkScript}" ];
            StartCalendarInterval = cfg.check.interval;
            StandardOutPath = "${config.home.homeDirectory}/Library/Logs/nix-auth/check.log";
            StandardErrorPath = "${config.home.homeDirectory}/Library/Logs/nix-auth/check.log";
          };
        };
      })
    ]))
  ];
}
