#!/usr/bin/env bash
# Makes sure the base images the Dockerfiles start from are present locally:
#   docker.io/library/debian:bookworm-slim   (images/clamd/Dockerfile)
#   docker.io/library/node:24-bookworm-slim  (Dockerfile, images/emulator/Dockerfile)
#
# A present official image is used as is. Otherwise it is pulled. Where it cannot be
# pulled (machines with no route to a registry, like the ones this project is tested
# on), a local STAND-IN is built and tagged with the official name, so that the
# project's Dockerfiles build unchanged:
#   debian  debootstrap --variant=minbase bookworm, with the sources and dpkg
#           excludes of the official slim image;
#   node    that Debian plus the Node 24 binary the project already installed
#           (node_modules/node), npm, a `node` user (uid 1000) and this host's CA
#           bundle (NODE_EXTRA_CA_CERTS), for a TLS-intercepting proxy.
# A stand-in carries the label org.bucketscan.stand-in=true, is announced loudly
# every time it is used, and is replaced by the official image as soon as a pull
# succeeds. Images built on a stand-in are for local tests only: never push them.
#
#   scripts/base-images.sh            ensure both
# Needs root (debootstrap) only when a stand-in has to be built; about a minute.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
podman=$root/scripts/podman.sh

DEBIAN=docker.io/library/debian:bookworm-slim
NODE=docker.io/library/node:24-bookworm-slim
STAND_IN_LABEL=org.bucketscan.stand-in

say() { printf 'base-images: %s\n' "$*" >&2; }

shout() {
  local line='################################################################################'
  printf '\n%s\n' "$line" >&2
  local text
  for text in "$@"; do printf '# %s\n' "$text" >&2; done
  printf '%s\n\n' "$line" >&2
}

exists() { "$podman" image exists "$1"; }

is_stand_in() {
  [[ $("$podman" image inspect --format "{{index .Labels \"$STAND_IN_LABEL\"}}" "$1" 2>/dev/null) == true ]]
}

try_pull() {
  local log
  log=$(mktemp)
  if timeout 300 "$podman" pull --quiet "$1" >"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  say "cannot pull $1: $(tail -n 1 "$log")"
  rm -f "$log"
  return 1
}

announce_stand_in() {
  shout "STAND-IN BASE IMAGE: $1 is a local stand-in, not the official image" \
    "(it could not be pulled here; built by scripts/base-images.sh, $2)." \
    "Images built on it are for local tests only. Do not push or publish them."
}

# The Debian mirror apt uses on this machine, so the stand-in downloads from the same place.
apt_mirror() {
  local uri
  uri=$({ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
          grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'; } |
        grep -v -- '-security' | head -n 1 || true)
  printf '%s\n' "${DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

build_debian_stand_in() {
  command -v debootstrap >/dev/null || { say "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  local mirror dir log
  mirror=$(apt_mirror)
  dir=$(mktemp -d /var/tmp/bucketscan-debian.XXXXXX)
  log=$dir.log
  say "building a stand-in for $DEBIAN with debootstrap from $mirror (about a minute)"
  if ! debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -rf "$dir" "$log"
    say "debootstrap failed"
    exit 1
  fi
  rm -f "$log"
  # As in the official image: bookworm, its updates and the security archive.
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # The official slim image keeps documentation, manuals and locales out of every layer.
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  # ... and neither downloaded packages nor package lists once an install is done.
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/cache/apt/*.bin \
    "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log
  tar --numeric-owner -C "$dir" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
    "$podman" import --quiet \
      --change 'CMD ["bash"]' \
      --change "LABEL $STAND_IN_LABEL=true" \
      --message 'bucketscan stand-in for debian:bookworm-slim (debootstrap minbase)' \
      - "$DEBIAN" >/dev/null
  rm -rf "$dir"
}

build_node_stand_in() {
  local node npm ca context
  node=$root/node_modules/node/bin/node
  [[ -x $node ]] || { say "$node is missing: run npm ci first (the stand-in copies the project's Node 24)"; exit 1; }
  [[ $("$node" -p 'process.versions.node.split(".")[0]') == 24 ]] || { say "$node is not Node 24"; exit 1; }
  npm=$(npm root -g 2>/dev/null)/npm
  [[ -f $npm/bin/npm-cli.js ]] || { say "npm is missing (its package directory was expected at $npm)"; exit 1; }
  ca=/etc/ssl/certs/ca-certificates.crt
  [[ -f $ca ]] || { say "$ca is missing (apt-get install ca-certificates)"; exit 1; }
  context=$(mktemp -d /var/tmp/bucketscan-node.XXXXXX)
  cp "$node" "$context/node"
  cp -r "$npm" "$context/npm"
  cp "$ca" "$context/host-ca-certificates.crt"
  cat >"$context/Containerfile" <<EOF
FROM $DEBIAN
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY host-ca-certificates.crt /etc/ssl/certs/bucketscan-host-ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
# npm's registry traffic may pass a TLS-intercepting proxy that only this host's bundle trusts.
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/bucketscan-host-ca-certificates.crt
LABEL $STAND_IN_LABEL=true
CMD ["node"]
EOF
  say "building a stand-in for $NODE from $DEBIAN and $node"
  "$podman" build --quiet --pull=never --network host -t "$NODE" -f "$context/Containerfile" "$context" >/dev/null
  rm -rf "$context"
}

ensure() {
  local image=$1 builder=$2 how=$3
  if exists "$image" && ! is_stand_in "$image"; then
    say "using the local $image"
    return
  fi
  if try_pull "$image"; then
    say "pulled $image"
    return
  fi
  if exists "$image"; then
    announce_stand_in "$image" "kept from an earlier run"
    return
  fi
  "$builder"
  announce_stand_in "$image" "$how"
}

ensure "$DEBIAN" build_debian_stand_in "debootstrap minbase bookworm"
ensure "$NODE" build_node_stand_in "Debian stand-in plus this machine's Node 24"
