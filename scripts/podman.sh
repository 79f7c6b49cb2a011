#!/usr/bin/env bash
# podman with the settings the project's image targets use (make image,
# make test-image; docs/containers.md): the runc runtime and cgroupfs, which work
# on machines where crun or the systemd cgroup manager do not, and no default
# ulimits (podman's raise RLIMIT_NOFILE/NPROC, which some machines forbid).
#   scripts/podman.sh <podman arguments>
# CONTAINERS_CONF, PODMAN_RUNTIME and PODMAN_CGROUP_MANAGER override the choices.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v podman >/dev/null 2>&1; then
  echo "podman is not installed (Debian/Ubuntu: apt-get install podman runc; make test-image installs it)" >&2
  exit 2
fi

if [[ -z ${CONTAINERS_CONF:-} ]]; then
  conf=$root/.local/podman/containers.conf
  if [[ ! -f $conf ]]; then
    mkdir -p "$(dirname "$conf")"
    printf '# Written by scripts/podman.sh: no default ulimits (raising them is not permitted everywhere).\n[containers]\ndefault_ulimits = []\n' >"$conf.tmp.$$"
    mv "$conf.tmp.$$" "$conf"
  fi
  export CONTAINERS_CONF=$conf
fi

# HEALTHCHECK exists only in the docker image format; podman builds OCI images
# unless told otherwise, and would drop it (also for podman-compose --podman-path).
export BUILDAH_FORMAT=${BUILDAH_FORMAT:-docker}

exec podman --runtime "${PODMAN_RUNTIME:-runc}" --cgroup-manager "${PODMAN_CGROUP_MANAGER:-cgroupfs}" "$@"
