# NixOS VM test of the NixOS module, with the fixtures in testdata/vm (a
# TEST-ONLY host key and sops stores of fake tokens encrypted to it).
#
# encrypted: a sops store decrypted with the host key, output for group wheel;
#            a new store in the configuration re-renders on switch; the
#            build checks the store's recipients; the health check runs.
# plain:     a file that sops-nix or agenix would have decrypted (faked with
#            environment.etc), default root-only output; a switch re-renders
#            although only the file's content changed.
{ self, pkgs }:

let
  vm = ../testdata/vm;
  plainLine = token: "access-tokens = github.com=${token}\n";
in
pkgs.testers.runNixOSTest {
  name = "nix-auth";

  nodes.encrypted =
    { lib, ... }:
    {
      imports = [ self.nixosModules.default ];

      # The host key, put where sshd would make it (sshd itself is not
      # needed, so identityPaths names it). mode makes a copy with that mode
      # instead of a symlink into the store.
      environment.etc."ssh/ssh_host_ed25519_key" = {
        source = vm + "/ssh_host_ed25519_key";
        mode = "0600";
      };

      services.nix-auth = {
        enable = true;
        secretsFile = vm + "/tokens.yaml";
        identityPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
        group = "wheel";
        # Building this node runs the recipient check in the sandbox.
        hostPublicKey = lib.removeSuffix "\n" (builtins.readFile (vm + "/ssh_host_ed25519_key.pub"));
        check.enable = true;
      };

      users.users.alice = {
        isNormalUser = true;
        extraGroups = [ "wheel" ];
      };
      users.users.bob.isNormalUser = true;

      specialisation.rotated.configuration = {
        services.nix-auth.secretsFile = lib.mkForce (vm + "/tokens-rotated.yaml");
      };
    };

  nodes.plain =
    { lib, ... }:
    {
      imports = [ self.nixosModules.default ];

      environment.etc."nix-auth-test/tokens.conf" = {
        text = plainLine "vmtest-token-0003";
        mode = "0400";
      };

      services.nix-auth = {
        enable = true;
        plainFile = "/etc/nix-auth-test/tokens.conf";
      };

      users.users.alice.isNormalUser = true;

      specialisation.rotated.configuration = {
        environment.etc."nix-auth-test/tokens.conf".text = lib.mkForce (plainLine "vmtest-token-0004");
      };
    };

  testScript =
    { nodes, ... }:
    let
      switchTo = node: "${node.system.build.toplevel}/specialisation/rotated/bin/switch-to-configuration test";
    in
    ''
      import json
      import shlex

      OUT = "/run/nix-auth/access-tokens.conf"
      SHOW = "nix --extra-experimental-features nix-command config show --json"


      def tokens(node, user):
          """The access-tokens (host -> token) that Nix run by user sees."""
          out = node.succeed(f"su -l {user} -c {shlex.quote(SHOW)}")
          return json.loads(out)["access-tokens"]["value"]


      def stat(node):
          """Mode, owner, group, inode and mtime of the output."""
          return node.succeed(f"stat -c '%a %U %G %i %y' {OUT}").strip()


      start_all()

      with subtest("encrypted: the host key decrypts the store at boot"):
          encrypted.wait_for_unit("nix-auth.service")
          encrypted.succeed(f"grep -Fx '!include {OUT}' /etc/nix/nix.conf")
          assert "systemd-user-sessions.service" in encrypted.succeed(
              "systemctl show -p Before --value nix-auth.service"
          )
          mode, owner, group, *_ = stat(encrypted).split()
          assert (mode, owner, group) == ("440", "root", "wheel"), stat(encrypted)

      with subtest("encrypted: Nix sees the token for root and wheel, not others"):
          want = {"github.com": "vmtest-token-0001"}
          assert tokens(encrypted, "root") == want
          assert tokens(encrypted, "alice") == want
          # Nix skips an include it cannot read without a word.
          assert tokens(encrypted, "bob") == {}

      with subtest("encrypted: the log masks the token"):
          encrypted.succeed("journalctl -u nix-auth.service --grep github.com")
          encrypted.fail("journalctl -u nix-auth.service | grep -F vmtest-token-0001")

      with subtest("encrypted: the health check reads the tokens, and fails without the forge"):
          # The VM has no network: the forge cannot answer, which fails the
          # check (and would page whoever watches failed units).
          encrypted.fail("systemctl start nix-auth-check.service")
          encrypted.succeed("journalctl -u nix-auth-check.service --grep github.com")
          encrypted.fail("journalctl -u nix-auth-check.service | grep -F vmtest-token-0001")

      with subtest("encrypted: a second run rewrites nothing"):
          before = stat(encrypted)
          encrypted.succeed("systemctl restart nix-auth.service")
          after = stat(encrypted)
          assert before == after, f"{before} != {after}"

      with subtest("encrypted: a new store is rendered on switch"):
          encrypted.succeed("${switchTo nodes.encrypted}")
          assert tokens(encrypted, "root") == {"github.com": "vmtest-token-0002"}

      with subtest("plain: the decrypted file is rendered, root-only by default"):
          plain.wait_for_unit("nix-auth.service")
          mode, owner, group, *_ = stat(plain).split()
          assert (mode, owner, group) == ("440", "root", "root"), stat(plain)
          assert tokens(plain, "root") == {"github.com": "vmtest-token-0003"}
          assert tokens(plain, "alice") == {}

      with subtest("plain: new content at the same path is rendered on switch"):
          plain.succeed("${switchTo nodes.plain}")
          assert tokens(plain, "root") == {"github.com": "vmtest-token-0004"}
    '';
}
