#!/usr/bin/env bash
# Builds kubectl from k8s.io/kubectl at the Kubernetes release the control plane is built from
# (e2e/kubectl, a module of its own so the control plane's module and cache key stay as they
# are), into ${XDG_CACHE_HOME:-~/.cache}/veloxide/kubectl/<key>/bin (e2e/tools/cache.sh), <key> a
# digest of e2e/kubectl's go.mod, go.sum and main.go and the Go version. The demo and the tests
# put that directory first on PATH, so `kubectl version` shows no client/server skew warning.
# Prints the bin directory on stdout (progress goes to stderr).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/e2e/kubectl"
# shellcheck source=cache.sh
. "$root/e2e/tools/cache.sh"
command -v go >/dev/null || { echo "build-kubectl: go not found (Go 1.24 or newer is needed)" >&2; exit 1; }

# One Kubernetes release for client and server: the control plane's k8s.io/kubernetes v1.Y.Z is
# k8s.io/kubectl v0.Y.Z. A bump of one without the other is refused here, not found as a skew
# warning later.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$root/e2e/controlplane/go.mod")"
kubectl_module="$(awk '$1 == "k8s.io/kubectl" { print $2 }' "$src/go.mod")"
if [[ "v0.${k8s_version#v1.}" != "$kubectl_module" ]]; then
    echo "build-kubectl: e2e/kubectl/go.mod has k8s.io/kubectl $kubectl_module but the control plane is k8s.io/kubernetes $k8s_version; set k8s.io/kubectl to v0.${k8s_version#v1.} and run go mod tidy there" >&2
    exit 1
fi
go_version="$(go env GOVERSION)"
key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" <(echo "$go_version") | sha256sum | cut -c1-16)"

cache_claim kubectl "$key"
out="$CACHE_ENTRY"
bin="$out/bin"
if [[ -x "$bin/kubectl" ]]; then
    cache_touch "$out"
    echo "$bin"
    exit 0
fi

# This script's own caches (not build-control-plane.sh's .work/go, which that script deletes).
work="$root/.work/go-kubectl"
export GOMODCACHE="$work/mod" GOCACHE="$work/cache" GOFLAGS=-mod=readonly GOTMPDIR="$work/tmp"
mkdir -p "$GOTMPDIR"
export CGO_ENABLED=0
minor="$(echo "$k8s_version" | cut -d. -f2)"
# kubectl reports its own version from client-go's package and the server's skew from it.
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

start=$(date +%s)
echo "build-kubectl: kubectl $k8s_version with $go_version into $bin (first time: about 15 minutes on 2 busy cores)" >&2
(cd "$src" && go mod download)
rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin"
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp/bin/kubectl" .)
unformatted="$(cd "$src" && gofmt -l .)"
[[ -z "$unformatted" ]] || { echo "build-kubectl: gofmt wants changes in: $unformatted" >&2; exit 1; }
(cd "$src" && go vet -trimpath ./...)
rm -rf "$out"
mv "$out.tmp" "$out"
cache_touch "$out"
go clean -modcache
rm -rf "$work"
cache_prune kubectl "$key"
echo "build-kubectl: built in $(( $(date +%s) - start )) s; $(du -sh "$bin" | cut -f1)" >&2
echo "$bin"
