#!/bin/sh
# Updater step 3 (AWS CLI image): copy the signed .cvd files (and freshclam.dat)
# back to the mirror bucket, then report the age of the daily database now in the
# mirror as an embedded-metric-format line, which CloudWatch turns into the
# metric bucketscan_mirror_definitions_age_seconds: the MirrorStale alarm watches
# it, and its absence, whether or not any scanning task runs.
# Environment: MIRROR_BUCKET, METRICS_NAMESPACE; DATABASE_DIR (default /database).
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
now=$(date -u +%s)
age=$((now - built_at))
printf '{"_aws":{"Timestamp":%s000,"CloudWatchMetrics":[{"Namespace":"%s","Dimensions":[[]],"Metrics":[{"Name":"bucketscan_mirror_definitions_age_seconds","Unit":"Seconds"}]}]},"bucketscan_mirror_definitions_age_seconds":%s,"version":"%s"}\n' \
  "$now" "$METRICS_NAMESPACE" "$age" "$(printf '%s' "$header" | cut -d: -f3)"
