#!/usr/bin/env bash
# Builds the local HAPI FHIR server (hapi/target/samverkan-hapi.jar) from Maven Central.
# Skips the build when the jar is newer than pom.xml and every source file.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jar="$here/target/samverkan-hapi.jar"

if [[ -f "$jar" ]] && [[ -z "$(find "$here/pom.xml" "$here/src" -newer "$jar" -print -quit)" ]]; then
  echo "hapi: jar up to date"
  exit 0
fi
command -v mvn >/dev/null || { echo "hapi: Maven (mvn) is not installed; on Debian: apt-get install maven" >&2; exit 1; }
echo "hapi: building $jar (the first build downloads ~330 MB from Maven Central)"
start=$(date +%s)
mvn -B -q -Dstyle.color=never -f "$here/pom.xml" package -DskipTests
echo "hapi: built in $(( $(date +%s) - start )) s"
