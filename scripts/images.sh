#!/usr/bin/env bash
# The container images, for `make image` and `make test-image` (docs/containers.md).
#   scripts/images.sh setup        install podman, runc and debootstrap when missing (apt-get,
#                                  as root), and make sure the base images are present
#                                  (scripts/base-images.sh: pulled, or a local stand-in)
#   scripts/images.sh build [TAG]  build the three images with podman, tagged TAG (default latest):
#                                  localhost/bucketscan-worker, localhost/bucketscan-clamd,
#                                  localhost/bucketscan-emulator; then print their sizes
# The Dockerfiles are the ones a user builds with docker or podman; nothing here changes them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
podman=$root/scripts/podman.sh

setup() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if ((${#missing[@]} > 0)); then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
      echo "images: ${missing[*]} missing; install them (Debian/Ubuntu: apt-get install podman runc debootstrap)" >&2
      exit 1
    fi
    echo "images: installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap
  fi
  "$root/scripts/base-images.sh"
}

build() {
  local tag=${1:-latest}
  local started=$SECONDS
  # --pull=never: the base images are whatever scripts/base-images.sh left locally.
  # --format docker: the OCI format has no HEALTHCHECK, and podman would drop it.
  # --network host: RUN steps reach Debian's and npm's registries through the host.
  local common=(build --pull=never --network host --layers --format docker)
  "$podman" "${common[@]}" -t "localhost/bucketscan-worker:$tag" -f "$root/Dockerfile" "$root"
  "$podman" "${common[@]}" -t "localhost/bucketscan-emulator:$tag" -f "$root/images/emulator/Dockerfile" "$root"
  "$podman" "${common[@]}" -t "localhost/bucketscan-clamd:$tag" -f "$root/images/clamd/Dockerfile" "$root/images/clamd"
  echo "images: built in $((SECONDS - started)) s:" >&2
  "$podman" image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' \
    --filter "reference=localhost/bucketscan-*:$tag" >&2
}

case ${1:-} in
  setup) setup ;;
  build) build "${2:-latest}" ;;
  *) echo "usage: scripts/images.sh setup | build [TAG]" >&2; exit 2 ;;
esac
