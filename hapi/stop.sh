#!/usr/bin/env bash
# Stops the server that start.sh started for the same HAPI_DATA_DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${HAPI_DATA_DIR:-$here/data}"
pidfile="$data/hapi.pid"

if [[ ! -f "$pidfile" ]]; then
  echo "hapi: no server started from $data"
  exit 0
fi
pid=$(cat "$pidfile")
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "hapi: still running after 30 s; killing $pid"
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile"
echo "hapi: stopped"
