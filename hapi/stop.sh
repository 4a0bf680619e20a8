#!/usr/bin/env bash
# Stops the server that start.sh started for the same HAPI_DATA_DIR, and checks that its port then
# refuses connections. Fails (exit 1) when asked to stop a server start.sh did not start: none was
# started from this directory, start.sh reused one (HAPI_REUSE=1), or something still answers on
# the port afterwards.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${HAPI_DATA_DIR:-$here/data}"
pidfile="$data/hapi.pid"
portfile="$data/hapi.port"
reusedfile="$data/hapi.reused"

fail() { echo "hapi: $*" >&2; exit 1; }

if [[ ! -f "$pidfile" ]]; then
  if [[ -f "$reusedfile" ]]; then
    fail "the server at $(head -n 1 "$reusedfile") was not started from $data (start.sh reused it, HAPI_REUSE=1);" \
      "not stopping it: stop it where it was started"
  fi
  fail "no server was started from $data (no $pidfile); nothing stopped"
fi
pid=$(cat "$pidfile")
port=$(cat "$portfile" 2>/dev/null || echo "${HAPI_PORT:-}")
# Only our own java process: a pid the system has since given to another process is left alone.
if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q samverkan-hapi.jar; then
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "hapi: still running after 30 s; killing $pid"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 10); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
  fi
  stopped="stopped (pid $pid)"
else
  stopped="was not running any more (pid $pid)"
fi
rm -f "$pidfile"
if [[ -n "$port" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  fail "the server started from $data $stopped, but something still accepts connections on port $port:" \
    "a server this script did not start"
fi
rm -f "$portfile"
echo "hapi: $stopped${port:+; port $port refuses connections}"
