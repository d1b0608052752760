# shellcheck shell=bash disable=SC2034  # RUN_PID, POLLER_PID, GARAGE_PID: scripts/bench's
# The off-site upload stage of scripts/bench (issue 16, docs/performance.md "Off-site upload"),
# sourced by scripts/bench after the rounds (BENCH_OFFSITE=1, the default) or instead of them
# (BENCH_OFFSITE=only). Starts one Garage node on loopback in $WORK/garage, takes one backup of
# the benchmark database onto $WORK/offsite/disk (a clear copy, as the agent writes it without
# [encryption]), then runs, alternately (the agent first in odd rounds, rclone first in even ones):
#   (a) simdondar-backup offsite push --target DISK --json    (encrypts the copy to the staging
#       file, fsync + read-back, multipart upload with Content-MD5 and x-amz-checksum-sha256,
#       two reads of each part, sampled parts read back, sidecar and manifest)
#   (b) rclone copyto FILE.age g:BUCKET/...   (the same bytes, age-encrypted once beforehand,
#       same part size, rclone's other defaults)
# Each round uses a fresh state_dir and key prefix, so the agent encrypts and sends everything
# again. Peak RSS is VmHWM sampled every 100 ms (the bench's method) for both. The agent's
# staging time is when its finished staging file first appeared (100 ms polls).
# Uses the bench's $WORK, $BIN, $WORK/etc/config.toml, $SLEEPFD, sub, median, GARAGE_PID, RUN_PID
# and POLLER_PID (the cleanup trap kills what is left of them).
#
#   offsite_bench
#
# Environment (besides the bench's): BENCH_OFFSITE_ROUNDS (default: BENCH_ROUNDS, else 3),
# BENCH_GARAGE_PORT (default 33910: RPC; +1 S3 API; +2 admin API), BENCH_RCLONE_CONCURRENCY
# (rclone's --s3-upload-concurrency, default 4 as rclone's own; the agent sends one part at a time),
# BENCH_OFFSITE_EXTRA_MB (default 0): also push one command-source backup of that many MiB of
# random bytes, once, to see the agent's peak RSS at a second size.

GARAGE_TIMEOUT=30   # seconds a node may take to answer, and any admin command to finish

# garage_cli ARGS...: the admin CLI against the node, bounded.
garage_cli() {
  timeout "$GARAGE_TIMEOUT" env -u GARAGE_RPC_SECRET -u GARAGE_ADMIN_TOKEN RUST_LOG=warn \
    "$SIMDONDAR_GARAGE" -c "$GDIR/garage.toml" "$@" < /dev/null
}

# port_free PORT: whether nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

garage_config() {
  local p secret
  G_RPC=${BENCH_GARAGE_PORT:-33910}; G_S3=$((G_RPC + 1)); G_ADMIN=$((G_RPC + 2))
  for p in "$G_RPC" "$G_S3" "$G_ADMIN"; do
    port_free "$p" || {
      echo "bench: port $p is taken (set BENCH_GARAGE_PORT to a free range of 3)" >&2; exit 2
    }
  done
  GDIR=$WORK/garage
  mkdir -p "$GDIR/meta" "$GDIR/data"
  secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  G_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  install -m 600 /dev/null "$GDIR/garage.toml"
  cat > "$GDIR/garage.toml" <<TOML
metadata_dir = "$GDIR/meta"
data_dir = "$GDIR/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$G_RPC"
rpc_public_addr = "127.0.0.1:$G_RPC"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$G_S3"

[admin]
api_bind_addr = "127.0.0.1:$G_ADMIN"
admin_token = "$G_TOKEN"
TOML
}

garage_start() {
  env -u GARAGE_RPC_SECRET -u GARAGE_ADMIN_TOKEN RUST_LOG=garage=warn \
    "$SIMDONDAR_GARAGE" -c "$GDIR/garage.toml" server < /dev/null > "$GDIR/garage.log" 2>&1 &
  GARAGE_PID=$!
}

