#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager, etcd) and
# what a node runs of it (kubelet, kube-scheduler) from the Go module proxy, into
# ${XDG_CACHE_HOME:-~/.cache}/veloxide/controlplane/<key>/bin (e2e/tools/cache.sh), where <key> is
# a digest of e2e/controlplane's go.mod, go.sum and mains and the Go version: an unchanged tree
# reuses the build, from this clone or another one on the machine; a changed one builds beside it.
# Prints the bin directory on stdout (progress goes to stderr).
# Module downloads and the build cache are this script's own, in .work/go, deleted after a build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/e2e/controlplane"
# shellcheck source=cache.sh
. "$root/e2e/tools/cache.sh"
command -v go >/dev/null || { echo "build-control-plane: go not found (Go 1.24 or newer is needed)" >&2; exit 1; }

programs=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)
k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/go.mod")"
go_version="$(go env GOVERSION)"
key="$(cat "$src/go.mod" "$src/go.sum" "$src"/cmd/*/main.go <(echo "$go_version") | sha256sum | cut -c1-16)"

built() {
    local p
    for p in "${programs[@]}"; do [[ -x "$1/$p" ]] || return 1; done
}

cache_claim controlplane "$key"
out="$CACHE_ENTRY"
bin="$out/bin"
if built "$bin"; then
    cache_touch "$out"
    echo "$bin"
    exit 0
fi

# This script's own caches, never the user's GOMODCACHE/GOCACHE (another build may be using them):
# only these are deleted below.
work="$root/.work/go"
export GOMODCACHE="$work/mod" GOCACHE="$work/cache" GOFLAGS=-mod=readonly
# go's own scratch directories too, so an interrupted build leaves nothing in /tmp.
export GOTMPDIR="$work/tmp"
mkdir -p "$GOTMPDIR"
export CGO_ENABLED=0
minor="$(echo "$k8s_version" | cut -d. -f2)"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"

start=$(date +%s)
echo "build-control-plane: kubernetes $k8s_version (${programs[*]}) with $go_version into $bin (first time: ~1 GB of modules, 15-25 minutes on 2 cores)" >&2
(cd "$src" && go mod download)
echo "build-control-plane: modules $(du -sh "$GOMODCACHE" | cut -f1) in $(( $(date +%s) - start )) s" >&2
rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin"
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp/bin/" ./cmd/...)
built "$out.tmp/bin" || { echo "build-control-plane: go build did not produce all of ${programs[*]}" >&2; exit 1; }
# The harness's own Go is checked here, while the build cache is warm (vet type-checks every
# dependency): gofmt-clean and vet-clean, or no control plane.
unformatted="$(cd "$src" && gofmt -l .)"
[[ -z "$unformatted" ]] || { echo "build-control-plane: gofmt wants changes in: $unformatted" >&2; exit 1; }
(cd "$src" && go vet -trimpath ./...)  # -trimpath: the same compile keys as the build, so vet reuses it
echo "build-control-plane: caches at their largest: $(du -sh "$work" | cut -f1)" >&2
rm -rf "$out"
mv "$out.tmp" "$out"
cache_touch "$out"
# The build cache (~5 GB) and the module cache (~0.7 GB) only serve a rebuild, which happens
# when go.sum changes: both go, so the cargo builds that follow have the disk (a CI run once
# ran out of it linking the tests). GOMODCACHE is this script's own (exported above).
go clean -modcache
rm -rf "$work"
# Builds of another go.sum that no clone has used for two weeks go.
cache_prune controlplane "$key"
echo "build-control-plane: built in $(( $(date +%s) - start )) s; $(du -sh "$bin" | cut -f1) of binaries" >&2
echo "$bin"
