#!/bin/sh
# Updater step 1 (AWS CLI image): copy the mirror's signed .cvd files and
# freshclam.dat (freshclam's cool-down state after a 429 from the CDN) into the
# task's shared volume, so that freshclam downloads only what changed.
# Environment: MIRROR_BUCKET; DATABASE_DIR (default /database).
set -eu
: "${MIRROR_BUCKET:?MIRROR_BUCKET must name the mirror bucket}"
database=${DATABASE_DIR:-/database}
aws s3 sync "s3://$MIRROR_BUCKET/" "$database/" --no-progress --exclude '*' --include '*.cvd' --include 'freshclam.dat'
# freshclam runs as another user (clamav) in the next container.
chmod -R a+rwX "$database"
