#!/bin/bash
# Entrypoint of the bucketscan clamd image (images/clamd/Dockerfile). It turns the
# environment into clamd.conf and freshclam.conf, makes sure there is a database,
# then runs clamd in the foreground with freshclam's daemon beside it. Every
# variable is documented in docs/containers.md; the scan limits and alert options
# follow docs/clamd.md and are derived exactly as renderClamdConfig
# (src/local/clamd-process.ts) derives them for the local stack.
#
#   clamd-entrypoint [clamd]       run clamd (the default command)
#   clamd-entrypoint print-config  print the clamd.conf this environment gives, and exit
#   clamd-entrypoint <command...>  run something else in the image (bash, clamscan ...)
#
# A bad variable stops it before anything starts: exit 2 and one line naming it.
set -euo pipefail

readonly CONFIG_DIR=/run/clamav
readonly DATABASE_DIR=/var/lib/clamav
readonly TEMPORARY_DIR=/var/spool/clamd
readonly CLAMD_CONF=$CONFIG_DIR/clamd.conf
readonly FRESHCLAM_CONF=$CONFIG_DIR/freshclam.conf
readonly EXTRA_MANIFEST=$DATABASE_DIR/.bucketscan-extra-signatures

readonly MIB=1048576
# libclamav cannot scan a single file of 2 GB or more; clamd clamps MaxFileSize to this.
readonly LIBCLAMAV_MAX_FILE_SIZE=2147483645
# MaxFileSize stays this far above MaxScanSize (docs/clamd.md, "Why MaxFileSize is
# above MaxScanSize"): clamd cuts a zip member down to MaxFileSize without an alert,
# and only MaxScanSize then reports it.
readonly FILE_SIZE_MARGIN=65536
readonly MAX_STREAM_BYTES=$((LIBCLAMAV_MAX_FILE_SIZE - FILE_SIZE_MARGIN))
# Extracted content counts toward MaxScanSize, so an archive needs room beyond its own size.
readonly SCAN_SIZE_FACTOR=4
readonly MAX_SIZE_OPTION=4294967295
# Plain-text signature formats clamd loads from its database directory (as in clamd-process.ts).
readonly SIGNATURE_EXTENSIONS=' hdb hsb hdu hsu mdb msb mdu msu ndb ndu ldb ldu cdb cat crb idb ign ign2 fp sfp pdb gdb wdb ftm yar yara '

log() { printf 'clamd-entrypoint: %s\n' "$*" >&2; }
config_error() { printf 'clamd-entrypoint: configuration error: %s: %s\n' "$1" "$2" >&2; exit 2; }

