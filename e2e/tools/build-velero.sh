#!/usr/bin/env bash
# Builds Velero and velero-plugin-for-aws from the Go module proxy into .work/velero/<key>/bin and
# .work/velero/<key>/plugins (the --plugin-dir), as
# a peer for veloxide's interoperability tests (tests/integration/velero_interop.rs). <key> is a
# digest of what determines the build: e2e/velero's go.mod, go.sum and main, the plugin's version
# and the Go version. An unchanged tree reuses the build. Prints the bin directory on stdout
# (progress goes to stderr). Nothing of Velero's code is committed: e2e/velero is a wrapper module
# whose main calls Velero's command constructor, with Velero's own kopia replace (go install
# refuses a module with replace directives); the plugin has none and installs with go install.
# Module downloads and the build cache live in .work/go-velero and are deleted after a build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/e2e/velero"
# The plugin release that matches Velero 1.18 (the plugin's README: v1.14.x with Velero v1.18.x).
plugin_version=v1.14.3
command -v go >/dev/null || { echo "build-velero: go not found (Go 1.26 or newer is needed)" >&2; exit 1; }

velero_version="$(awk '$1 == "github.com/vmware-tanzu/velero" { print $2; exit }' "$src/go.mod")"
go_version="$(go env GOVERSION)"
key="$(cat "$src/go.mod" "$src/go.sum" "$src"/cmd/*/main.go <(echo "$plugin_version $go_version") | sha256sum | cut -c1-16)"
out="$root/.work/velero/$key"
bin="$out/bin"

if [[ -x "$bin/velero" && -x "$out/plugins/velero-plugin-for-aws" ]]; then
    echo "$bin"
    exit 0
fi

work="$root/.work/go-velero"
export GOMODCACHE="$work/mod" GOCACHE="$work/cache" GOFLAGS=-mod=readonly
export GOTMPDIR="$work/tmp"
mkdir -p "$GOTMPDIR"
export CGO_ENABLED=0

start=$(date +%s)
echo "build-velero: velero $velero_version and velero-plugin-for-aws $plugin_version with $go_version into $bin" >&2
(cd "$src" && go mod download)
# The commit the release tag names, from the module proxy's origin record, for `velero version`.
sha="$(cd "$src" && go mod download -json "github.com/vmware-tanzu/velero@$velero_version" \
    | awk -F'"' '$2 == "Hash" { print $4 }')"
echo "build-velero: modules $(du -sh "$GOMODCACHE" | cut -f1) in $(( $(date +%s) - start )) s" >&2
rm -rf "$out.tmp"
mkdir -p "$out.tmp/bin" "$out.tmp/plugins"
pkg=github.com/vmware-tanzu/velero/pkg/buildinfo
ldflags="-s -w -X $pkg.Version=$velero_version -X $pkg.GitSHA=${sha:-unknown} -X $pkg.GitTreeState=clean"
(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp/bin/velero" ./cmd/velero)
# The plugin's own go.mod decides its dependencies (it has no replace directives). It goes in a
# directory of its own: `velero server --plugin-dir` runs every executable there as a plugin.
GOBIN="$out.tmp/plugins" go install -trimpath -ldflags "-s -w" \
    "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws@$plugin_version"
unformatted="$(cd "$src" && gofmt -l .)"
[[ -z "$unformatted" ]] || { echo "build-velero: gofmt wants changes in: $unformatted" >&2; exit 1; }
(cd "$src" && go vet -trimpath ./...)
"$out.tmp/bin/velero" version --client-only >&2
rm -rf "$out"
mv "$out.tmp" "$out"
echo "build-velero: caches at their largest: $(du -sh "$work" | cut -f1)" >&2
# The caches only serve a rebuild (a changed go.sum): they go, as build-control-plane.sh's do.
go clean -modcache
rm -rf "$work"
find "$root/.work/velero" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
echo "build-velero: built in $(( $(date +%s) - start )) s; $(du -sh "$out" | cut -f1) of binaries" >&2
echo "$bin"