garage_fail() {
  echo "bench: Garage: $1; its log (tail):" >&2
  tail -n 40 "$GDIR/garage.log" >&2
  exit 1
}

# garage_wait WHAT: until the admin API's /health answers 200 (and, for WHAT=full, the cluster
# is "fully operational") and the CLI reaches the node; at most GARAGE_TIMEOUT seconds.
garage_wait() {
  local deadline=$((SECONDS + GARAGE_TIMEOUT)) body
  while :; do
    kill -0 "$GARAGE_PID" 2>/dev/null || garage_fail "the server exited"
    body=$(curl -fsS -m 2 "http://127.0.0.1:$G_ADMIN/health" 2>/dev/null || true)
    if [ "$1" = answers ] && garage_cli status >/dev/null 2>&1; then return 0; fi
    if [ "$1" = full ] && [[ $body == *"fully operational"* ]]; then return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || garage_fail "not $1 within $GARAGE_TIMEOUT s"
    sleep 0.2
  done
}

# garage_setup: layout, the key, the bucket; writes the agent's credentials file and rclone's
# config (mode 0600, no secret in any argv).
garage_setup() {
  local id text key_id key_secret
  id=$(garage_cli node id -q) || garage_fail "garage node id failed"
  garage_cli layout assign -z z1 -c 10G "${id%%@*}" >/dev/null || garage_fail "layout assign"
  garage_cli layout apply --version 1 >/dev/null || garage_fail "layout apply"
  garage_wait full
  text=$(garage_cli key create simdondar-bench) || garage_fail "key create"
  key_id=$(awk -F': *' '/Key ID:/ { print $2; exit }' <<<"$text")
  key_secret=$(awk -F': *' '/Secret key:/ { print $2; exit }' <<<"$text")
  if [ -z "$key_id" ] || [ -z "$key_secret" ]; then garage_fail "no key in: $text"; fi
  garage_cli bucket create simdondar >/dev/null || garage_fail "bucket create"
  garage_cli bucket allow --read --write simdondar --key "$key_id" >/dev/null ||
    garage_fail "bucket allow"
  install -m 600 /dev/null "$WORK/etc/s3.credentials"
  printf 'access_key_id = "%s"\nsecret_access_key = "%s"\n' "$key_id" "$key_secret" \
    > "$WORK/etc/s3.credentials"
  install -m 600 /dev/null "$WORK/etc/rclone.conf"
  printf '[g]\ntype = s3\nprovider = Other\naccess_key_id = %s\nsecret_access_key = %s\n%s\n' \
    "$key_id" "$key_secret" "endpoint = http://127.0.0.1:$G_S3
region = garage
force_path_style = true
no_check_bucket = true" > "$WORK/etc/rclone.conf"
}

# offsite_keys: an age key pair for [encryption] recipients; sets RECIPIENT.
offsite_keys() {
  if ! "$BIN" keygen --out "$WORK/etc/offsite.key" > "$WORK/offsite/keygen.log" 2>&1; then
    cat "$WORK/offsite/keygen.log" >&2; exit 1
  fi
  RECIPIENT=$(sed -n 's/^# public key: //p' "$WORK/etc/offsite.key")
  [ -n "$RECIPIENT" ] || { echo "bench: no public key in $WORK/etc/offsite.key" >&2; exit 1; }
}

# offsite_config ROUND: the agent's configuration for one push, with its own state_dir and
# prefix (nothing from an earlier round is known or on the store under that prefix).
offsite_config() {
  local r=$1 conf=$WORK/etc/offsite-$1.toml
  rm -rf "$WORK/offsite/state-$r"
  mkdir -p "$WORK/offsite/state-$r"
  sed "s|^state_dir = .*|state_dir = \"$WORK/offsite/state-$r\"|" "$WORK/etc/config.toml" > "$conf"
  cat >> "$conf" <<TOML
$BULK_SOURCE
[encryption]
recipients = ["$RECIPIENT"]

[[offsite]]
name = "bench"
endpoint = "http://127.0.0.1:$G_S3"
region = "garage"
bucket = "simdondar"
prefix = "agent-$r/"
credentials_file = "$WORK/etc/s3.credentials"
schedule = "each"
TOML
  OFFSITE_CONF=$conf
}

