# What the NixOS, home-manager and nix-darwin modules share: the options
# they declare alike, the render and status command lines, and the
# build-time recipient check. Internal to this flake: not a stable API.
{ lib, version }:

let
  inherit (lib) mkOption types;

  # Go's time.ParseDuration, which status --warn-expiring takes.
  goDuration = types.strMatching "0|([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+";
in
rec {
  # A module declaring the options every module has under
  # services.nix-auth. scope is "system" or "user", for the descriptions.
  optionsModule =
    scope:
    { pkgs, ... }:
    {
      options.services.nix-auth = {
        package = mkOption {
          type = types.package;
          # The host's own pkgs: any system, overlays and cross-compilation
          # apply, unlike a package the flake built for its own systems.
          default = pkgs.callPackage ./package.nix { inherit version; };
          defaultText = lib.literalExpression ''pkgs.callPackage "''${nix-auth}/nix/package.nix" { }'';
          description = "The nix-auth package.";
        };

        secretsFile = mkOption {
          type = types.nullOr types.path;
          default = null;
          example = lib.literalExpression "./secrets/tokens.yaml";
          description = ''
            Encrypted token store written by `nix-auth login --encrypt-to` (a
            sops `.yaml`/`.json` file or an `.age` file), usually kept in the
            flake repository. Given as a Nix path it is copied to the Nix
            store, still encrypted (world-readable there, like every store
            path, which is what the encryption is for), and the tokens are
            rendered again whenever its content changes. A string is a path
            read at run time.
          '';
        };

        plainFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = lib.literalExpression ''config.sops.secrets."nix-access-tokens".path'';
          description = ''
            Path of a file that sops-nix or agenix already decrypted${
              lib.optionalString (scope == "user") " for this user"
            }: the sops tree of a store written by nix-auth, or an
            `access-tokens = ...` line. Use it instead of
            {option}`services.nix-auth.secretsFile` to keep your own sops-nix or
            agenix setup; rendering runs after theirs and again on every switch.
          '';
        };

        check = {
          enable = lib.mkEnableOption ''
            a periodic health check: `nix-auth status --plain` on the
            rendered tokens (or on {option}`services.nix-auth.plainFile`),
            validated with their forges, logging each host's state and failing
            when a token is invalid, expired, or expires within
            {option}`services.nix-auth.check.warnExpiring`, so that monitoring
            (of failed ${if scope == "system" then "units" else "user units"}, on Linux) sees it before users do'';

          warnExpiring = mkOption {
            type = goDuration;
            default = "168h";
            example = "336h";
            description = ''
              Fail the check when a token expires within this duration (Go's
              syntax: `h`, `m`, `s`; `0` fails only on expired tokens). A week
              by default: time to rotate a token before it stops working.
            '';
          };
        };
      };
    };

  # The options of the modules that render for a whole machine (NixOS,
  # nix-darwin) beyond those above.
  systemOptionsModule = {
    options.services.nix-auth = {
      owner = mkOption {
        type = types.str;
        default = "root";
        description = "Owner of {option}`services.nix-auth.output` (name or uid).";
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
          include comes last in /etc/nix/nix.conf (from `nix.extraOptions`),
          so an `access-tokens =` line there would replace every token the
          configuration sets in `nix.settings.access-tokens`; the default
          `extra-access-tokens` adds to them instead (where both name the
          same host, the earlier `nix.settings` entry wins). Users' own
          nix.conf files come later and are not affected either way.
        '';
      };

      hostPublicKey = hostPublicKeyOption;
    };
  };

  hostPublicKeyOption = mkOption {
    type = types.nullOr (types.strMatching "(ssh-ed25519 [A-Za-z0-9+/]+=*( .*)?|age1[02-9ac-hj-np-z]+)");
    default = null;
    example = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... root@web1";
    description = ''
      This host's public key: its ssh-ed25519 host key (as `ssh-keyscan -t
      ed25519 HOST` prints it) or its age key. With a
      {option}`services.nix-auth.secretsFile` given as a Nix path, building
      the system runs `nix-auth status --file STORE --offline
      --expect-recipient KEY` in the build sandbox, and the build fails when
      the store is not encrypted to this key: a host missing from the
      store's recipients is caught before deployment, not at activation.
      An age1 key can be checked in a sops store only (an `.age` file's
      X25519 stanzas do not name their key); give the ssh key for `.age`
      stores, as agenix encrypts to it.
    '';
  };

  assertions = cfg: [
    {
      assertion = (cfg.secretsFile == null) != (cfg.plainFile == null);
      message = "services.nix-auth: set exactly one of secretsFile and plainFile.";
    }
  ];

  # Both inputs or neither: the assertion above speaks, and nothing else
  # evaluates the missing input.
  inputSet = cfg: (cfg.secretsFile == null) != (cfg.plainFile == null);

  # Interpolating a Nix path copies the (encrypted) file to the store under
  # a name that depends on its content: the command, and with it the unit,
  # changes exactly when the store changes. A string is read at run time.
  secretsArg = cfg: "${cfg.secretsFile}";

  # render's input arguments.
  inputArgs =
    cfg:
    if cfg.plainFile != null then
      [
        "--plain"
        cfg.plainFile
      ]
    else
      [ (secretsArg cfg) ] ++ lib.concatMap (p: [ "--identity" p ]) cfg.identityPaths;

  # A file that sops-nix or agenix decrypts keeps its path when its content
  # changes, and so does a secretsFile given as a string: nothing in the
  # unit changes, so every switch must render again (render writes nothing
  # when the result is unchanged).
  renderEverySwitch = cfg: cfg.plainFile != null || !builtins.isPath cfg.secretsFile;

  # The health check's status arguments: the plain input when there is one
  # (it still has the tokens render leaves out because they expired, and
  # their metadata), else what render wrote.
  checkArgs = cfg: rendered: [
    "status"
    "--plain"
    (if cfg.plainFile != null then cfg.plainFile else rendered)
    "--warn-expiring"
    cfg.check.warnExpiring
  ];

  # The build-time check that hostPublicKey is a recipient of the store, or
  # null when there is nothing to check. It runs in the build sandbox, so
  # it needs a nix-auth for the build platform.
  recipientCheck =
    { pkgs, cfg }:
    let
      native = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
      package = if native then cfg.package else pkgs.buildPackages.callPackage ./package.nix { inherit version; };
    in
    if cfg.hostPublicKey == null || !builtins.isPath cfg.secretsFile then
      null
    else
      pkgs.runCommand "nix-auth-recipient-check"
        {
          nativeBuildInputs = [ package ];
          store = secretsArg cfg;
          key = cfg.hostPublicKey;
        }
        ''
          nix-auth status --file "$store" --offline --expect-recipient "$key"
          touch "$out"
        '';

  # Why hostPublicKey checks nothing, or null.
  recipientCheckWarning =
    cfg:
    if cfg.hostPublicKey == null || builtins.isPath cfg.secretsFile then
      null
    else
      "services.nix-auth.hostPublicKey is set, but only a secretsFile given as a Nix path can be checked at build time (${
        if cfg.plainFile != null then "plainFile is decrypted by sops-nix or agenix" else "secretsFile is a string"
      }): nothing is checked.";

  # The warning for nix.enable = false: the module's include line (and its
  # netrc-file, when netrc is a path) go to a nix.conf that is not written.
  nixDisabledWarning =
    output: netrc:
    "services.nix-auth: nix.enable is false, so this configuration writes no /etc/nix/nix.conf and nothing includes ${output}: add `!include ${output}`${
      lib.optionalString (netrc != null) " and `netrc-file = ${netrc}`"
    } to the nix.conf your Nix reads (Determinate Nix: /etc/nix/nix.custom.conf).";

  # The netrc.enable option; default and the reader differ by module.
  netrcEnableOption =
    { default, text }:
    mkOption {
      type = types.bool;
      inherit default;
      description = text;
    };

  # Why Nix does not read the netrc file the module renders (path), or a
  # netrc the configuration provides, or null: the configuration names
  # another netrc-file, in nix.settings (a value above the module's
  # mkDefault) or in nix.extraOptions (later in nix.conf, so it wins); or
  # it provides etcNetrc, Nix's default netrc-file, which the rendered
  # file replaces. The user's setting is kept; the warning says what to
  # do. nixCfg is config.nix; opt the option path that names the module
  # in messages.
  netrcConflictWarning =
    {
      nixCfg,
      path,
      etcNetrc ? null,
      opt,
    }:
    let
      set = nixCfg.settings.netrc-file or null;
      inExtra = lib.any (l: builtins.match "[ \t]*netrc-file[ \t]*=.*" l != null) (
        lib.splitString "\n" nixCfg.extraOptions
      );
      todo = "move its credentials into the store (`nix-auth set-token HOST --provider cache --encrypt-to STORE`) and drop it, or set ${opt}.enable = false";
    in
    if inExtra then
      "${opt}: nix.extraOptions sets netrc-file, so Nix does not read the netrc credentials nix-auth renders to ${path}; nix-auth keeps your setting. To use them, set netrc-file to ${path} there, or ${todo}."
    else if set != null && toString set != path then
      "${opt}: nix.settings.netrc-file is ${toString set}, so Nix does not read the netrc credentials nix-auth renders to ${path}; nix-auth keeps your setting. To use them, set it to ${path}, or ${todo}."
    else if etcNetrc != null && set == path then
      "${opt}: environment.etc.\"nix/netrc\" provides ${etcNetrc}, Nix's default netrc-file, which Nix no longer reads: nix.settings.netrc-file names the netrc nix-auth renders, ${path}. Move its credentials into the store (`nix-auth set-token HOST --provider cache --encrypt-to STORE`) and drop it, or keep it with nix.settings.netrc-file = \"${etcNetrc}\" (the store's netrc credentials then go unread), or set ${opt}.enable = false."
    else
      null;
}
