#!/usr/bin/env bash
# Builds codealign-sandbox:latest, the image of the docker sandbox backend, OFFLINE: no
# container registry is needed, only a Debian mirror (the one this machine's apt uses).
#
#   debootstrap --variant=minbase --include=python3 bookworm   ->  a root filesystem
#                                                              ->  a tarball cached in $CACHE
#   unpacked, trimmed (docs, locales, perl, apt), tar | docker import
#                                                              ->  codealign-sandbox:latest
#
# Debian bookworm's python3 is 3.11. The image holds no harness code: the backend
# bind-mounts the package's own zygote.py read-only at /harness/zygote.py, so image and
# code never drift apart. Where a registry is reachable, docker/Dockerfile.sandbox builds
# an equivalent image FROM python:3.11-slim.
#
# Idempotent and cached: the image is also tagged codealign-sandbox:recipe-<hash of this
# file>; a rerun with that tag present only re-points :latest. The root filesystem tarball
# from debootstrap is kept in $CODEALIGN_CACHE (default /var/cache/codealign), outside the
# repository, so a rebuild (a new recipe, `docker system prune`) is a local import.
# Needs root (debootstrap, chroot, docker).
#
# Environment: CODEALIGN_SANDBOX_IMAGE (default codealign-sandbox:latest),
# CODEALIGN_CACHE, CODEALIGN_DEBIAN_MIRROR (default: from /etc/apt/sources.list*).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${CODEALIGN_SANDBOX_IMAGE:-codealign-sandbox:latest}
REPO=${IMAGE%:*}
CACHE=${CODEALIGN_CACHE:-/var/cache/codealign}
SUITE=bookworm
RECIPE=$(sha256sum docker/build_sandbox_image.sh | cut -c1-12)
RECIPE_TAG="$REPO:recipe-$RECIPE"

say() { echo "build_sandbox_image: $*" >&2; }

if docker image inspect "$RECIPE_TAG" >/dev/null 2>&1; then
  docker tag "$RECIPE_TAG" "$IMAGE"
  say "$IMAGE is up to date (recipe $RECIPE)"
  exit 0
fi

# The Debian mirror this machine's apt already uses (deb822 or one-line format).
debian_mirror() {
  if [ -n "${CODEALIGN_DEBIAN_MIRROR:-}" ]; then echo "$CODEALIGN_DEBIAN_MIRROR"; return; fi
  local url=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    url=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' \
          /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  fi
  if [ -z "$url" ] && [ -f /etc/apt/sources.list ]; then
    url=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) {print $i; exit}}' \
          /etc/apt/sources.list | head -n1)
  fi
  echo "${url:-http://deb.debian.org/debian}"
}

mkdir -p "$CACHE"
# The plain debootstrap result is cached under a name of what went into it; trimming
# happens at import, so a change below re-imports without downloading again.
TARBALL="$CACHE/debootstrap-$SUITE-minbase-python3.tar"
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { say "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  [ "$(id -u)" = 0 ] || { say "building the root filesystem needs root (debootstrap)"; exit 1; }
  MIRROR=$(debian_mirror)
  WORK=$(mktemp -d "$CACHE/build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  say "debootstrap $SUITE (minbase + python3) from $MIRROR; takes a few minutes"
  debootstrap --variant=minbase --include=python3 "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
  tar --numeric-owner -C "$WORK/rootfs" -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
  rm -rf "$WORK"
  trap - EXIT
fi

[ "$(id -u)" = 0 ] || { say "unpacking the root filesystem needs root"; exit 1; }
WORK=$(mktemp -d "$CACHE/import.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"
mkdir "$ROOT"
tar --numeric-owner -C "$ROOT" -xf "$TARBALL"
version=$(chroot "$ROOT" /usr/bin/python3 -I -S -c 'import sys, ctypes; print("%d.%d" % sys.version_info[:2])')
[ "$version" = 3.11 ] || { say "the root filesystem has Python $version, expected 3.11"; exit 1; }
# Smaller is faster: with the vfs storage driver every new container copies the whole
# image. Nothing in the sandbox needs documentation, locales, iconv modules, perl or apt.
# The stdlib's compiled __pycache__ stays (the root is read-only at run time; without it
# every import a candidate makes would compile from source).
rm -rf "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
       "$ROOT"/usr/share/locale/* "$ROOT"/usr/share/lintian "$ROOT"/usr/share/i18n \
       "$ROOT"/usr/share/zoneinfo/right "$ROOT"/usr/share/zoneinfo/posix \
       "$ROOT"/usr/lib/x86_64-linux-gnu/gconv \
       "$ROOT"/usr/bin/perl* "$ROOT"/usr/lib/x86_64-linux-gnu/perl-base "$ROOT"/usr/share/perl5 \
       "$ROOT"/usr/bin/apt* "$ROOT"/usr/lib/apt "$ROOT"/usr/lib/x86_64-linux-gnu/libapt-* \
       "$ROOT"/usr/lib/python3.11/pydoc_data \
       "$ROOT"/var/cache/apt/* "$ROOT"/var/cache/debconf/* "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*
chroot "$ROOT" /usr/bin/python3 -I -S -c 'import ctypes, json, marshal, resource, selectors, decimal, statistics, subprocess, hashlib, unicodedata'
# The mount point of the bind-mounted harness (the root is read-only at run time).
mkdir -p "$ROOT/harness"
: >"$ROOT/harness/zygote.py"

say "importing the trimmed root filesystem ($(du -sh "$ROOT" | cut -f1)) as $IMAGE"
tar --numeric-owner -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/bin:/bin LANG=C.UTF-8' \
  --change 'WORKDIR /tmp' \
  --change 'USER 65534:65534' \
  --change 'CMD ["/usr/bin/python3", "-I", "-S", "-B", "/harness/zygote.py"]' \
  --message "codealign sandbox, recipe $RECIPE" \
  - "$RECIPE_TAG" >/dev/null
rm -rf "$WORK"
trap - EXIT
docker tag "$RECIPE_TAG" "$IMAGE"
docker run --rm --network none --read-only "$IMAGE" /usr/bin/python3 -I -S -c \
  'import ctypes, json, marshal, resource, selectors; import sys; print("python", sys.version.split()[0])' >&2
say "built $IMAGE (recipe $RECIPE)"
