#!/usr/bin/env bash
# Recompute buildGoModule's vendorHash lines: the package's in
# nix/package.nix and the test tools' in nix/tools.nix.
#
# vendorHash is the NAR hash of what `go mod vendor` makes from a source, so
# this runs `go mod vendor` over a copy of exactly the files that
# nix/src-paths.nix gives the package (and over tools/go.mod and go.sum for
# the tools), and hashes the result with `nix hash path` (Debian's nix-bin
# is enough: no store or daemon needed). It needs the Go module proxy or a
# module cache holding the go.sum files' modules.
#
# Usage: nix/update-vendor-hash.sh          rewrite the vendorHash lines
#        nix/update-vendor-hash.sh --check  exit 1 when a line is stale
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

# vendor_hash DIR prints the NAR hash of `go mod vendor` run in DIR as
# buildGoModule's goModules derivation runs it: modules mode, no workspace,
# the local toolchain only.
vendor_hash() {
  if ! (cd "$1" && env GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local go mod vendor) >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    echo "error: go mod vendor failed in a copy of $2; nothing was changed" >&2
    echo "hint: run go mod tidy in $2, commit go.mod and go.sum, then run this again" >&2
    exit 1
  fi
  nix --extra-experimental-features nix-command hash path "$1/vendor"
}

# set_hash FILE HASH rewrites (or with --check compares) FILE's one
# '  vendorHash = "...";' line; stale says whether any line was.
stale=false
set_hash() {
  local file=$1 line="  vendorHash = \"$2\";" current
  if [ "$(grep -c '^  vendorHash = .*;$' "$file")" != 1 ]; then
    echo "error: $file has no single '  vendorHash = ...;' line to rewrite" >&2
    exit 1
  fi
  current=$(grep '^  vendorHash = .*;$' "$file")
  if [ "$current" = "$line" ]; then
    echo "$file: vendorHash is up to date: $2"
  elif $check; then
    echo "error: vendorHash in $file is stale" >&2
    echo "  have: ${current#  }" >&2
    echo "  want: ${line#  }" >&2
    stale=true
  else
    sed -i "s|^  vendorHash = .*;\$|$line|" "$file"
    echo "$file: vendorHash set to $2"
  fi
}

pkg_hash=$(vendor_hash "$tmp/src" "the package's source (nix/src-paths.nix)")
mkdir "$tmp/tools"
cp "$root/tools/go.mod" "$root/tools/go.sum" "$tmp/tools/"
tools_hash=$(vendor_hash "$tmp/tools" "tools/")
set_hash "$pkg" "$pkg_hash"
set_hash "$root/nix/tools.nix" "$tools_hash"
if $stale; then
  echo "hint: run nix/update-vendor-hash.sh" >&2
  exit 1
fi
