#!/usr/bin/env bash
# Builds, or reuses, the real Kubernetes control plane the test suite and `naksha local up
# --backend real` run: kube-apiserver, kube-controller-manager and kube-scheduler from the
# k8s.io/kubernetes Go module, etcd from go.etcd.io/etcd/server/v3 and the helm CLI from
# helm.sh/helm/v3, each built from the Go module proxy into ~/.cache/naksha/<name>-<version>/bin.
#
#   scripts/real-control-plane.sh [build]   build what is missing (idempotent), print the bin dirs
#   scripts/real-control-plane.sh status    say what is built, exit 1 if anything is missing
#
# `go install module/cmd@version` refuses k8s.io/kubernetes (its go.mod replaces every staging
# module with a directory), so each tool is built from a small scratch module that requires the
# tool's module and replaces each staging k8s.io/* module with its published v0.Y.Z release.
# Environment: NAKSHA_CACHE (default ~/.cache/naksha), NAKSHA_KEEP_GO_CACHE=1 keeps the Go module
# and build caches after a successful build (they are removed by default: several GB).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=real-control-plane.versions
source "$here/real-control-plane.versions"
cache="${NAKSHA_CACHE:-$HOME/.cache/naksha}"
logs="$cache/logs"
work="$cache/go"
mkdir -p "$logs" "$work"

kube_dir="$cache/kube-$KUBE_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"
helm_dir="$cache/helm-$HELM_VERSION"

say() { echo "real-control-plane: $*" >&2; }
die() { say "error: $*"; exit 1; }

built() {  # built DIR BINARY...: every binary is there and its stamp too
    local dir="$1"; shift
    [[ -f "$dir/.built" ]] || return 1
    for binary in "$@"; do [[ -x "$dir/bin/$binary" ]] || return 1; done
}

all_built() {
    built "$kube_dir" kube-apiserver kube-controller-manager kube-scheduler \
        && built "$etcd_dir" etcd && built "$helm_dir" helm
}

status() {
    local missing=0
    for entry in "$kube_dir:kube-apiserver kube-controller-manager kube-scheduler" \
        "$etcd_dir:etcd" "$helm_dir:helm"; do
        local dir="${entry%%:*}" binaries="${entry#*:}"
        # shellcheck disable=SC2086
        if built "$dir" $binaries; then echo "built   $dir/bin ($binaries)"; else echo "missing $dir/bin ($binaries)"; missing=1; fi
    done
    return "$missing"
}

check_go() {
    command -v go >/dev/null 2>&1 || die "Go is not installed (need Go >= 1.26 on PATH to build the real control plane; https://go.dev/dl)"
    local version
    version="$(go env GOVERSION)"
    local minor="${version#go1.}"; minor="${minor%%.*}"
    [[ "$minor" =~ ^[0-9]+$ ]] && (( minor >= 26 )) \
        || die "Go $version is too old: Kubernetes $KUBE_VERSION needs Go >= 1.26"
    [[ "$(go env GOPROXY)" != "off" ]] || die "GOPROXY=off: the build downloads modules from the Go module proxy"
    if ! timeout 120 go list -m "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null 2>"$logs/proxy-check.log"; then
        die "the Go module proxy did not answer for k8s.io/kubernetes@$KUBE_VERSION (GOPROXY=$(go env GOPROXY)); see $logs/proxy-check.log"
    fi
}

# go_env runs go with the caches kept under $work, niced (the build takes both cores for minutes).
go_env() {
    GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="-buildvcs=false" \
        CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off nice -n 10 go "$@"
}

