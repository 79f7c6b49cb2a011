#!/bin/sh
# Updater step 3 (AWS CLI image): copy the signed .cvd files (and freshclam.dat)
# back to the mirror bucket, then report the age of the daily database now in the
# mirror as an embedded-metric-format line, which CloudWatch turns into the
# metric bucketscan_mirror_definitions_age_seconds: the MirrorStale alarm watches
# it, and its absence, whether or not any scanning task runs.
#
# Also, under the mirror's folders that every clamd reads besides the official
# database: the third-party feeds freshclam fetched and tested (feeds/), and in
# custom/ a whole detection set (bucketscan signatures publish, bucketscan allow):
# each clamd fetches every file of the set and fails its update when one is
# missing, so any file not there yet is written as an empty one (a comment; never
# over a published file: the write is conditional), and bucketscan-limits.json,
# the memory a clamd has for its databases, which the publish commands check a
# set against.
# Environment: MIRROR_BUCKET, METRICS_NAMESPACE; DATABASE_DIR (default /database);
# CUSTOM_DATABASE_FILES (the set's file names), DATABASE_MEMORY_MIB, CLAMD_MEMORY_MIB.
set -eu
: "${MIRROR_BUCKET:?MIRROR_BUCKET must name the mirror bucket}"
: "${METRICS_NAMESPACE:?METRICS_NAMESPACE must be set}"
database=${DATABASE_DIR:-/database}

# A .cvd starts with a 512-byte text header: ClamAV-VDB:<build time>:<version>:...
# with the build time as "06 Dec 2026 08-30 +0000".
header=$(head -c 512 "$database/daily.cvd" | tr -d '\000')
built=$(printf '%s' "$header" | cut -d: -f2 | sed 's/ \([0-9][0-9]\)-\([0-9][0-9]\) / \1:\2 /')
built_at=$(date -u -d "$built" +%s) || {
  echo "publish: cannot read the build time of $database/daily.cvd (header: $(printf '%s' "$header" | cut -c1-80))" >&2
  exit 1
}
# Only now, with a database whose header reads, is anything published.
aws s3 sync "$database/" "s3://$MIRROR_BUCKET/" --no-progress --exclude '*' --include '*.cvd' --include 'freshclam.dat'

if [ -d "$database/feeds" ]; then
  # Only what freshclam kept (tested); not its scratch files.
  aws s3 sync "$database/feeds/" "s3://$MIRROR_BUCKET/feeds/" --no-progress --exclude 'freshclam.dat' --exclude 'tmp.*' --exclude '*.tmp*'
fi

if [ -n "${CUSTOM_DATABASE_FILES:-}" ]; then
  empty=$(mktemp)
  errors=$(mktemp)
  present=$(aws s3api list-objects-v2 --bucket "$MIRROR_BUCKET" --prefix custom/ --query 'Contents[].Key' --output text)
  for name in $CUSTOM_DATABASE_FILES; do
    case " $present " in *[[:space:]]"custom/$name"[[:space:]]*) continue ;; esac
    case "$name" in
      *.yar) printf '// nothing published yet (bucketscan signatures publish): clamd refuses an empty database file\n' >"$empty" ;;
      *) printf '# nothing published yet (bucketscan signatures publish, bucketscan allow): clamd refuses an empty database file\n' >"$empty" ;;
    esac
    if aws s3api put-object --bucket "$MIRROR_BUCKET" --key "custom/$name" --body "$empty" --content-type 'text/plain; charset=utf-8' \
      --if-none-match '*' >/dev/null 2>"$errors"; then
      echo "publish: custom/$name was missing: written empty"
    elif ! grep -q 'PreconditionFailed\|ConditionalRequestConflict' "$errors"; then
      cat "$errors" >&2
      exit 1
    fi
  done
  printf '{"format":"bucketscan-limits","databaseMemoryMiB":%s,"clamdMemoryMiB":%s}\n' \
    "${DATABASE_MEMORY_MIB:?DATABASE_MEMORY_MIB must be set with CUSTOM_DATABASE_FILES}" "${CLAMD_MEMORY_MIB:-null}" >"$empty"
  aws s3 cp "$empty" "s3://$MIRROR_BUCKET/custom/bucketscan-limits.json" --no-progress --content-type application/json >/dev/null
  rm -f "$empty" "$errors"
fi

now=$(date -u +%s)
age=$((now - built_at))
printf '{"_aws":{"Timestamp":%s000,"CloudWatchMetrics":[{"Namespace":"%s","Dimensions":[[]],"Metrics":[{"Name":"bucketscan_mirror_definitions_age_seconds","Unit":"Seconds"}]}]},"bucketscan_mirror_definitions_age_seconds":%s,"version":"%s"}\n' \
  "$now" "$METRICS_NAMESPACE" "$age" "$(printf '%s' "$header" | cut -d: -f3)"
