# The stage costs of issue 17's cost model (docs/performance.md, "Cost model"), sourced by
# scripts/bench when BENCH_STAGES=1, after the rounds: CPU-seconds per GB of each stage, measured
# one at a time on this machine. Uses the bench's own files and functions: $WORK/dump.sql.zst
# (the one-liner's output of round 1), $WORK/rounds.txt (the dump-alone CPU), cpu_children, sub.
#
#   stages WORK
#
# Prints a table; the Pi projection from it is in docs/performance.md.

# cpu_of CMD...: runs CMD, sets CPU_OF to the CPU seconds (user + sys) it used.
cpu_of() {
  local c0
  cpu_children; c0=$CPU_CHILDREN
  "$@"
  cpu_children; CPU_OF=$(sub "$c0" "$CPU_CHILDREN")
}

# per_gb CPU BYTES: CPU seconds per 10^9 bytes.
per_gb() { awk -v c="$1" -v b="$2" 'BEGIN { printf "%.3f", c / (b / 1e9) }'; }

stages() {
  local work=$1 raw=$1/raw.sql stored=$1/dump.sql.zst w=$1/stage-copy
  local raw_bytes stored_bytes line name cost bytes
  echo
  echo "==> stage costs (CPU-seconds per GB of each stage's input, one stage at a time)"
  [ -f "$stored" ] || { echo "bench: $stored is missing (round 1 keeps it)" >&2; return 1; }
  zstd -dcq "$stored" > "$raw"
  raw_bytes=$(stat -c %s "$raw"); stored_bytes=$(stat -c %s "$stored")

  echo "    building examples/stage_cost (as is, and with sha2's software SHA-256)"
  cargo build --locked --release --quiet --example stage_cost
  CARGO_TARGET_DIR=target/stage-soft cargo build --locked --release --quiet \
    --example stage_cost --features sha2/force-soft
  local hw=target/release/examples/stage_cost soft=target/stage-soft/release/examples/stage_cost

  {
    # The dump client and the server, from the dump-alone rounds (columns 19 and 20).
    echo "stage mariadb-dump_client $(per_gb "$(median 19)" "$raw_bytes") $raw_bytes"
    echo "stage mariadbd_server $(per_gb "$(median 20)" "$raw_bytes") $raw_bytes"
    "$hw" "$raw" 2>/dev/null
    "$soft" "$raw" 2>/dev/null | awk '$2 == "sha256" { $2 = "sha256_software"; print }'
    # The kernel's share: writing a copy with its fsync, reading it back with O_DIRECT, and
    # through the page cache after dropping it (what the read-back did before issue 17).
    cpu_of dd if="$stored" of="$w" bs=1M conv=fdatasync status=none
    echo "stage kernel_write_fsync $(per_gb "$CPU_OF" "$stored_bytes") $stored_bytes"
    cpu_of dd if="$w" of=/dev/null bs=1M iflag=direct status=none
    echo "stage kernel_read_direct $(per_gb "$CPU_OF" "$stored_bytes") $stored_bytes"
    dd if="$w" iflag=nocache count=0 status=none
    cpu_of dd if="$w" of=/dev/null bs=1M status=none
    echo "stage kernel_read_cached_path $(per_gb "$CPU_OF" "$stored_bytes") $stored_bytes"
    # The one-liner's compressor for comparison: zstd's own CLI, one thread.
    cpu_of zstd -3 -T1 -q -c "$raw" > /dev/null
    echo "stage zstd3_cli_one_thread $(per_gb "$CPU_OF" "$raw_bytes") $raw_bytes"
  } > "$work/stages.txt"
  rm -f "$w" "$raw"

  printf '%-28s %12s %14s\n' stage "CPU s / GB" "input bytes"
  while read -r _ name cost bytes; do
    printf '%-28s %12s %14s\n' "$name" "$cost" "$bytes"
  done < "$work/stages.txt"
  echo "(raw dump $raw_bytes bytes, stored $stored_bytes bytes: ratio" \
    "$(awk -v r="$raw_bytes" -v s="$stored_bytes" 'BEGIN { printf "%.3f", s / r }'))"
  line=$(grep -c . "$work/stages.txt")
  [ "$line" -ge 10 ] || { echo "bench: a stage did not report (see above)" >&2; return 1; }
}
