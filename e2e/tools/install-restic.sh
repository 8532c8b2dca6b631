#!/usr/bin/env bash
# Installs the restic CLI (Debian package `restic`, idempotent): the independent checker of
# veloxide's file-system backup repositories (tests/integration/repository_restic.rs runs
# `restic check --read-data`, `restic restore` and `restic backup` against them). Repository
# format version 2 (compression), which veloxide writes, needs restic 0.14 or newer.
# Called by e2e/tools/install-test-tools.sh; safe to run on its own.
set -euo pipefail

if ! dpkg-query -W -f='${Status}' restic 2>/dev/null | grep -q 'install ok installed'; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq restic >/dev/null
fi
[[ -x /usr/bin/restic ]] || { echo "install-restic: /usr/bin/restic missing after installing restic" >&2; exit 1; }
version=$(/usr/bin/restic version | awk '{print $2}')
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
if ((major == 0 && minor < 14)); then
    echo "install-restic: restic $version is too old: repository format 2 needs 0.14 or newer" >&2
    exit 1
fi
echo "restic ready: $version"
