#!/bin/sh
# Updater step 2 (the clamd image): one freshclam run against the ClamAV CDN,
# with DNS version checks (nothing is downloaded unless the CDN has something
# newer) and whole signed .cvd files (ScriptedUpdates off, so no unsigned .cld).
# freshclam's exit code 1 means "already up to date", a success here.
set -u
config=/tmp/freshclam.conf
cat >"$config" <<CONF
DatabaseDirectory /var/lib/clamav
DatabaseMirror database.clamav.net
ScriptedUpdates no
Foreground yes
LogTime yes
CONF
freshclam --config-file="$config" --stdout
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
  exit 0
fi
echo "freshclam failed (exit $rc): the updater needs the internet (a NAT gateway, or a public IP)" >&2
exit "$rc"
