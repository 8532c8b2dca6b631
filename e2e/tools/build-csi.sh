#!/usr/bin/env bash
# Builds the CSI parts of the test nodes (e2e/csi/README.md) and prints their bin directory:
#   veloxide-csi         our CSI driver (e2e/csi/driver), checked by the CSI sanity suite first
#   csi-provisioner      external-provisioner v6, through the wrapper module e2e/csi/provisioner
#   snapshot-controller  external-snapshotter v8, through the wrapper module e2e/csi/snapshotter
#   csi-snapshotter      (the same module)
# and beside bin/, manifests/: the snapshot CRDs (the external-snapshotter/client/v8 module's
# config/crd) and the sidecars' RBAC (their modules' deploy/kubernetes), read from the module
# cache at build time, so nothing of theirs is committed here.
#
# Cached across clones in ${XDG_CACHE_HOME:-$HOME/.cache}/veloxide/csi/ (e2e/tools/cache.sh: a
# lock per entry, unused entries pruned after two weeks), in parts keyed by their own inputs, so
# that a change to the driver rebuilds the driver only (3-5 min here) and not the sidecars
# (about twenty on two busy cores):
#   sidecars-<key>/   key: the wrapper modules' go.mod/go.sum, the Go version, $layout
#   driver-<key>/     key: the driver module's go.mod/go.sum and sources, the Go version, $layout
#   <key>/bin         the four binaries (hard links) and manifests/; key: the two keys
# Each build has Go module and build caches of its own (in its <entry>.tmp/go, 4 GB at their
# largest for the sidecars), deleted when it is done; no other build's caches are touched.
# Progress goes to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/e2e/csi"
command -v go >/dev/null || { echo "build-csi: go not found (Go 1.26 or newer is needed)" >&2; exit 1; }
go_version="$(go env GOVERSION)"
# shellcheck source=cache.sh
. "$root/e2e/tools/cache.sh"

digest() { cat "$@" <(echo "$go_version") | sha256sum | cut -c1-16; }
# What this script puts in a part's directory: bump it when that changes (the script itself is not
# in the keys, so that editing it does not rebuild twenty minutes of sidecars).
layout=1
sidecars_key="$(cd "$src" && digest provisioner/go.mod provisioner/go.sum snapshotter/go.mod snapshotter/go.sum <(echo "layout $layout"))"
driver_key="$(cd "$src/driver" && digest go.mod go.sum $(find . -name '*.go' | LC_ALL=C sort) <(echo "layout $layout"))"
key="$(echo "$sidecars_key $driver_key" | sha256sum | cut -c1-16)"
cache="$(veloxide_cache_root)/csi"
if [[ -f "$cache/$key/.complete" ]]; then
    cache_touch "$cache/$key"
    echo "$cache/$key/bin"
    exit 0
fi

start=$(date +%s)
export CGO_ENABLED=0 GOFLAGS=-mod=readonly

# with_go_caches DIR CMD...: runs CMD with Go's module and build caches in DIR.
with_go_caches() {
    local d="$1"
    shift
    mkdir -p "$d/tmp"
    GOMODCACHE="$d/mod" GOCACHE="$d/cache" GOTMPDIR="$d/tmp" "$@"
}
# drop_go_caches DIR: the module cache is read-only on disk; go clean removes it properly.
drop_go_caches() {
    GOMODCACHE="$1/mod" go clean -modcache
    rm -rf "$1"
}

build_driver() {
    local tmp="$driver.tmp"
    local gc="$tmp/go"
    rm -rf "$tmp" && mkdir -p "$tmp/bin"
    echo "build-csi: the driver into $driver" >&2
    (cd "$src/driver" && with_go_caches "$gc" go mod download)
    # gofmt, vet and the tests (decision tables, the CSI sanity suite against its socket) first:
    # a driver that fails them is not built.
    local unformatted
    unformatted="$(cd "$src/driver" && gofmt -l .)"
    [[ -z "$unformatted" ]] || { echo "build-csi: gofmt wants changes in: $unformatted" >&2; exit 1; }
    (cd "$src/driver" && with_go_caches "$gc" go vet -trimpath ./...)
    (cd "$src/driver" && with_go_caches "$gc" go test -trimpath -count=1 ./... >&2)
    (cd "$src/driver" && with_go_caches "$gc" go build -trimpath -ldflags "-s -w -X main.version=e2e-$driver_key" \
        -o "$tmp/bin/" ./cmd/veloxide-csi)
    drop_go_caches "$gc"
    rm -rf "$driver" && mv "$tmp" "$driver"
    echo "build-csi: driver built and checked at $(($(date +%s) - start)) s" >&2
}

