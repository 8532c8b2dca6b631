#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager, etcd) from
# the Go module proxy into .work/controlplane/<key>/bin, where <key> is a digest of
# e2e/controlplane/go.{mod,sum} and the Go version: an unchanged tree reuses the build, a changed
# one builds beside it. Prints the bin directory on stdout (progress goes to stderr).
# Module downloads and the build cache live in .work/go (never in $HOME), so `make clean` clears all.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/e2e/controlplane"
command -v go >/dev/null || { echo "build-control-plane: go not found (Go 1.24 or newer is needed)" >&2; exit 1; }

k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/go.mod")"
go_version="$(go env GOVERSION)"
key="$(cat "$src/go.mod" "$src/go.sum" "$src"/cmd/*/main.go <(echo "$go_version") | sha256sum | cut -c1-16)"
out="$root/.work/controlplane/$key"
bin="$out/bin"

if [[ -x "$bin/kube-apiserver" && -x "$bin/kube-controller-manager" && -x "$bin/etcd" ]]; then
    echo "$bin"
    exit 0
fi

export GOMODCACHE="$root/.work/go/mod" GOCACHE="$root/.work/go/cache" GOFLAGS=-mod=readonly
# go's own scratch directories too, so an interrupted build leaves nothing in /tmp.
export GOTMPDIR="$root/.work/go/tmp"
mkdir -p "$GOTMPDIR"
export CGO_ENABLED=0
minor="$(echo "$k8s_version" | cut -d. -f2)"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"

start=$(date +%s)
echo "build-control-plane: kubernetes $k8s_version with $go_version into $bin (first time: ~1 GB of modules, several minutes)" >&2
(cd "$src" && go mod download)
echo "build-control-plane: modules $(du -sh "$GOMODCACHE" | cut -f1) in $(( $(date +%s) - start )) s" >&2
rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin"
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp/bin/" ./cmd/...)
# The harness's own Go is checked here, while the build cache is warm (vet type-checks every
# dependency): gofmt-clean and vet-clean, or no control plane.
unformatted="$(cd "$src" && gofmt -l .)"
[[ -z "$unformatted" ]] || { echo "build-control-plane: gofmt wants changes in: $unformatted" >&2; exit 1; }
(cd "$src" && go vet -trimpath ./...)  # -trimpath: the same compile keys as the build, so vet reuses it
rm -rf "$out"
mv "$out.tmp" "$out"
# The build cache (~4.5 GB) and the module cache (~0.7 GB) only serve a rebuild, which happens
# when go.sum changes: both go, so the cargo builds that follow have the disk (a CI run once
# ran out of it linking the tests).
rm -rf "$GOCACHE" "$GOTMPDIR"
go clean -modcache
# Older builds (another go.sum) are dropped: only the current one is kept.
find "$root/.work/controlplane" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
echo "build-control-plane: built in $(( $(date +%s) - start )) s; $(du -sh "$bin" | cut -f1) of binaries" >&2
echo "$bin"
