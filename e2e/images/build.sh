#!/usr/bin/env bash
# Builds the images the test nodes run, locally (nothing can be pulled here), as docker-archive
# tarballs that `ctr images import` loads into each node's containerd:
#
#   bash e2e/images/build.sh pause              veloxide.test/pause:e2e     catatonit -P (Debian catatonit)
#   bash e2e/images/build.sh busybox            veloxide.test/busybox:e2e   Debian busybox-static, every applet
#   bash e2e/images/build.sh veloxide BINARY    veloxide.test/veloxide:e2e  BINARY and the shared libraries
#                                                                           ldd says it needs
#
# Prints the tarball's path. Each is kept in ${XDG_CACHE_HOME:-~/.cache}/veloxide/images/<name>-<key>/
# (e2e/tools/cache.sh), <key> a digest of this script and every file put in the image, so an
# unchanged image is built once per machine. The layer is reproducible (sorted, owner 0, mtime 0).
# The tag is fixed ("e2e", not "latest": kubelet would try to pull a :latest image on every start).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../tools/cache.sh
. "$here/../tools/cache.sh"
name="${1:-}"
tag="veloxide.test/$name:e2e"

# The files of the image: "SOURCE DEST" lines, DEST a path in the image.
files=()
entrypoint='null'
cmd='null'
case "$name" in
pause)
    files+=("/usr/bin/catatonit /catatonit")
    # -P: a pause process (reaps zombies, waits for a signal), what the sandbox container runs.
    entrypoint='["/catatonit", "-P"]'
    ;;
busybox)
    files+=("/bin/busybox /bin/busybox")
    cmd='["sh"]'
    ;;
veloxide)
    binary="${2:?usage: build.sh veloxide BINARY}"
    [[ -x "$binary" ]] || { echo "images: $binary is not an executable" >&2; exit 1; }
    binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
    files+=("$binary /usr/local/bin/veloxide")
    # The shared libraries at the paths the loader looks for them (the interpreter included),
    # copied from this machine: the image runs on this machine's nodes only.
    while read -r lib; do
        files+=("$(readlink -f "$lib") $lib")
    done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
    entrypoint='["/usr/local/bin/veloxide"]'
    ;;
*)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac

key="$( {
    cat "$0"
    echo "$name"
    for f in "${files[@]}"; do
        set -- $f
        echo "$2 $(sha256sum <"$1" | cut -c1-64)"
    done
} | sha256sum | cut -c1-16)"
cache_claim images "$name-$key"
out="$CACHE_ENTRY"
if [[ -f "$out/image.tar" ]]; then
    cache_touch "$out"
    echo "$out/image.tar"
    exit 0
fi

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/rootfs/tmp" "$tmp/rootfs/etc" "$tmp/archive"
chmod 1777 "$tmp/rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tmp/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/rootfs/etc/group"
for f in "${files[@]}"; do
    set -- $f
    install -D -m 0755 "$1" "$tmp/rootfs$2"
done
if [[ "$name" == busybox ]]; then
    # Every applet as a link to the one binary, where busybox itself says it belongs.
    /bin/busybox --list-full | while read -r applet; do
        [[ "$applet" == bin/busybox ]] && continue
        mkdir -p "$tmp/rootfs/$(dirname "$applet")"
        ln -sf /bin/busybox "$tmp/rootfs/$applet"
    done
fi

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/rootfs" -cf "$tmp/layer.tar" .
layer="$(sha256sum <"$tmp/layer.tar" | cut -c1-64)"
mkdir -p "$tmp/archive/$layer"
mv "$tmp/layer.tar" "$tmp/archive/$layer/layer.tar"
cat >"$tmp/config.json" <<JSON
{"architecture": "amd64", "os": "linux",
 "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": $entrypoint, "Cmd": $cmd, "WorkingDir": "/"},
 "rootfs": {"type": "layers", "diff_ids": ["sha256:$layer"]},
 "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "e2e/images/build.sh $name"}]}
JSON
config="$(sha256sum <"$tmp/config.json" | cut -c1-64)"
mv "$tmp/config.json" "$tmp/archive/$config.json"
printf '[{"Config": "%s.json", "RepoTags": ["%s"], "Layers": ["%s/layer.tar"]}]\n' \
    "$config" "$tag" "$layer" >"$tmp/archive/manifest.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/archive" -cf "$tmp/image.tar" .
rm -rf "$out"
mkdir -p "$out"
mv "$tmp/image.tar" "$out/image.tar"
rm -rf "$tmp"
cache_touch "$out"
# Images of older inputs (another binary) that no clone has used for two weeks go; the veloxide
# image changes with every build of the binary, so its older ones go after a day.
cache_prune images "$name-$key" "$([[ $name == veloxide ]] && echo 1 || echo 14)" "$name-"
echo "images: built $tag ($(du -h "$out/image.tar" | cut -f1))" >&2
echo "$out/image.tar"
