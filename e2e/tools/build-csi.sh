#!/usr/bin/env bash
# Builds the CSI parts of the test nodes (e2e/csi/README.md) and prints their bin directory:
#   veloxide-csi         our CSI driver (e2e/csi/driver), checked by the CSI sanity suite first
#   csi-provisioner      external-provisioner v6, through the wrapper module e2e/csi/provisioner
#   snapshot-controller  external-snapshotter v8, through the wrapper module e2e/csi/snapshotter
#   csi-snapshotter      (the same module)
# and beside bin/, manifests/: the snapshot CRDs (the external-snapshotter/client/v8 module's
# config/crd) and the sidecars' RBAC (their modules' deploy/kubernetes), read from the module
# cache, so nothing of theirs is committed here.
#
# Everything lands in ${XDG_CACHE_HOME:-$HOME/.cache}/veloxide/csi/<key>, <key> a digest of what
# decides the build (the three modules' go.mod/go.sum, the driver's sources, this script, the Go
# version), so a second clone on the same machine reuses it; a changed input builds beside it.
# Go's module and build caches are ours too (csi/go/), kept so that a rebuild after a change to
# the driver takes seconds; nothing else's caches are touched. Progress goes to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/e2e/csi"
command -v go >/dev/null || { echo "build-csi: go not found (Go 1.26 or newer is needed)" >&2; exit 1; }

go_version="$(go env GOVERSION)"
key="$(cd "$src" && cat provisioner/go.mod provisioner/go.sum snapshotter/go.mod snapshotter/go.sum \
    driver/go.mod driver/go.sum $(find driver -name '*.go' | LC_ALL=C sort) "$root/e2e/tools/build-csi.sh" \
    <(echo "$go_version") | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/veloxide/csi"
out="$cache/$key"
bin="$out/bin"

if [[ -x "$bin/veloxide-csi" && -x "$bin/csi-provisioner" && -x "$bin/snapshot-controller" \
    && -x "$bin/csi-snapshotter" && -d "$out/manifests" ]]; then
    echo "$bin"
    exit 0
fi

export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/cache" GOFLAGS=-mod=readonly
export GOTMPDIR="$cache/go/tmp"
mkdir -p "$GOTMPDIR"
export CGO_ENABLED=0

version_of() { awk -v m="$2" '$1 == m { print $2; exit }' "$src/$1/go.mod"; }
provisioner_version="$(version_of provisioner github.com/kubernetes-csi/external-provisioner/v6)"
snapshotter_version="$(version_of snapshotter github.com/kubernetes-csi/external-snapshotter/v8)"

start=$(date +%s)
echo "build-csi: veloxide-csi, external-provisioner $provisioner_version, external-snapshotter $snapshotter_version with $go_version into $bin" >&2
# A directory of this run's own, renamed into place at the end: two clones building at once
# each finish whole, and the second rename finds the first's result (and drops its own).
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/manifests/crds" "$tmp/manifests/rbac"
for m in driver provisioner snapshotter; do (cd "$src/$m" && go mod download); done
echo "build-csi: modules $(du -sh "$GOMODCACHE" | cut -f1) in $(( $(date +%s) - start )) s" >&2

# The driver first: gofmt, vet and the CSI sanity suite (csi-test) against its socket, or no build.
unformatted="$(cd "$src/driver" && gofmt -l .)"
[[ -z "$unformatted" ]] || { echo "build-csi: gofmt wants changes in: $unformatted" >&2; exit 1; }
(cd "$src/driver" && go vet -trimpath ./... && go test -trimpath -count=1 ./... >&2)
(cd "$src/driver" && go build -trimpath -ldflags "-s -w -X main.version=e2e-$key" -o "$tmp/bin/" ./cmd/veloxide-csi)
echo "build-csi: driver built and sanity-checked at $(( $(date +%s) - start )) s" >&2

# The sidecars' own mains, built from the wrapper modules' graphs (`go build` of a package of a
# required module). A component the proxy cannot serve fails here with go's own error.
(cd "$src/provisioner" && go build -trimpath -ldflags "-s -w -X main.version=$provisioner_version" \
    -o "$tmp/bin/" github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner)
echo "build-csi: csi-provisioner built at $(( $(date +%s) - start )) s" >&2
(cd "$src/snapshotter" && go build -trimpath -ldflags "-s -w -X main.version=$snapshotter_version" -o "$tmp/bin/" \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter)
echo "build-csi: snapshot-controller and csi-snapshotter built at $(( $(date +%s) - start )) s" >&2

# Upstream's manifests, as their releases ship them.
dir_of() { (cd "$src/$1" && go list -m -f '{{.Dir}}' "$2"); }
client="$(dir_of snapshotter github.com/kubernetes-csi/external-snapshotter/client/v8)"
snapshotter="$(dir_of snapshotter github.com/kubernetes-csi/external-snapshotter/v8)"
provisioner="$(dir_of provisioner github.com/kubernetes-csi/external-provisioner/v6)"
cp "$client"/config/crd/*.storage.k8s.io_*.yaml "$tmp/manifests/crds/"
cp "$provisioner/deploy/kubernetes/rbac.yaml" "$tmp/manifests/rbac/external-provisioner.yaml"
cp "$snapshotter/deploy/kubernetes/snapshot-controller/rbac-snapshot-controller.yaml" "$tmp/manifests/rbac/snapshot-controller.yaml"
cp "$snapshotter/deploy/kubernetes/csi-snapshotter/rbac-csi-snapshotter.yaml" "$tmp/manifests/rbac/csi-snapshotter.yaml"
chmod -R u+w "$tmp/manifests"

for b in csi-provisioner snapshot-controller csi-snapshotter; do "$tmp/bin/$b" --version >&2; done
if [[ -d "$out" ]]; then
    echo "build-csi: another build finished $out first; keeping it" >&2
else
    mv "$tmp" "$out"
fi
echo "build-csi: built in $(( $(date +%s) - start )) s; $(du -sh "$bin" | cut -f1) of binaries; Go caches $(du -sh "$cache/go" | cut -f1)" >&2
echo "$bin"
