#!/usr/bin/env bash
# Installs the system packages the tests use: redis-server (Redis Streams tests), git (GitOps tests),
# Java and Maven (the Apache Kafka broker, fetched by scripts/fetch-kafka.sh), prometheus (analysis
# tests), and what the local kubelet needs to give pods network namespaces: ip (iproute2), nft
# (nftables), nsenter (util-linux).
# Debian/Ubuntu only; elsewhere it says what to install and fails.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v java >/dev/null 2>&1 || [[ -n "${JAVA_HOME:-}" ]] || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: please install: ${missing[*]}" >&2
    exit 1
fi
sudo=""
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "system-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start system-wide servers; the tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1; then
    for service in redis-server prometheus; do $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true; done
fi
