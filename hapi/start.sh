#!/usr/bin/env bash
# Starts the local HAPI FHIR server in the background and waits until /fhir/metadata answers.
#   HAPI_PORT (8080)  HAPI_DATA_DIR (hapi/data)  HAPI_JAVA_OPTS (-Xmx1g)  HAPI_START_TIMEOUT (300 s)
#   HAPI_REUSE (0): a port already in use is refused; with 1, a FHIR server already answering there
#   is used instead, and $HAPI_DATA_DIR/hapi.reused records that this script did not start it (so
#   stop.sh refuses to stop it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${HAPI_PORT:-8080}"
data="${HAPI_DATA_DIR:-$here/data}"
timeout="${HAPI_START_TIMEOUT:-300}"
reuse="${HAPI_REUSE:-0}"
url="http://127.0.0.1:$port/fhir"
pidfile="$data/hapi.pid"
portfile="$data/hapi.port"
reusedfile="$data/hapi.reused"

fail() { echo "hapi: $*" >&2; exit 1; }
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
answers() { curl -sf --max-time 10 -o /dev/null -H 'Accept: application/fhir+json' "$url/metadata"; }
# The server this data directory's start.sh started, if it still runs on this port: its pid.
own_server() {
  [[ -f "$pidfile" && -f "$portfile" && "$(cat "$portfile")" == "$port" ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q samverkan-hapi.jar || return 1
  echo "$pid"
}

if in_use; then
  if ! answers; then
    fail "port $port is in use by something that is not a FHIR server; set HAPI_PORT"
  fi
  if [[ "$reuse" != 1 ]]; then
    if pid=$(own_server); then
      fail "the server started from $data (pid $pid) already answers at $url; not starting another" \
        "(hapi/stop.sh stops it; HAPI_REUSE=1 uses it)"
    fi
    fail "a FHIR server this script did not start already answers at $url; not starting another and not" \
      "using it. Set HAPI_PORT to a free port, or HAPI_REUSE=1 to use that server (hapi/stop.sh will then refuse" \
      "to stop it)"
  fi
  if pid=$(own_server); then
    echo "hapi: reusing the server started from $data (pid $pid) at $url (HAPI_REUSE=1)"
    exit 0
  fi
  mkdir -p "$data"
  rm -f "$pidfile"
  printf '%s\nnot started by hapi/start.sh: reused with HAPI_REUSE=1 at %s\n' "$url" "$(date -Is)" >"$reusedfile"
  echo "hapi: reusing the FHIR server that already answers at $url (HAPI_REUSE=1); it was not started here," \
    "so hapi/stop.sh will not stop it"
  exit 0
fi
command -v java >/dev/null || fail "java is not installed; HAPI needs Java 17 or later (apt-get install openjdk-17-jdk-headless)"
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
[[ "${java_major:-0}" -ge 17 ]] || fail "java ${java_major:-?} found; HAPI needs Java 17 or later"

"$here/build.sh" || fail "the build failed (see Maven's output above)"
mkdir -p "$data"
data="$(cd "$data" && pwd)"
log="$data/hapi.log"
pidfile="$data/hapi.pid"
portfile="$data/hapi.port"
rm -f "$data/hapi.reused"

start=$(date +%s)
# setsid: the server outlives this script and the shell that ran it.
HAPI_PORT="$port" HAPI_DATA_DIR="$data" setsid nohup java ${HAPI_JAVA_OPTS:--Xmx1g} \
  -jar "$here/target/samverkan-hapi.jar" >"$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo "$port" > "$portfile"
pid=$(cat "$pidfile")

while true; do
  if answers; then
    echo "hapi: up at $url (started in $(( $(date +%s) - start )) s; log $log)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "hapi: the server exited while starting; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    grep -A8 "APPLICATION FAILED TO START" "$log" >&2 || true
    rm -f "$pidfile" "$portfile"
    exit 1
  fi
  if (( $(date +%s) - start > timeout )); then
    echo "hapi: no answer from $url/metadata after $timeout s; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$pidfile" "$portfile"
    exit 1
  fi
  sleep 1
done
