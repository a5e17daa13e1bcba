// Package crypt keeps nix-auth's tokens in encrypted stores that live in a
// flake repository and are shared by every host that can decrypt them.
//
// Two formats are chosen by file extension: sops files (.yaml, .yml, .json),
// read and written by this package's own implementation of sops 3.13.3's
// format (sopstree.go, sopsyaml.go, sopsjson.go, sopsmeta.go, and
// shamir.go for key groups; nothing of sops is imported), and age files
// (.age), as agenix uses them. Recipients come from .sops.yaml creation
// rules (found as sops finds them), from agenix's secrets.nix (evaluated with
// nix-instantiate, as agenix does) or from --recipient flags, never from an
// .age file itself (File.Declare has the rule); identities are
// looked up in sops's order and under sops's names. ssh-ed25519 host keys are
// turned into age keys with the same conversion as ssh-to-age, byte for byte,
// because sops-nix decrypts with the converted key at activation. Rekeying
// re-encrypts a store to the recipients its configuration now names.
package crypt