# read_number VAR NAME DEFAULT MIN MAX: the whole number in $NAME (blank: DEFAULT) into VAR.
read_number() {
  local var=$1 name=$2 default=$3 min=$4 max=$5 raw=${!2-}
  if [[ $raw =~ ^[[:space:]]*$ ]]; then
    printf -v "$var" '%s' "$default"
    return
  fi
  if [[ ! $raw =~ ^[[:space:]]*([0-9]{1,12})[[:space:]]*$ ]] || ((10#${BASH_REMATCH[1]} < min || 10#${BASH_REMATCH[1]} > max)); then
    config_error "$name" "must be a whole number from $min to $max, got \"$raw\""
  fi
  printf -v "$var" '%s' "$((10#${BASH_REMATCH[1]}))"
}

# read_megabytes VAR NAME DEFAULT MAX_BYTES: $NAME in MiB (blank: DEFAULT), decimals allowed as
# in the worker's MAX_FILE_SIZE, into VAR as bytes, rounded down as the worker rounds it, so
# the same number on both sides gives StreamMaxLength equal to the worker's largest file.
read_megabytes() {
  local var=$1 name=$2 default=$3 max=$4 raw=${!2-} whole fraction bytes
  [[ $raw =~ ^[[:space:]]*$ ]] && raw=$default
  if [[ ! $raw =~ ^[[:space:]]*([0-9]{1,4})(\.([0-9]{1,6}))?[[:space:]]*$ ]]; then
    config_error "$name" "must be a number of megabytes (MiB) above 0 and at most $((max / MIB)), got \"${!name}\""
  fi
  whole=$((10#${BASH_REMATCH[1]}))
  fraction=${BASH_REMATCH[3]:-0}
  # bytes = floor((whole + 0.fraction) * MiB), in integers: the fraction scaled to 6 digits.
  fraction=$((10#$(printf '%-6s' "$fraction" | tr ' ' 0)))
  bytes=$((whole * MIB + fraction * MIB / 1000000))
  if ((bytes < 1 || bytes > max)); then
    config_error "$name" "must be a number of megabytes (MiB) above 0 and at most $((max / MIB)), got \"${!name}\""
  fi
  printf -v "$var" '%s' "$bytes"
}

# read_words VAR NAME: the blank-separated words of $NAME into the array VAR, each checked
# to be a host name or URL (a blank or a line break would start another option).
read_words() {
  local -n into=$1
  local name=$2 word pattern='^[A-Za-z0-9._:/@%?=&~+-]+$'
  read -r -a into <<<"${!2-}" || true
  for word in "${into[@]}"; do
    [[ $word =~ $pattern ]] || config_error "$name" "\"$word\" is not a host name or URL"
  done
}

settings_from_environment() {
  tcp_addr=${CLAMD_TCP_ADDR:-127.0.0.1}
  [[ $tcp_addr =~ ^[A-Za-z0-9.:_-]+$ ]] || config_error CLAMD_TCP_ADDR "must be an IP address or host name, got \"$tcp_addr\""
  read_number tcp_port CLAMD_TCP_PORT 3310 1 65535
  read_number max_threads CLAMD_MAX_THREADS 10 1 1000
  # At most 2047 MiB, as the worker's MAX_FILE_SIZE (MAX_STREAM_BYTES is just above that).
  read_megabytes stream_max CLAMD_STREAM_MAX_LENGTH_MB 100 $(((MAX_STREAM_BYTES / MIB) * MIB))

  # Derived as scanLimitsFor() does; an explicit MaxScanSize moves the derived MaxFileSize with it.
  local scan_mb file_mb
  read_number scan_mb CLAMD_MAX_SCAN_SIZE_MB 0 1 $((MAX_STREAM_BYTES / MIB))
  if ((scan_mb > 0)); then
    max_scan_size=$((scan_mb * MIB))
  else
    max_scan_size=$((stream_max * SCAN_SIZE_FACTOR))
    ((max_scan_size <= MAX_STREAM_BYTES)) || max_scan_size=$MAX_STREAM_BYTES
  fi
  read_number file_mb CLAMD_MAX_FILE_SIZE_MB 0 1 $((LIBCLAMAV_MAX_FILE_SIZE / MIB))
  if ((file_mb > 0)); then
    max_file_size=$((file_mb * MIB))
    if ((max_file_size < max_scan_size + FILE_SIZE_MARGIN)); then
      config_error CLAMD_MAX_FILE_SIZE_MB "must be above MaxScanSize ($max_scan_size bytes) by at least $FILE_SIZE_MARGIN bytes: clamd cuts zip members down to MaxFileSize without an alert, and only MaxScanSize then reports it (docs/clamd.md)"
    fi
  else
    max_file_size=$((max_scan_size + FILE_SIZE_MARGIN))
  fi
  read_number max_files CLAMD_MAX_FILES 10000 1 $MAX_SIZE_OPTION
  read_number max_recursion CLAMD_MAX_RECURSION 17 1 $MAX_SIZE_OPTION
  read_number max_scan_time CLAMD_MAX_SCAN_TIME_MS 90000 1 $MAX_SIZE_OPTION
  # clamd keeps connections waiting for a thread; twice MaxThreads is clamd's advice, 100 its default.
  max_queue=$((max_threads * 2 > 100 ? max_threads * 2 : 100))

  freshclam=$(tr '[:upper:]' '[:lower:]' <<<"${FRESHCLAM:-on}" | tr -d '[:space:]')
  [[ $freshclam == on || $freshclam == off ]] || config_error FRESHCLAM "must be on or off, got \"$FRESHCLAM\""
  read_number freshclam_checks FRESHCLAM_CHECKS 12 1 50
  read_words database_mirrors FRESHCLAM_DATABASE_MIRROR
  read_words private_mirrors FRESHCLAM_PRIVATE_MIRROR

  extra_dir=${CLAMD_EXTRA_SIGNATURES_DIR:-}
  if [[ -n $extra_dir && ! ( -d $extra_dir && -r $extra_dir && -x $extra_dir ) ]]; then
    config_error CLAMD_EXTRA_SIGNATURES_DIR "\"$extra_dir\" is not a readable directory (mount it into the container)"
  fi
}

render_clamd_config() {
  cat <<EOF
# Generated by clamd-entrypoint from the environment; rewritten on every start.
# docs/containers.md lists the variables, docs/clamd.md explains the limits and alerts.

# tini (PID 1) and the entrypoint own the lifetime; the log goes to the container's output.
Foreground yes
LogTime yes
# Log the size and hash of each detection, which is what one needs to chase a false positive.
ExtendedDetectionInfo yes

TCPSocket $tcp_port
TCPAddr $tcp_addr

DatabaseDirectory $DATABASE_DIR
# Signatures from CLAMD_EXTRA_SIGNATURES_DIR are unsigned; they load alongside the official ones.
OfficialDatabaseOnly no
# Every INSTREAM is spooled here as a file (up to StreamMaxLength), and archive members
# are extracted here: a volume sized for MaxThreads of them at once (docs/containers.md).
TemporaryDirectory $TEMPORARY_DIR

# Longest INSTREAM; clamd replies "INSTREAM size limit exceeded" and hangs up past it.
# Keep it at least the worker's MAX_FILE_SIZE.
StreamMaxLength $stream_max
MaxThreads $max_threads
MaxQueue $max_queue

# Scan limits (docs/clamd.md). Sizes are in bytes so nothing depends on how clamd rounds "M".
# Total data examined per stream, extracted archive members included, so ${SCAN_SIZE_FACTOR}x the
# stream leaves room for archives and documents.
MaxScanSize $max_scan_size
# Largest single file, or file inside an archive. Deliberately ABOVE MaxScanSize: clamd cuts a
# zip member larger than this down to this size and says nothing (AlertExceedsMax or not); a
# member that large is then over MaxScanSize, which does raise Heuristics.Limits.Exceeded.
MaxFileSize $max_file_size
MaxRecursion $max_recursion
MaxFiles $max_files
# Below the worker's default CLAMD_TIMEOUT (120 s), so a slow scan ends with clamd's own
# answer (a limit alert) instead of a client timeout.
MaxScanTime $max_scan_time
# PCRE subsignatures are skipped on larger files; keep them for everything that is scanned.
PCREMaxFileSize $max_file_size

# Never silently clean: what clamd could not fully inspect (past a limit, or encrypted)
# becomes a Heuristics.Limits.Exceeded.* or Heuristics.Encrypted.* detection, which
# bucketscan reports as UNSCANNABLE.
AlertExceedsMax yes
AlertEncrypted yes
AlertEncryptedArchive yes
AlertEncryptedDoc yes
# When a file both matches a signature and hits a limit, report the signature (INFECTED).
HeuristicScanPrecedence no
# Malformed executables and media are common among legitimate uploads.
AlertBrokenExecutables no
AlertBrokenMedia no
AlertOLE2Macros no
EOF
}

render_freshclam_config() {
  local mirror
  cat <<EOF
# Generated by clamd-entrypoint from the environment; rewritten on every start.
DatabaseDirectory $DATABASE_DIR
Foreground yes
LogTime yes
# Database checks per day (FRESHCLAM_CHECKS).
Checks $freshclam_checks
# Ask clamd to reload as soon as a new database is in place (clamd's SelfCheck is the fallback).
NotifyClamd $CLAMD_CONF
EOF
  if ((${#private_mirrors[@]} > 0)); then
    echo '# FRESHCLAM_PRIVATE_MIRROR: freshclam uses these instead of DatabaseMirror and the DNS check.'
    for mirror in "${private_mirrors[@]}"; do echo "PrivateMirror $mirror"; done
  fi
  if ((${#database_mirrors[@]} > 0)); then
    echo '# FRESHCLAM_DATABASE_MIRROR'
    for mirror in "${database_mirrors[@]}"; do echo "DatabaseMirror $mirror"; done
  else
    echo "DatabaseMirror database.clamav.net"
  fi
}

require_writable() {
  local dir=$1 what=$2
  if [[ ! -d $dir || ! -w $dir ]]; then
    printf 'clamd-entrypoint: %s %s is not writable by uid %s: mount a volume there that this user owns (docs/containers.md)\n' \
      "$what" "$dir" "$(id -u)" >&2
    exit 2
  fi
}

has_official_database() {
  compgen -G "$DATABASE_DIR/*.cvd" >/dev/null || compgen -G "$DATABASE_DIR/*.cld" >/dev/null
}

# Copies of the CLAMD_EXTRA_SIGNATURES_DIR files, listed in a manifest so that the next
# start removes them first: a file taken out of that directory stops being loaded.
install_extra_signatures() {
  local name path extension copied=0
  if [[ -f $EXTRA_MANIFEST ]]; then
    while IFS= read -r name; do
      [[ -n $name && $name != */* ]] && rm -f -- "${DATABASE_DIR:?}/$name"
    done <"$EXTRA_MANIFEST"
    rm -f -- "$EXTRA_MANIFEST"
  fi
  [[ -n $extra_dir ]] || return 0
  : >"$EXTRA_MANIFEST"
  for path in "$extra_dir"/*; do
    [[ -f $path ]] || continue
    name=${path##*/}
    extension=${name##*.}
    extension=${extension,,}
    [[ $name == *.* && $SIGNATURE_EXTENSIONS == *" $extension "* && $name =~ ^[A-Za-z0-9._-]+$ ]] || continue
    cp -- "$path" "$DATABASE_DIR/$name"
    printf '%s\n' "$name" >>"$EXTRA_MANIFEST"
    copied=$((copied + 1))
  done
  log "loaded $copied signature file(s) from CLAMD_EXTRA_SIGNATURES_DIR ($extra_dir)"
  ((copied > 0)) || log "WARNING: $extra_dir holds no signature file (.hdb, .ndb, .ldb, .yar ...)"
}

warn_test_signatures_only() {
  local line='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
  {
    echo "$line"
    echo "!! clamd has NO official ClamAV database, only the signatures from"
    echo "!! CLAMD_EXTRA_SIGNATURES_DIR: it detects what they describe (for the project's test"
    echo "!! signatures, the EICAR test file and the test marker) and NOTHING ELSE."
    echo "!! Real malware will NOT be detected. Set FRESHCLAM=on or mount a database."
    echo "$line"
  } >&2
}

# --- supervision: clamd and freshclam's daemon as children; SIGTERM (from tini) stops both.
children=()
stopping=0
on_signal() {
  stopping=1
  ((${#children[@]} == 0)) || kill -TERM "${children[@]}" 2>/dev/null || true
}

# wait_for PID: waits until PID has exited, through any signal that interrupts the wait,
# and leaves its exit status in $status.
wait_for() {
  status=0
  while :; do
    wait "$1" && status=0 || status=$?
    kill -0 "$1" 2>/dev/null || return 0
  done
}

# run_in_background COMMAND...: runs it as the one child a signal stops, and waits for it
# (its exit status in $status); exits 0 at once when a stop was asked for meanwhile.
run_in_background() {
  "$@" &
  children=($!)
  wait_for "${children[0]}"
  children=()
  ((stopping == 0)) || exit 0
}

# clamd cannot start without a database: the first download happens before it. A
# mirror that is still being filled (a deployment's first minutes) or briefly out of
# reach is retried every FRESHCLAM_FIRST_DOWNLOAD_INTERVAL seconds (default 15) for
# up to FRESHCLAM_FIRST_DOWNLOAD_TIMEOUT seconds (default 240, inside the image's
# 300 s health-check start period); then one error, and the container exits 1.
download_first_database() {
  local timeout interval deadline attempt=1
  read_number timeout FRESHCLAM_FIRST_DOWNLOAD_TIMEOUT 240 0 86400
  read_number interval FRESHCLAM_FIRST_DOWNLOAD_INTERVAL 15 1 3600
  deadline=$((SECONDS + timeout))
  log "no official database in $DATABASE_DIR yet: running freshclam before clamd starts"
  while :; do
    run_in_background freshclam --config-file="$FRESHCLAM_CONF"
    ((status != 0)) || return 0
    if ((SECONDS + interval > deadline)); then
      log "freshclam could not download the database (exit $status; $attempt attempt(s) in ${timeout} s," \
        "FRESHCLAM_FIRST_DOWNLOAD_TIMEOUT). clamd cannot start without one. If the public mirror refuses this" \
        "address (its CDN rate-limits cloud address ranges), set FRESHCLAM_PRIVATE_MIRROR to a private mirror;" \
        "if FRESHCLAM_PRIVATE_MIRROR is set, check that it holds the databases and that this task can reach it;" \
        "or mount a database and set FRESHCLAM=off."
      exit 1
    fi
    log "freshclam could not download the database yet (exit $status, attempt $attempt); trying again in ${interval} s"
    run_in_background sleep "$interval"
    attempt=$((attempt + 1))
  done
}

run_clamd() {
  settings_from_environment
  require_writable "$CONFIG_DIR" "the configuration directory"
  require_writable "$DATABASE_DIR" "the database directory"
  require_writable "$TEMPORARY_DIR" "clamd's temporary directory"
  if [[ $freshclam == off && -z $extra_dir ]] && ! has_official_database; then
    config_error FRESHCLAM "is off and $DATABASE_DIR holds no database: mount one there, set CLAMD_EXTRA_SIGNATURES_DIR, or set FRESHCLAM=on"
  fi
  render_clamd_config >"$CLAMD_CONF"
  render_freshclam_config >"$FRESHCLAM_CONF"
  log "clamd on $tcp_addr:$tcp_port: MaxThreads $max_threads, StreamMaxLength $stream_max, MaxScanSize $max_scan_size, MaxFileSize $max_file_size, MaxFiles $max_files, MaxRecursion $max_recursion, MaxScanTime $max_scan_time ms; freshclam $freshclam"

  trap on_signal TERM INT
  install_extra_signatures

  if ! has_official_database; then
    if [[ $freshclam == on ]]; then
      download_first_database
    elif [[ ! -s $EXTRA_MANIFEST ]]; then
      config_error CLAMD_EXTRA_SIGNATURES_DIR "holds no signature file, FRESHCLAM is off and $DATABASE_DIR holds no database: clamd would have nothing to load"
    fi
  fi
  has_official_database || warn_test_signatures_only

  clamd --config-file="$CLAMD_CONF" &
  local clamd_pid=$! freshclam_pid=
  children=("$clamd_pid")
  if [[ $freshclam == on ]]; then
    freshclam --daemon --config-file="$FRESHCLAM_CONF" &
    freshclam_pid=$!
    children+=("$freshclam_pid")
  fi
  # A signal that came while the children were being started has not reached them yet.
  ((stopping == 0)) || on_signal

  # Whichever ends first decides: a signal, clamd, or freshclam's daemon.
  wait -n "${children[@]}" || true
  if ((stopping == 0)); then
    if ! kill -0 "$clamd_pid" 2>/dev/null; then
      wait_for "$clamd_pid"
      log "clamd exited unexpectedly (status $status); stopping"
      children=(${freshclam_pid:+"$freshclam_pid"})
    else
      wait_for "$freshclam_pid"
      log "freshclam's daemon exited unexpectedly (status $status); stopping clamd so the container is restarted with updates working"
      children=("$clamd_pid")
    fi
    on_signal
    for pid in "${children[@]}"; do wait_for "$pid"; done
    exit 1
  fi
  # Stopping: both were sent SIGTERM; the exit status is clamd's.
  [[ -z $freshclam_pid ]] || wait_for "$freshclam_pid"
  wait_for "$clamd_pid"
  log "clamd stopped (status $status)"
  exit "$status"
}

case "${1:-clamd}" in
  clamd)
    run_clamd
    ;;
  print-config)
    settings_from_environment
    render_clamd_config
    ;;
  *)
    exec "$@"
    ;;
esac
