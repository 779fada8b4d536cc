#!/usr/bin/env bash
# Builds codealign-service:latest (docker/Dockerfile.service) OFFLINE: no container registry,
# only the Debian mirror apt uses and the Python package index pip uses.
#
#   the sandbox image's cached Debian bookworm root (debootstrap minbase + python3, 3.11)
#   + bubblewrap (the .deb from this machine's apt)
#   + codealign[service,ray] and its dependencies (pip --target, built by $PYTHON, a 3.11)
#       -> docker import codealign-service-base:recipe-<hash>
#   docker build --network none --build-arg BASE=that -f docker/Dockerfile.service
#       -> codealign-service:recipe-<hash>, :latest
#
# The recipe hash covers this script, the Dockerfile, pyproject.toml and the package's
# source; a rerun with the same hash only re-points :latest. Needs root (chroot, docker).
# Environment: CODEALIGN_SERVICE_IMAGE (default codealign-service:latest), CODEALIGN_CACHE,
# PYTHON (default: .venv/bin/python if present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${CODEALIGN_SERVICE_IMAGE:-codealign-service:latest}
REPO=${IMAGE%:*}
CACHE=${CODEALIGN_CACHE:-/var/cache/codealign}
TARBALL="$CACHE/debootstrap-bookworm-minbase-python3.tar"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
say() { echo "build_service_image: $*" >&2; }

RECIPE=$( { cat docker/build_service_image.sh docker/Dockerfile.service pyproject.toml;
            find codealign -type f \( -name '*.py' -o -path '*/data/*' -o -name '*.mako' \) \
              -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-12)
if docker image inspect "$REPO:recipe-$RECIPE" >/dev/null 2>&1; then
  docker tag "$REPO:recipe-$RECIPE" "$IMAGE"
  say "$IMAGE is up to date (recipe $RECIPE)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { say "needs root (chroot, docker import)"; exit 1; }
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$version" = 3.11 ] || { say "$PYTHON is Python $version; the image's Python is 3.11 (set PYTHON)"; exit 1; }
[ -s "$TARBALL" ] || docker/build_sandbox_image.sh    # builds and caches the Debian root

WORK=$(mktemp -d "${TMPDIR:-/tmp}/codealign-service.XXXXXX")
chmod 755 "$WORK"                       # apt-get download fetches as the _apt user
BASE="$REPO-base:recipe-$RECIPE"
trap 'rm -rf "$WORK"; docker rmi "$BASE" >/dev/null 2>&1 || true' EXIT
ROOT="$WORK/rootfs"
mkdir "$ROOT"
tar --numeric-owner -C "$ROOT" -xf "$TARBALL"

say "bubblewrap from this machine's apt"
(cd "$WORK" && apt-get download -qq bubblewrap >/dev/null)
cp "$WORK"/bubblewrap_*.deb "$ROOT/tmp/"
chroot "$ROOT" dpkg -i /tmp/$(basename "$WORK"/bubblewrap_*.deb) >/dev/null
rm -f "$ROOT"/tmp/*.deb

say "codealign[service,ray] and its dependencies (pip --target)"
"$PYTHON" -m pip install -q --no-compile --no-warn-conflicts --target "$ROOT/opt/codealign/site" ".[service,ray]"
rm -rf "$ROOT/opt/codealign/site/bin"
mkdir -p "$ROOT/opt/codealign/bin"
printf '#!/bin/sh\nexec /usr/bin/python3 -m codealign "$@"\n' > "$ROOT/opt/codealign/bin/codealign"
chmod 755 "$ROOT/opt/codealign/bin/codealign"
chroot "$ROOT" env PYTHONPATH=/opt/codealign/site /usr/bin/python3 -c \
  'import codealign.service.app, fastapi, sqlalchemy, psycopg, uvicorn'
rm -rf "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/* "$ROOT"/var/lib/apt/lists/*

say "importing the base ($(du -sh "$ROOT" | cut -f1)) as $BASE"
tar --numeric-owner -C "$ROOT" -c . | docker import --change 'ENV PATH=/usr/bin:/bin' - "$BASE" >/dev/null
docker build -q --network none --build-arg BASE="$BASE" -f docker/Dockerfile.service \
  -t "$REPO:recipe-$RECIPE" . >/dev/null
docker tag "$REPO:recipe-$RECIPE" "$IMAGE"
# Older recipes' images are superseded (the sandbox build keeps its own).
docker images --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep ":recipe-" | grep -v ":recipe-$RECIPE\$" \
  | xargs -r docker rmi >/dev/null 2>&1 || true
say "built $IMAGE (recipe $RECIPE)"
