#!/usr/bin/env bash
# Recompute buildGoModule's vendorHash and write it into nix/package.nix.
#
# vendorHash is the NAR hash of what `go mod vendor` makes from the package's
# source, so this runs `go mod vendor` over a copy of exactly the files that
# nix/src-paths.nix gives the package, and hashes the result with
# `nix hash path` (Debian's nix-bin is enough: no store or daemon needed).
# It needs the Go module proxy or a module cache holding go.sum's modules.
#
# Usage: nix/update-vendor-hash.sh          rewrite the vendorHash line
#        nix/update-vendor-hash.sh --check  exit 1 when the line is stale
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pkg=$root/nix/package.nix
check=false
case "${1-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

for cmd in go nix nix-instantiate; do
  if ! command -v "$cmd" >/dev/null; then
    echo "error: $cmd is not on PATH" >&2
    echo "hint: apt-get install nix-bin (Debian), or run this in the flake's dev shell" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/src"

# The list is JSON strings without commas or quotes inside (plain paths).
mapfile -t paths < <(nix-instantiate --eval --strict --json "$root/nix/src-paths.nix" 2>/dev/null | tr -d '[]"' | tr ',' '\n')
if [ "${#paths[@]}" = 0 ] || [ -z "${paths[0]}" ]; then
  echo "error: cannot read the source list nix/src-paths.nix" >&2
  exit 1
fi
(cd "$root" && cp -r --parents "${paths[@]}" "$tmp/src/")

# As buildGoModule's goModules derivation: modules mode, no workspace, the
# local toolchain only.
if ! (cd "$tmp/src" && env GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local go mod vendor) >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  echo "error: go mod vendor failed on the package's source (nix/src-paths.nix); $pkg is unchanged" >&2
  echo "hint: run go mod tidy at the repository root, commit go.mod and go.sum, then run this again" >&2
  exit 1
fi
hash=$(nix --extra-experimental-features nix-command hash path "$tmp/src/vendor")

line="  vendorHash = \"$hash\";"
if [ "$(grep -c '^  vendorHash = .*;$' "$pkg")" != 1 ]; then
  echo "error: $pkg has no single '  vendorHash = ...;' line to rewrite" >&2
  exit 1
fi
current=$(grep '^  vendorHash = .*;$' "$pkg")
if [ "$current" = "$line" ]; then
  echo "vendorHash is up to date: $hash"
  exit 0
fi
if $check; then
  echo "error: vendorHash in $pkg is stale" >&2
  echo "  have: ${current#  }" >&2
  echo "  want: ${line#  }" >&2
  echo "hint: run nix/update-vendor-hash.sh" >&2
  exit 1
fi
sed -i "s|^  vendorHash = .*;\$|$line|" "$pkg"
echo "vendorHash set to $hash in $pkg"
