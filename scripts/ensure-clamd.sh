#!/usr/bin/env bash
# Installs ClamAV's daemon when it is missing. Only the binary is needed: the
# project starts its own clamd with a generated configuration.
set -euo pipefail

if command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "bucketscan: clamd is not installed and apt-get is not available here." >&2
  echo "  Install ClamAV's daemon with your package manager (Debian/Ubuntu: clamav-daemon," >&2
  echo "  Fedora: clamd, macOS: brew install clamav), or point CLAMD_HOST/CLAMD_PORT at a running clamd." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "bucketscan: clamd is missing and installing it needs root: run 'apt-get install clamav-daemon' as root." >&2
    exit 1
  fi
fi

echo "bucketscan: clamd not found; installing clamav-daemon with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends clamav-daemon >/dev/null
command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || { echo "bucketscan: clamav-daemon installed but clamd is still missing" >&2; exit 1; }
echo "bucketscan: clamd installed ($(/usr/sbin/clamd --version 2>/dev/null || clamd --version))" >&2
