#!/usr/bin/env bash
# Builds the console node's image from a binary compiled on this machine:
#
#   deploy/build-image.sh [BINARY] [TAG] [BASE]
#
# BINARY defaults to target/release/ractor-dist-node (cargo build --release -p
# integration-tests --bin ractor-dist-node), TAG to ractor-dist-node:latest, BASE to
# scratch (nothing is pulled). The binary and the shared libraries ldd lists for it are
# copied into a build context with deploy/Dockerfile, which `docker build` then runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:-$here/../target/release/ractor-dist-node}"
tag="${2:-ractor-dist-node:latest}"
base="${3:-scratch}"
[ -x "$binary" ] || { echo "no executable $binary (cargo build --release -p integration-tests --bin ractor-dist-node)" >&2; exit 1; }

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
root="$context/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp"
# Without its debug information when `strip` is there (a debug build is ~200 MB with it).
strip --strip-debug -o "$root/usr/local/bin/ractor-dist-node" "$binary" 2>/dev/null \
  || cp "$binary" "$root/usr/local/bin/ractor-dist-node"
# Every library the binary loads (the dynamic loader included), at the same path.
for lib in $(ldd "$binary" | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Host names from /etc/hosts (which Docker writes) before DNS; an unprivileged user.
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
echo 'node:x:65532:65532:ractor-dist:/tmp:/sbin/nologin' > "$root/etc/passwd"
echo 'node:x:65532:' > "$root/etc/group"
chmod 1777 "$root/tmp"
cp "$here/Dockerfile" "$context/Dockerfile"
docker build --quiet --build-arg "BASE=$base" -t "$tag" "$context"