# offsite_backup DISK [SOURCE]: one clear backup (the bench's config: no [encryption]) on DISK;
# sets OB_FILE (its data file) and OB_SIZE.
offsite_backup() {
  local disk=$1 source=${2:-pmi} conf=$WORK/etc/offsite-backup.toml
  mkdir -p "$disk"
  sed "s|^state_dir = .*|state_dir = \"$WORK/offsite/state-backup\"|" "$WORK/etc/config.toml" \
    > "$conf"
  printf '%s\n' "$BULK_SOURCE" >> "$conf"
  mkdir -p "$WORK/offsite/state-backup"
  if ! "$BIN" --config "$conf" backup --source "$source" --target "$disk" \
    > "$WORK/offsite/backup-$source.log" 2>&1; then
    echo "bench: the backup for the off-site stage failed:" >&2
    cat "$WORK/offsite/backup-$source.log" >&2
    exit 1
  fi
  OB_FILE=$(find "$disk" -path '*/offsite-staging' -prune -o -type f \
    \( -name '*.zst' -o -name '*.bin' \) -print | head -n1)
  [ -n "$OB_FILE" ] || { echo "bench: no backup file on $disk" >&2; exit 1; }
  OB_SIZE=$(stat -c %s "$OB_FILE")
}

# poll_staged PID OUT FILE: like poll, but records when FILE (the finished staging file) was
# first seen; writes "HWM SEEN" to OUT.
poll_staged() {
  local pid=$1 out=$2 file=$3 hwm=0 seen=- st
  while :; do
    st=
    read -r -d '' st 2>/dev/null < "/proc/$pid/status" || true
    [[ $st =~ VmHWM:[[:space:]]+([0-9]+) ]] || break
    hwm=${BASH_REMATCH[1]}
    if [ "$seen" = - ] && [ -e "$file" ]; then seen=$EPOCHREALTIME; fi
    printf '%s %s\n' "$hwm" "$seen" > "$out"
    read -r -t 0.1 -u "$SLEEPFD" _ || true
  done
}

# run_push ROUND DISK: sets P_WALL P_STAGE P_HWM_KB P_BYTES.
run_push() {
  local r=$1 disk=$2 rc=0 t0 t1 pid seen staged
  offsite_config "$r"
  staged=$disk/SIMDONDAR-BACKUP/offsite-staging/$(basename "$OB_FILE").age
  rm -f "$WORK/poll"
  sync
  t0=$EPOCHREALTIME
  "$BIN" --config "$OFFSITE_CONF" offsite push --target "$disk" --json \
    > "$WORK/offsite/push-$r.json" 2> "$WORK/offsite/push-$r.log" &
  pid=$!
  RUN_PID=$pid
  poll_staged "$pid" "$WORK/poll" "$staged" &
  POLLER_PID=$!
  wait "$pid" || rc=$?
  t1=$EPOCHREALTIME
  RUN_PID=
  wait "$POLLER_PID" || true
  POLLER_PID=
  if [ "$rc" -ne 0 ] || ! grep -q '"failure": null' "$WORK/offsite/push-$r.json"; then
    echo "bench: off-site round $r: the push failed (status $rc):" >&2
    cat "$WORK/offsite/push-$r.json" "$WORK/offsite/push-$r.log" >&2
    exit 1
  fi
  read -r P_HWM_KB seen < "$WORK/poll"
  P_WALL=$(sub "$t0" "$t1")
  if [ "$seen" = - ]; then P_STAGE="?"; else P_STAGE=$(sub "$t0" "$seen"); fi
  P_BYTES=$(grep -o '"bytes_sent": *[0-9]*' "$WORK/offsite/push-$r.json" | grep -o '[0-9]*$')
  if [ -e "$staged" ]; then
    echo "bench: off-site round $r: the staging file is still there after the push" >&2
    exit 1
  fi
}

