#!/bin/sh
# Updater step 2b (the clamd image), only when third-party feeds are enabled:
# FEEDS names them, one "<url> <seconds>" per line, a database file and the least
# time between two requests for it (the provider's rate limit).
#
# freshclam fetches each with DatabaseCustomURL: it asks with If-Modified-Since,
# tests the file by loading it, and keeps the copy it has when a new one fails
# to load or to download. One freshclam run per file, so that one failing feed
# does not hold back the others (freshclam stops at the first URL that fails). A
# file asked for less than its interval ago is not asked for again (its last
# request is the time of feeds/.fetched-<file>, restored from the mirror). A feed
# that fails is reported and keeps its last good copy; the step still succeeds,
# so the mirror's official database is published whatever the feeds do.
# Environment: FEEDS; FEEDS_DIR (default /var/lib/clamav/feeds).
set -u
[ -n "${FEEDS:-}" ] || exit 0
feeds=${FEEDS_DIR:-/var/lib/clamav/feeds}
mkdir -p "$feeds"
now=$(date +%s)
failed=0
# A here-document, not a pipe: the loop runs in this shell, so "failed" survives it.
while read -r url interval; do
  [ -n "$url" ] || continue
  name=${url##*/}
  stamp="$feeds/.fetched-$name"
  if [ -f "$stamp" ] && [ $((now - $(date -r "$stamp" +%s))) -lt "${interval:-3600}" ]; then
    echo "feeds: $name was asked for less than ${interval:-3600} s ago: not asked again yet"
    continue
  fi
  config=/tmp/freshclam-feed.conf
  cat >"$config" <<CONF
DatabaseDirectory $feeds
DatabaseOwner $(id -un)
DatabaseMirror database.clamav.net
ExcludeDatabase daily
ExcludeDatabase main
ExcludeDatabase bytecode
DatabaseCustomURL $url
Foreground yes
LogTime yes
CONF
  : >"$stamp"
  freshclam --config-file="$config" --stdout
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    echo "feeds: $name could not be updated (freshclam exit $rc): its last good copy is kept" >&2
    failed=$((failed + 1))
  fi
done <<FEEDS
$FEEDS
FEEDS
[ "$failed" -eq 0 ] || echo "feeds: $failed feed file(s) not updated this time" >&2
exit 0
