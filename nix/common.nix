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

        tokenFiles = mkOption {
          type = types.attrsOf (types.either types.str types.path);
          default = { };
          example = lib.literalExpression ''
            {
              "github.com" = config.sops.secrets."github/oauth_token".path;
              "gitlab.com" = config.age.secrets.gitlab-token.path;
            }
          '';
          description = ''
            Tokens kept one per file${
              lib.optionalString (scope == "user") " for this user"
            }, as sops-nix deploys each key of a sops file and agenix each
            secret: an attribute set from the host, as access-tokens names it
            (`github.com`, `gitlab.example.com:8443`, `github.com/org`), to the
            file that holds its token alone (a trailing newline is fine). A
            GitLab token without a type prefix gets `PAT:`. Rendered alone or
            beside {option}`services.nix-auth.secretsFile` or
            {option}`services.nix-auth.plainFile`; a host two of them give is
            an error. The files are read at run time: give their paths as
            strings, never as Nix paths into the flake, which would be in the
            world-readable Nix store.
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

  # The options of a user's refresh timer (home-manager): what it runs, not
  # when (the schedule's type is the platform's).
  refreshOptionsModule = {
    options.services.nix-auth.refresh = {
      enable = lib.mkEnableOption ''
        a user timer that renews, with their refresh tokens, the GitLab OAuth
        tokens `nix-auth login` saved in your Nix config (access-tokens.conf,
        their refresh tokens kept beside it in nix-auth-state.json): they last
        two hours. It runs `nix-auth refresh --within` the given time, so a
        token is renewed before it expires and a token with time left is not
        touched; personal tokens need none of this. The include of
        access-tokens.conf is added to the nix.conf home-manager writes'';

      within = mkOption {
        type = goDuration;
        default = "1h";
        example = "90m";
        description = ''
          Renew a token that expires within this duration (Go's syntax). It
          must be longer than the time between runs, and shorter than a
          token's two hours.
        '';
      };
    };
  };

  # The refresh timer's nix-auth arguments.
  refreshArgs = cfg: [
    "refresh"
    "--within"
    cfg.refresh.within
  ];

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

  assertions =
    cfg:
    [
      {
        assertion = cfg.secretsFile == null || cfg.plainFile == null;
        message = "services.nix-auth: set one of secretsFile and plainFile, not both.";
      }
      {
        assertion = cfg.secretsFile != null || cfg.plainFile != null || cfg.tokenFiles != { };
        message = "services.nix-auth: set secretsFile, plainFile or tokenFiles: there is nothing to render.";
      }
    ]
    ++ lib.mapAttrsToList (host: _: {
      assertion = validHost host;
      message = "services.nix-auth.tokenFiles: ${builtins.toJSON host} is not a host as access-tokens names it (github.com, gitlab.example.com:8443, github.com/org).";
    }) cfg.tokenFiles
    ++ lib.mapAttrsToList (host: path: {
      assertion = !lib.hasPrefix builtins.storeDir (toString path);
      message = "services.nix-auth.tokenFiles.${builtins.toJSON host}: ${toString path} is in the Nix store, which every user can read: a token file must be a secret deployed at run time, such as config.sops.secrets.\"github/oauth_token\".path, given as a string.";
    }) cfg.tokenFiles;

  # A host as nixconf.ValidateHost takes it: a DNS name or [IPv6] address,
  # an optional :port, an optional /path; nothing that Nix's config syntax
  # would split or cut ('=', '#', whitespace).
  validHost =
    host:
    let
      label = "[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?";
    in
    builtins.stringLength host <= 1024
    # A URL resolves "." and ".." parts: the key would name another path.
    && !lib.any (seg: seg == "." || seg == "..") (lib.splitString "/" host)
    && builtins.match "(${label}(\\.${label})*|\\[[0-9A-Fa-f:.]+])(:[1-9][0-9]{0,4})?(/[A-Za-z0-9._~%!$&'()*+,;:@-]+)*" host != null;

  # An input to render, or none: the assertions above speak, and nothing
  # else evaluates a missing or doubled input.
  inputSet =
    cfg:
    (cfg.secretsFile == null || cfg.plainFile == null)
    && (cfg.secretsFile != null || cfg.plainFile != null || cfg.tokenFiles != { });

  # --token-file arguments. toString: a path value is named, not copied to
  # the store (an assertion refuses one that is there already).
  tokenFileArgs =
    cfg: lib.concatLists (lib.mapAttrsToList (host: path: [ "--token-file" "${host}=${toString path}" ]) cfg.tokenFiles);

  # Inputs that sops-nix or agenix decrypt at activation: render runs
  # after them.
  decrypted = cfg: cfg.plainFile != null || cfg.tokenFiles != { };

  # Interpolating a Nix path copies the (encrypted) file to the store under
  # a name that depends on its content: the command, and with it the unit,
  # changes exactly when the store changes. A string is read at run time.
  secretsArg = cfg: "${cfg.secretsFile}";

  # render's input arguments.
  inputArgs =
    cfg:
    (
      if cfg.plainFile != null then
        [
          "--plain"
          cfg.plainFile
        ]
      else if cfg.secretsFile != null then
        [ (secretsArg cfg) ] ++ lib.concatMap (p: [ "--identity" p ]) cfg.identityPaths
      else
        [ ]
    )
    ++ tokenFileArgs cfg;

  # A file that sops-nix or agenix decrypts keeps its path when its content
  # changes, and so does a secretsFile given as a string: nothing in the
  # unit changes, so every switch must render again (render writes nothing
  # when the result is unchanged).
  renderEverySwitch = cfg: decrypted cfg || !builtins.isPath cfg.secretsFile;

  # The health check's status arguments: the plain input when it is the
  # only one (it still has the tokens render leaves out because they
  # expired, and their metadata), else what render wrote, which has the
  # token files' tokens too; status reads the stores its first line names
  # for the tokens render left out.
  checkArgs = cfg: rendered: [
    "status"
    "--plain"
    (if cfg.plainFile != null && cfg.tokenFiles == { } then cfg.plainFile else rendered)
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
        if cfg.secretsFile == null then "plainFile and tokenFiles are decrypted by sops-nix or agenix" else "secretsFile is a string"
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
