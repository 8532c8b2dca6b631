#!/usr/bin/env bash
# Prints what `make test` has on disk (target/, .work/) and what the filesystem has left, and
# warns when that is less than a cold run's Rust build needs. A CI run once failed with "No
# space left on device" while linking; this line in its log says why before it happens.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
need_gib=${VELOXIDE_DISK_NEED_GIB:-5}
avail_kib=$(df -Pk "$root" | awk 'NR == 2 { print $4 }')
used() { [[ -d "$1" ]] && du -sh "$1" 2>/dev/null | cut -f1 || echo 0; }
echo "disk: $((avail_kib / 1024 / 1024)) GiB free on $(df -P "$root" | awk 'NR == 2 { print $6 }'); target/ $(used "$root/target"), .work/ $(used "$root/.work")"
if (( avail_kib < need_gib * 1024 * 1024 )); then
    echo "disk: WARNING: less than ${need_gib} GiB free; a cold build of the tests needs about that much (make clean frees target/ and .work/)" >&2
fi
exit 0
