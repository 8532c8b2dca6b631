# Sourced by the build scripts: where built test peers are kept across clones on one machine,
# the way setup-envtest keeps envtest binaries: ${XDG_CACHE_HOME:-$HOME/.cache}/veloxide/<what>/<key>,
# <key> a digest of every input of the build, so a second clone (or a `make clean`) reuses an
# unchanged build and a changed input builds beside the old one.

veloxide_cache_root() {
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/veloxide"
}

# cache_claim WHAT KEY: sets CACHE_ENTRY to the entry's directory and takes its lock (fd 9, held
# until the calling script exits), so two clones building the same key at once build it once:
# the second waits, then finds it done. (Not `$(cache_claim ...)`: a subshell would drop the lock.)
cache_claim() {
    local base
    base="$(veloxide_cache_root)/$1"
    CACHE_ENTRY="$base/$2"
    mkdir -p "$base"
    exec 9>"$CACHE_ENTRY.lock"
    flock 9
}

# cache_touch ENTRY: records a use (a build that is still wanted is never pruned).
cache_touch() {
    [[ -d "$1" ]] && touch "$1/.last-used"
    return 0
}

# cache_prune WHAT KEEP [DAYS [PREFIX]]: removes the entries of WHAT (whose names start with
# PREFIX) other than KEEP that no clone has used for DAYS days (default 14; each use touches
# .last-used), taking each one's lock first so an entry being built or read now is left alone.
cache_prune() {
    local base entry days="${3:-14}" prefix="${4:-}"
    base="$(veloxide_cache_root)/$1"
    for entry in "$base/$prefix"*/; do
        entry="${entry%/}"
        [[ -d "$entry" && "$(basename "$entry")" != "$2" && "$entry" != *.tmp ]] || continue
        [[ -z "$(find "$entry/.last-used" -mtime "-$days" 2>/dev/null)" ]] || continue
        (
            exec 8>"$entry.lock"
            flock -n 8 || exit 0
            rm -rf "$entry" "$entry.tmp"
            rm -f "$entry.lock"
        )
    done
}
