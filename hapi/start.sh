#!/usr/bin/env bash
# Starts the local HAPI FHIR server in the background and waits until /fhir/metadata answers.
#   HAPI_PORT (8080)  HAPI_DATA_DIR (hapi/data)  HAPI_JAVA_OPTS (-Xmx1g)  HAPI_START_TIMEOUT (300 s)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${HAPI_PORT:-8080}"
data="${HAPI_DATA_DIR:-$here/data}"
timeout="${HAPI_START_TIMEOUT:-300}"
url="http://127.0.0.1:$port/fhir"

fail() { echo "hapi: $*" >&2; exit 1; }

if curl -sf -o /dev/null -H 'Accept: application/fhir+json' "$url/metadata"; then
  echo "hapi: a FHIR server already answers at $url; not starting another"
  exit 0
fi
command -v java >/dev/null || fail "java is not installed; HAPI needs Java 17 or later (apt-get install openjdk-17-jdk-headless)"
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
[[ "${java_major:-0}" -ge 17 ]] || fail "java ${java_major:-?} found; HAPI needs Java 17 or later"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  fail "port $port is in use by something that is not a FHIR server; set HAPI_PORT"
fi

"$here/build.sh" || fail "the build failed (see Maven's output above)"
mkdir -p "$data"
data="$(cd "$data" && pwd)"
log="$data/hapi.log"
pidfile="$data/hapi.pid"

start=$(date +%s)
# setsid: the server outlives this script and the shell that ran it.
HAPI_PORT="$port" HAPI_DATA_DIR="$data" setsid nohup java ${HAPI_JAVA_OPTS:--Xmx1g} \
  -jar "$here/target/samverkan-hapi.jar" >"$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
pid=$(cat "$pidfile")

while true; do
  if curl -sf --max-time 10 -o /dev/null -H 'Accept: application/fhir+json' "$url/metadata"; then
    echo "hapi: up at $url (started in $(( $(date +%s) - start )) s; log $log)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "hapi: the server exited while starting; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    grep -A8 "APPLICATION FAILED TO START" "$log" >&2 || true
    rm -f "$pidfile"
    exit 1
  fi
  if (( $(date +%s) - start > timeout )); then
    echo "hapi: no answer from $url/metadata after $timeout s; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    exit 1
  fi
  sleep 1
done
