#!/usr/bin/env bash
# A bounded fuzz run over admission decoding/validation, CA bundle parsing, the restore's
# archive reader (gzip, tar, bounds, item JSON), velero-backup.json decoding, and the sync's and
# expiry's reading of it.
#   fuzz/run.sh [SECONDS_PER_TARGET]
# Uses cargo-fuzz with the nightly toolchain (installed if missing). Seeds come from the
# test fixtures; anything found lands in fuzz/artifacts/ and must become a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz@0.13.1
fi
rustup toolchain list | grep -q nightly || { echo "a nightly toolchain is needed for cargo fuzz" >&2; exit 1; }

mkdir -p corpus/admission_review corpus/ca_bundle corpus/archive corpus/archive_memory corpus/item_json corpus/backup_metadata corpus/sync_metadata
python3 seed.py corpus
for target in admission_review ca_bundle archive archive_memory item_json backup_metadata sync_metadata; do
  echo "== fuzzing $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+.*DONE|stat::|==|INFO: Running|.*(panicked|ERROR|SUMMARY))' || true
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz: $target found a crash: $(ls artifacts/$target/crash-*)" >&2
    exit 1
  fi
done
echo "fuzz: no crashes in ${seconds}s per target"