# run_rclone ROUND FILE: sets R_WALL R_HWM_KB.
run_rclone() {
  local r=$1 file=$2 rc=0 t0 t1 pid
  rm -f "$WORK/poll"
  sync
  t0=$EPOCHREALTIME
  env -u AWS_CA_BUNDLE -u RCLONE_CONFIG rclone --config "$WORK/etc/rclone.conf" \
    --retries 1 --low-level-retries 1 --s3-chunk-size "$PART_MIB"M \
    --s3-upload-concurrency "$RCLONE_CONC" \
    copyto "$file" "g:simdondar/rclone-$r/$(basename "$file")" \
    < /dev/null > "$WORK/offsite/rclone-$r.log" 2>&1 &
  pid=$!
  RUN_PID=$pid
  poll "$pid" "$WORK/poll" &
  POLLER_PID=$!
  wait "$pid" || rc=$?
  t1=$EPOCHREALTIME
  RUN_PID=
  wait "$POLLER_PID" || true
  POLLER_PID=
  if [ "$rc" -ne 0 ]; then
    echo "bench: off-site round $r: rclone failed (status $rc):" >&2
    cat "$WORK/offsite/rclone-$r.log" >&2
    exit 1
  fi
  read -r R_HWM_KB _ < "$WORK/poll"
  R_WALL=$(sub "$t0" "$t1")
}

