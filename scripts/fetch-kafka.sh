#!/usr/bin/env bash
# Fetches the Apache Kafka broker (KRaft mode) as jars with Maven into
# ${NAKSHA_CACHE_DIR:-~/.cache/naksha}/kafka-<version>/libs, for the tests, `make kafka` and the benchmarks.
# Idempotent: a complete fetch leaves a `.complete` stamp and later runs return at once.
# Maven's output goes to kafka-<version>/fetch.log; on failure its last lines are printed.
# The version is scripts/kafka/version unless NAKSHA_KAFKA_VERSION says otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${NAKSHA_KAFKA_VERSION:-$(tr -d '[:space:]' < "$here/kafka/version")}"
cache="${NAKSHA_CACHE_DIR:-$HOME/.cache/naksha}"
dest="$cache/kafka-$version"

if [[ -f "$dest/.complete" ]]; then
    exit 0
fi

fail() { echo "fetch-kafka: $*" >&2; exit 1; }
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v "$java_bin" >/dev/null 2>&1 \
    || fail "Java 17 or later is needed to run Kafka $version; install openjdk-17-jre-headless (make system-deps does) or set JAVA_HOME"
java_major="$("$java_bin" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
[[ "${java_major%%.*}" -ge 17 ]] 2>/dev/null \
    || fail "Kafka $version needs Java 17 or later; $java_bin is ${java_major:-unknown}"
command -v mvn >/dev/null 2>&1 \
    || fail "Maven fetches the Kafka jars; install maven (make system-deps does)"

mkdir -p "$dest"
log="$dest/fetch.log"
work="$(mktemp -d "$dest/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$here/kafka/pom.xml" "$work/pom.xml"
echo "fetch-kafka: fetching Apache Kafka $version into $dest (log: $log)"
started=$SECONDS
# A private local repository keeps the fetch self-contained (and measurable from nothing); it is
# dropped afterwards because the jars are copied out of it.
if ! mvn --batch-mode --file "$work/pom.xml" \
        -Dmaven.repo.local="$work/repository" \
        -Dkafka.version="$version" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/libs" \
        > "$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail "Maven could not fetch org.apache.kafka:kafka_2.13:$version (full log: $log)"
fi
ls "$work/libs"/kafka_2.13-"$version".jar >/dev/null 2>&1 || fail "the broker jar is missing after the fetch (log: $log)"
rm -rf "$dest/libs"
mv "$work/libs" "$dest/libs"
echo "$version" > "$dest/.complete"
echo "fetch-kafka: $(ls "$dest/libs" | wc -l) jars in $((SECONDS - started))s"