build_sidecars() {
    local tmp="$sidecars.tmp" m
    local gc="$tmp/go"
    rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/manifests/crds" "$tmp/manifests/rbac"
    version_of() { awk -v m="$2" '$1 == m { print $2; exit }' "$src/$1/go.mod"; }
    local pv sv
    pv="$(version_of provisioner github.com/kubernetes-csi/external-provisioner/v6)"
    sv="$(version_of snapshotter github.com/kubernetes-csi/external-snapshotter/v8)"
    echo "build-csi: external-provisioner $pv, external-snapshotter $sv with $go_version into $sidecars (first time: ~1 GB of modules, 3 GB of build cache, 10-20 min)" >&2
    for m in provisioner snapshotter; do (cd "$src/$m" && with_go_caches "$gc" go mod download); done
    echo "build-csi: modules $(du -sh "$gc/mod" | cut -f1) at $(($(date +%s) - start)) s" >&2
    # Upstream's own mains, built in the wrapper modules' graphs (`go build` of a package of a
    # required module). A component the proxy cannot serve fails here with go's own error.
    (cd "$src/provisioner" && with_go_caches "$gc" go build -trimpath -ldflags "-s -w -X main.version=$pv" \
        -o "$tmp/bin/" github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner)
    echo "build-csi: csi-provisioner built at $(($(date +%s) - start)) s" >&2
    (cd "$src/snapshotter" && with_go_caches "$gc" go build -trimpath -ldflags "-s -w -X main.version=$sv" -o "$tmp/bin/" \
        github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller \
        github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter)
    echo "build-csi: snapshot-controller and csi-snapshotter built at $(($(date +%s) - start)) s" >&2
    # Upstream's manifests, as their releases ship them.
    dir_of() { (cd "$src/$1" && with_go_caches "$gc" go list -m -f '{{.Dir}}' "$2"); }
    local client snapshotter provisioner
    client="$(dir_of snapshotter github.com/kubernetes-csi/external-snapshotter/client/v8)"
    snapshotter="$(dir_of snapshotter github.com/kubernetes-csi/external-snapshotter/v8)"
    provisioner="$(dir_of provisioner github.com/kubernetes-csi/external-provisioner/v6)"
    cp "$client"/config/crd/*.storage.k8s.io_*.yaml "$tmp/manifests/crds/"
    cp "$provisioner/deploy/kubernetes/rbac.yaml" "$tmp/manifests/rbac/external-provisioner.yaml"
    cp "$snapshotter/deploy/kubernetes/snapshot-controller/rbac-snapshot-controller.yaml" "$tmp/manifests/rbac/snapshot-controller.yaml"
    cp "$snapshotter/deploy/kubernetes/csi-snapshotter/rbac-csi-snapshotter.yaml" "$tmp/manifests/rbac/csi-snapshotter.yaml"
    chmod -R u+w "$tmp/manifests"
    for m in csi-provisioner snapshot-controller csi-snapshotter; do "$tmp/bin/$m" --version >&2; done
    echo "build-csi: Go caches at their largest: $(du -sh "$gc" | cut -f1)" >&2
    drop_go_caches "$gc"
    rm -rf "$sidecars" && mv "$tmp" "$sidecars"
}

# Each part under its own lock (cache_claim holds one lock at a time: fd 9).
cache_claim csi "driver-$driver_key"
driver="$CACHE_ENTRY"
[[ -x "$driver/bin/veloxide-csi" ]] || build_driver
cache_touch "$driver"
cache_claim csi "sidecars-$sidecars_key"
sidecars="$CACHE_ENTRY"
[[ -x "$sidecars/bin/csi-provisioner" && -x "$sidecars/bin/snapshot-controller" && -x "$sidecars/bin/csi-snapshotter" ]] \
    || build_sidecars
cache_touch "$sidecars"

cache_claim csi "$key"
out="$CACHE_ENTRY"
if [[ ! -f "$out/.complete" ]]; then
    rm -rf "$out"
    mkdir -p "$out/bin"
    ln "$driver/bin/veloxide-csi" "$sidecars"/bin/* "$out/bin/"
    cp -r "$sidecars/manifests" "$out/manifests"
    touch "$out/.complete"
fi
cache_touch "$out"
# Entries (parts or sets) no clone has used for two weeks go; the sets hold hard links, so a
# pruned part never takes a set's binaries with it.
cache_prune csi "$key"
echo "build-csi: ready in $(($(date +%s) - start)) s; $(du -sh "$out/bin" | cut -f1) of binaries" >&2
echo "$out/bin"