# scratch_module DIR MODULE VERSION [REPLACES...]: a module that only requires MODULE@VERSION.
scratch_module() {
    local dir="$1" module="$2" version="$3"; shift 3
    rm -rf "$dir"; mkdir -p "$dir"
    {
        echo "module naksha.local/build/$(basename "$dir")"
        echo
        echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
        echo
        echo "require $module $version"
        if (( $# > 0 )); then
            echo
            echo "replace ("
            for replacement in "$@"; do echo "	$replacement"; done
            echo ")"
        fi
    } >"$dir/go.mod"
}

# build_tools NAME DIR MODULE VERSION PACKAGE... (replaces come from $replaces, extra linker
# flags from $ldflags)
build_tools() {
    local name="$1" dir="$2" module="$3" version="$4"; shift 4
    local log="$logs/build-$name-$version.log" src="$work/src-$name-$version" start end
    say "building $name $version (log: $log)"
    start=$(date +%s)
    scratch_module "$src" "$module" "$version" "${replaces[@]}"
    rm -rf "$dir"; mkdir -p "$dir/bin"
    (
        cd "$src"
        for package in "$@"; do go_env get "$package@$version"; done
        go_env build -mod=mod -trimpath -ldflags="-s -w ${ldflags:-}" -o "$dir/bin/" "$@"
    ) >"$log" 2>&1 || die "building $name failed; last lines of $log:
$(tail -n 20 "$log")"
    end=$(date +%s)
    printf '{"version": "%s", "seconds": %d, "built_at": "%s"}\n' \
        "$version" "$((end - start))" "$(date -u +%FT%TZ)" >"$dir/.built"
    say "built $name $version in $((end - start)) s: $(du -sh "$dir/bin" | cut -f1)"
}

kube_replaces() {
    # Every staging module k8s.io/kubernetes replaces with a directory, pinned to the release
    # published beside it (v1.Y.Z -> v0.Y.Z); only those the proxy serves (some are never tagged).
    cd "$work"
    local staging_version="v0.${KUBE_VERSION#v1.}"
    local modfile="$work/kubernetes-$KUBE_VERSION.mod"
    go_env mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >"$work/kubernetes-download.json"
    cp "$(sed -nE 's/^\s*"GoMod": "(.*)",?$/\1/p' "$work/kubernetes-download.json")" "$modfile"
    local module
    for module in $(sed -nE 's#^\s*(k8s\.io/[a-z0-9-]+) => \./staging/.*#\1#p' "$modfile"); do
        if go_env list -m "$module@$staging_version" >/dev/null 2>&1; then
            echo "$module => $module $staging_version"
        fi
    done
}

build() {
    exec 9>"$cache/.build.lock"
    flock 9  # one build at a time; a second caller waits, then finds everything built
    if all_built; then status; return 0; fi
    check_go
    local total_start; total_start=$(date +%s)
    local before; before=$(du -sb "$cache" | cut -f1)
    local replaces=() ldflags=""
    if ! built "$kube_dir" kube-apiserver kube-controller-manager kube-scheduler; then
        # The version the binaries report (/version, the skew checks of kubectl and Helm), as
        # Kubernetes' own build stamps it; a module build would otherwise say v0.0.0-master.
        local minor="${KUBE_VERSION#v1.}" package
        minor="${minor%%.*}"
        for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            ldflags+=" -X $package.gitVersion=$KUBE_VERSION -X $package.gitMajor=1 -X $package.gitMinor=$minor"
            ldflags+=" -X $package.gitTreeState=clean -X $package.buildDate=$(date -u +%FT%TZ)"
        done
        mapfile -t replaces < <(kube_replaces)
        (( ${#replaces[@]} > 10 )) || die "could not read the staging modules of k8s.io/kubernetes@$KUBE_VERSION"
        build_tools kube "$kube_dir" k8s.io/kubernetes "$KUBE_VERSION" \
            k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
            k8s.io/kubernetes/cmd/kube-scheduler
    fi
    replaces=() ldflags=""
    if ! built "$etcd_dir" etcd; then
        build_tools etcd "$etcd_dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
        mv "$etcd_dir/bin/v3" "$etcd_dir/bin/etcd" 2>/dev/null || mv "$etcd_dir/bin/server" "$etcd_dir/bin/etcd" 2>/dev/null || true
        [[ -x "$etcd_dir/bin/etcd" ]] || die "the etcd build produced no binary: $(ls "$etcd_dir/bin")"
    fi
    if ! built "$helm_dir" helm; then
        build_tools helm "$helm_dir" helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
    fi
    local peak; peak=$(du -sb "$cache" | cut -f1)
    local downloaded; downloaded=$(du -sb "$work/mod/cache/download" 2>/dev/null | cut -f1 || echo 0)
    if [[ "${NAKSHA_KEEP_GO_CACHE:-0}" != 1 ]]; then
        go_env clean -modcache >/dev/null 2>&1 || true
        rm -rf "$work"
    fi
    local after; after=$(du -sb "$cache" | cut -f1)
    say "done in $(( $(date +%s) - total_start )) s; downloaded $((downloaded / 1048576)) MB of modules;" \
        "cache peaked at $(( (peak - before) / 1048576 )) MB more, keeps $(( (after - before) / 1048576 )) MB"
    status
}

case "${1:-build}" in
    build) build ;;
    status) status ;;
    *) die "usage: $0 [build|status]" ;;
esac
