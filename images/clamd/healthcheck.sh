#!/bin/bash
# Health check of the bucketscan clamd image: sends clamd PING over TCP and expects
# PONG. Runs as the container's user (clamav), with the container's environment,
# and needs nothing but bash.
set -euo pipefail

addr=${CLAMD_TCP_ADDR:-127.0.0.1}
port=${CLAMD_TCP_PORT:-3310}
# A wildcard address is not one to connect to; the wildcard includes loopback.
case $addr in
  0.0.0.0) addr=127.0.0.1 ;;
  ::) addr=::1 ;;
esac

if ! { exec 3<>"/dev/tcp/$addr/$port"; } 2>/dev/null; then
  echo "clamd does not accept connections on $addr:$port"
  exit 1
fi
# z-prefixed commands are NUL-terminated, and so is the reply.
printf 'zPING\0' >&3
reply=
IFS= read -r -d '' -t 8 reply <&3 || true
exec 3<&-
if [[ $reply == PONG ]]; then
  exit 0
fi
echo "clamd on $addr:$port answered \"${reply:-nothing}\" instead of PONG"
exit 1