# offsite_round ROUND DISK FILE: (a) and (b), the agent first when ROUND is odd; appends a row
# "round a_s stage_s a_up_s b_s a/b a_up/b a_rss b_rss a_MBps b_MBps bytes" to OFFSITE_ROWS.
offsite_round() {
  local r=$1 disk=$2 file=$3 n=${1//[^0-9]/}
  if [ $(( ${n:-1} % 2 )) = 1 ]; then run_push "$r" "$disk"; run_rclone "$r" "$file"
  else run_rclone "$r" "$file"; run_push "$r" "$disk"; fi
  OFFSITE_ROWS+=("$(awk -v r="$r" -v a="$P_WALL" -v s="$P_STAGE" -v b="$R_WALL" \
    -v ha="$P_HWM_KB" -v hb="$R_HWM_KB" -v n="$P_BYTES" 'BEGIN {
      up = (s == "?") ? a : a - s
      printf "%s %.2f %s %.2f %.2f %.3f %.3f %.1f %.1f %.1f %.1f %d\n", r, a,
        (s == "?") ? "?" : sprintf("%.2f", s), up, b, a / b, up / b, ha / 1024, hb / 1024,
        n / 1e6 / a, n / 1e6 / b, n }')")
  printf '    off-site round %s: agent %.2f s (staging %s s), rclone %.2f s, agent RSS %.1f MiB,' \
    "$r" "$P_WALL" "$P_STAGE" "$R_WALL" "$(awk -v k="$P_HWM_KB" 'BEGIN { print k / 1024 }')"
  printf ' rclone RSS %.1f MiB\n' "$(awk -v k="$R_HWM_KB" 'BEGIN { print k / 1024 }')"
}

offsite_bench() {
  local rounds=${BENCH_OFFSITE_ROUNDS:-${BENCH_ROUNDS:-3}} extra=${BENCH_OFFSITE_EXTRA_MB:-0}
  local r disk=$WORK/offsite/disk clear_age=$WORK/offsite/clear.age row
  PART_MIB=16   # the agent's default part_size
  RCLONE_CONC=${BENCH_RCLONE_CONCURRENCY:-4}
  BULK_SOURCE=
  if [ "$extra" -gt 0 ]; then
    BULK_SOURCE="[[source]]
name = \"bulk\"
kind = \"command\"
command = [\"head\", \"-c\", \"$((extra << 20))\", \"/dev/urandom\"]
extension = \"bin\""
  fi
  echo
  echo "==> off-site upload (issue 16): one Garage node on loopback, $rounds rounds of"
  echo "    (a) offsite push (encrypt to staging + upload + read-back) and (b) rclone copyto"
  mkdir -p "$WORK/offsite"
  garage_config
  garage_start
  garage_wait answers
  garage_setup
  offsite_keys
  offsite_backup "$disk"
  echo "    backup to send: $(basename "$OB_FILE"), $OB_SIZE bytes"
  age -r "$RECIPIENT" -o "$clear_age" "$OB_FILE"
  local name size age_size
  name=$(basename "$OB_FILE"); size=$OB_SIZE; age_size=$(stat -c %s "$clear_age")
  OFFSITE_ROWS=()
  for r in $(seq 1 "$rounds"); do offsite_round "$r" "$disk" "$clear_age"; done
  printf '%s\n' "${OFFSITE_ROWS[@]}" > "$WORK/offsite/rounds.txt"
  if [ "$extra" -gt 0 ]; then
    local disk2=$WORK/offsite/disk-bulk
    offsite_backup "$disk2" bulk
    age -r "$RECIPIENT" -o "$WORK/offsite/bulk.age" "$OB_FILE"
    offsite_round "bulk" "$disk2" "$WORK/offsite/bulk.age"
    echo "    (round bulk, not in the medians: $(basename "$OB_FILE"), $OB_SIZE bytes clear)"
  fi

  echo
  echo "off-site upload: $name ($size bytes clear, $age_size encrypted by age)," \
    "part_size ${PART_MIB} MiB, Garage $("$SIMDONDAR_GARAGE" --version 2>/dev/null |
      grep -o '[0-9][0-9.]*' | head -n1) (1 node, loopback, sqlite), $(rclone version |
      head -n1 | sed 's/^rclone v/rclone /')"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- |
    sed 's/^ *//'), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) after;" \
    "work dir on $(findmnt -n -o FSTYPE --target "$WORK" || echo '?')"
  echo "(a) simdondar-backup offsite push --target DISK --json   [fresh state_dir and prefix]"
  echo "(b) rclone copyto FILE.age g:simdondar/...  --s3-chunk-size ${PART_MIB}M" \
    "--s3-upload-concurrency $RCLONE_CONC"
  local head='%-6s %7s %7s %7s %7s %6s %7s %8s %8s %7s %7s %12s\n'
  # shellcheck disable=SC2059
  printf "$head" round "(a) s" "a:stage" "a:upld" "(b) s" "a/b" "upld/b" "a RSS" "b RSS" \
    "a MB/s" "b MB/s" "bytes sent"
  for row in "${OFFSITE_ROWS[@]}"; do
    # shellcheck disable=SC2086,SC2059
    printf '%-6s %7.2f %7s %7.2f %7.2f %6.3f %7.3f %8.1f %8.1f %7.1f %7.1f %12d\n' $row
  done
  local f=$WORK/offsite/rounds.txt
  printf '%-6s %7.2f %7s %7.2f %7.2f %6.3f %7.3f %8.1f %8.1f %7.1f %7.1f\n' median \
    "$(median 2 "$f")" "$(median 3 "$f")" "$(median 4 "$f")" "$(median 5 "$f")" \
    "$(median 6 "$f")" "$(median 7 "$f")" "$(median 8 "$f")" "$(median 9 "$f")" \
    "$(median 10 "$f")" "$(median 11 "$f")"
  echo "(a:stage = start until the encrypted staging file was renamed into place (100 ms polls):"
  echo " reading and encrypting the clear copy, fsync, reading it back. a:upld = the rest:"
  echo " multipart upload, each part read twice, sampled parts read back, sidecar, manifest."
  echo " upld/b compares that rest with rclone. RSS: VmHWM of the agent / of rclone, MiB."
  echo " MB/s: bytes sent / wall time, 10^6 bytes. The bytes differ by a few hundred between rounds:
 age adds a random-length grease stanza to each header.)"
}
