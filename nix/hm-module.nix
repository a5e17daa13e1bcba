# home-manager module: the per-user variant. Renders the user's token store
# into ~/.config/nix/access-tokens.rendered.conf on every activation and
# includes it from the nix.conf that home-manager writes. (Not
# access-tokens.conf: that is login's file, which render never overwrites.)
{ self }:
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.nix-auth;
  inherit (lib) mkOption types;

  input =
    if cfg.plainFile != null then
      [
        "--plain"
        cfg.plainFile
      ]
    else
      [ "${cfg.secretsFile}" ] ++ lib.concatMap (p: [ "--identity" p ]) cfg.identityPaths;

  command = [
    (lib.getExe cfg.package)
    "render"
  ]
  ++ input
  ++ [
    "--output"
    cfg.output
    "--mode"
    "0600"
    "--setting"
    cfg.setting
  ];
in
{
  options.services.nix-auth = {
    enable = lib.mkEnableOption "rendering forge access tokens for the user's Nix with nix-auth";

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
        Encrypted token store (sops `.yaml`/`.json` or `.age`) written by
        `nix-auth login --encrypt-to`. A Nix path is copied to the Nix store,
        still encrypted.
      '';
    };

    plainFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = lib.literalExpression ''config.sops.secrets."nix-access-tokens".path'';
      description = ''
        A file that sops-nix or agenix already decrypted for this user (the
        sops tree, or an `access-tokens = ...` line), instead of
        {option}`services.nix-auth.secretsFile`.
      '';
    };

    identityPaths = mkOption {
      # Strings, not paths: a Nix path would copy the key into the store.
      type = types.listOf types.str;
      default = [ ];
      example = [ "/home/alice/.ssh/id_ed25519_work" ];
      description = ''
        Keys that decrypt {option}`services.nix-auth.secretsFile`, besides
        those sops looks for, which are always tried: `SOPS_AGE_KEY`,
        `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`,
        `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, ~/.config/sops/age/keys.txt and
        ~/.ssh/id_ed25519 (as an ssh key and converted as ssh-to-age does).
        Activation cannot ask for a passphrase: a protected key that sops
        would look for is skipped, and one listed here is an error, as is a
        listed key that does not exist.
      '';
    };

    output = mkOption {
      type = types.str;
      default = "${config.xdg.configHome}/nix/access-tokens.rendered.conf";
      defaultText = lib.literalExpression ''"''${config.xdg.configHome}/nix/access-tokens.rendered.conf"'';
      description = "The access-tokens file, mode 0600, included from the user's nix.conf.";
    };

    setting = mkOption {
      type = types.enum [
        "access-tokens"
        "extra-access-tokens"
      ];
      default = "access-tokens";
      description = ''
        The setting written to {option}`services.nix-auth.output`. The user's
        nix.conf is read after the system's, so the default `access-tokens`
        makes this user's tokens the only ones their Nix sends, replacing
        any the system sets (for example with the NixOS module).
        `extra-access-tokens` adds them to the system's instead, but where
        both name the same host the system's token wins.
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

    # home-manager writes ~/.config/nix/nix.conf only with nix.package set
    # (it checks the file with that Nix). Inside NixOS, home-manager sets it
    # to the system's Nix, which wins over this default.
    nix.package = lib.mkDefault pkgs.nix;
    # !include: skipped while the file does not exist yet.
    nix.extraOptions = ''
      !include ${cfg.output}
    '';

    # After linkGeneration, so the nix.conf that includes the file is in
    # place. A failed render warns instead of failing the whole activation:
    # the previous file, if any, stays as it was.
    home.activation.nix-auth = lib.hm.dag.entryAfter [ "writeBoundary" "linkGeneration" ] ''
      if ! run ${lib.escapeShellArgs command}; then
        warnEcho ${lib.escapeShellArg "nix-auth: rendering ${cfg.output} failed (see above); Nix keeps the tokens it had."}
      fi
    '';
  };
}
