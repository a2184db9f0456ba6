#!/usr/bin/env bash
# Peak resident memory of `student submit` and of `blackboard serve` for uploads of several
# sizes, with the release build. Usage: scripts/measure-rss.sh [SIZE_MIB ...]  (default: 10 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p handin-cuhk -p handin-blackboard -p handin-student -p handin-perf
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 1024)

"$bin/cuhk" init --dir "$work/pki" >/dev/null
"$bin/cuhk" issue-server --dir "$work/pki" --name Blackboard --san 127.0.0.1 --out-cert "$work/bb.crt" --out-key "$work/bb.key" >/dev/null
"$bin/blackboard" init --data "$work/data" >/dev/null
"$bin/blackboard" assignment add --data "$work/data" CSCI3180 hw1 --due 2099-01-01T00:00:00Z --max-size 4GB >/dev/null
code="$("$bin/cuhk" roster add --dir "$work/pki" 1155000001)"
"$bin/cuhk" serve --dir "$work/pki" --listen 127.0.0.1:0 2>"$work/cuhk.log" & pids+=($!)
until grep -qs 'listening on' "$work/cuhk.log"; do sleep 0.05; done
cuhk="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$work/cuhk.log")"
"$bin/student" --profile "$work/p" enroll --id 1155000001 --code "$code" --ca "$work/pki/ca.crt" --cuhk "$cuhk" >/dev/null

for mib in "${sizes[@]}"; do
  "$bin/blackboard" serve --data "$work/data" --ca "$work/pki/ca.crt" --cert "$work/bb.crt" --key "$work/bb.key" \
    --crl "$work/pki/crl.pem" --listen 127.0.0.1:0 2>"$work/bb.log" & bb=$!
  until grep -qs 'listening on' "$work/bb.log"; do sleep 0.05; done
  addr="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$work/bb.log")"
  head -c $((mib * 1024 * 1024)) /dev/urandom > "$work/file.bin"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/student.rss" "$bin/student" --profile "$work/p" submit "$work/file.bin" \
    --course CSCI3180 --assignment hw1 --blackboard "$addr" >/dev/null
  end=$(date +%s.%N)
  bb_rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$bb/status)
  kill -TERM $bb; wait $bb
  rm -f "$work/file.bin"
  printf '%6d MiB upload: %6.2f s, student peak RSS %6d KiB, blackboard peak RSS %6d KiB\n' \
    "$mib" "$(echo "$end - $start" | bc)" "$(cat "$work/student.rss")" "$bb_rss"
done
