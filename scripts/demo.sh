#!/usr/bin/env bash
# The whole handin scenario as real processes on loopback: CUHK's CA and enrollment server,
# Blackboard, a student who enrolls, submits, verifies the receipt, lists and fetches, and a
# teacher who runs the course: status, collect, grade with feedback, release.
# Usage: scripts/demo.sh        (builds the binaries first; leaves nothing behind)
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the addresses this script passes count.
unset HANDIN_CUHK HANDIN_BLACKBOARD HANDIN_HOME

echo "Building cuhk, blackboard, student and staff (a debug build: a few minutes on a fresh clone, seconds after)..."
started=$SECONDS
cargo build -p handin-cuhk -p handin-blackboard -p handin-student -p handin-staff
echo "Built in $((SECONDS - started)) s."
bin="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

n=0
step() { n=$((n + 1)); printf '\n%2d. %s\n' "$n" "$*"; }
run() { printf '    $ %s\n' "$*" | sed "s#$work#\$WORK#g; s#$bin/##g"; "$@" 2>&1 | sed 's/^/      /'; }

# Waits for a server to print its address, then echoes it.
address_of() {
  local log="$1"
  for _ in $(seq 1 200); do
    if grep -q 'listening on' "$log" 2>/dev/null; then
      sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -n 1
      return
    fi
    sleep 0.05
  done
  echo "server did not start:" >&2
  cat "$log" >&2
  exit 1
}

step "CUHK creates its root CA (ECDSA P-256), a certificate for its own enrollment server, an empty CRL and its records, and prints the root's SHA-256 fingerprint."
run "$bin/cuhk" init --dir "$work/pki" --san localhost --san 127.0.0.1
fingerprint="$("$bin/cuhk" fingerprint --dir "$work/pki")"

step "CUHK issues Blackboard's server certificate (serverAuth, valid for localhost and 127.0.0.1)."
run "$bin/cuhk" issue-server --dir "$work/pki" --name Blackboard --san localhost --san 127.0.0.1 \
  --out-cert "$work/blackboard.crt" --out-key "$work/blackboard.key"

step "Blackboard's operator makes its data directory, then adds the course, its staff list (teacher prof.lee) and its class list."
run "$bin/blackboard" init --data "$work/data"
run "$bin/blackboard" course add --data "$work/data" CSCI3180 --title "Programming Languages"
run "$bin/blackboard" course staff --data "$work/data" CSCI3180 --add prof.lee
printf 'Student ID,Name\n1155000001,Chan Tai Man\n1155000002,Lee Siu Ming\n' > "$work/classlist.csv"
run "$bin/blackboard" course students --data "$work/data" CSCI3180 --import "$work/classlist.csv"

step "CUHK puts student 1155000001 and teacher prof.lee on the roster; each one-time code is given in person."
code="$("$bin/cuhk" roster add --dir "$work/pki" 1155000001)"
staff_code="$("$bin/cuhk" roster add --dir "$work/pki" --staff prof.lee)"
echo "      one-time codes: $code (student), $staff_code (teacher)"

step "CUHK's enrollment server and Blackboard start (TLS 1.3 only, on loopback)."
"$bin/cuhk" serve --dir "$work/pki" --listen 127.0.0.1:0 -v 2>"$work/cuhk.log" & pids+=($!)
"$bin/blackboard" serve --data "$work/data" --ca "$work/pki/ca.crt" --cert "$work/blackboard.crt" \
  --key "$work/blackboard.key" --crl "$work/pki/crl.pem" --listen 127.0.0.1:0 -v 2>"$work/blackboard.log" & pids+=($!)
cuhk_addr="$(address_of "$work/cuhk.log")"
bb_addr="$(address_of "$work/blackboard.log")"
echo "      CUHK on $cuhk_addr, Blackboard on $bb_addr"

step "The teacher enrolls with their staff login and opens assignment hw1 over mutual TLS, due in a week (Blackboard checks that prof.lee is on the course's staff list)."
run "$bin/staff" --profile "$work/teacher" enroll --id prof.lee --code "$staff_code" --ca "$work/pki/ca.crt" --cuhk "$cuhk_addr"
due="$(date -u -d '+7 days' +%Y-%m-%dT%H:%M:%SZ)"
run "$bin/staff" --profile "$work/teacher" --blackboard "$bb_addr" assignment add CSCI3180 hw1 --due "$due" --max-size 10MB

step "The student makes a key pair and a CSR, and enrolls with only CUHK's address and the root's fingerprint (from the enrollment letter): CUHK sends its root in the TLS handshake, the client keeps it only if the fingerprint matches and CUHK's certificate verifies against it. CUHK checks the roster, the code and the CSR's own signature (proof of possession), then signs a client certificate whose subject is the student ID. The profile remembers both addresses."
run "$bin/student" --profile "$work/student" enroll --id 1155000001 --code "$code" --cuhk "$cuhk_addr" --fingerprint "$fingerprint" --blackboard "$bb_addr"
run "$bin/student" --profile "$work/student" config

step "The student submits homework over mutual TLS: Blackboard verifies the certificate against the CUHK root and the CRL, takes the ID from it, checks size and SHA-256, stores the file durably, and signs a receipt."
head -c 200000 /dev/urandom > "$work/hw1.pdf"
run "$bin/student" --profile "$work/student" submit "$work/hw1.pdf" --course CSCI3180 --assignment hw1

step "The receipt verifies offline with Blackboard's certificate: it must come from the CUHK root as a server certificate, and be the one the profile pinned when it first reached Blackboard."
receipt="$(ls "$work/student/receipts/"*.receipt)"
run "$bin/student" --profile "$work/student" verify-receipt "$receipt" --blackboard-cert "$work/blackboard.crt"

step "The student lists their submissions (Blackboard shows a student only their own)."
run "$bin/student" --profile "$work/student" list

step "The student fetches the submission back; the client checks its size and SHA-256."
id="$(basename "$receipt" .receipt)"
run "$bin/student" --profile "$work/student" fetch "$id" --out "$work/fetched.pdf"
cmp "$work/hw1.pdf" "$work/fetched.pdf"
echo "      the fetched bytes are identical to the original"

step "The teacher sees who has submitted, and collects every current submission with its receipt (SHA-256 checked on arrival)."
run "$bin/staff" --profile "$work/teacher" --blackboard "$bb_addr" status CSCI3180 hw1
run "$bin/staff" --profile "$work/teacher" --blackboard "$bb_addr" collect CSCI3180 hw1 --out "$work/collected"
cmp "$work/hw1.pdf" "$work/collected/1155000001/hw1.pdf"
echo "      the collected bytes are identical to the original"

step "The teacher grades with a feedback file; the student sees nothing until the grades are released."
printf 'Well done.\n' > "$work/feedback.txt"
run "$bin/staff" --profile "$work/teacher" --blackboard "$bb_addr" grade CSCI3180 hw1 --student 1155000001 --score 92 --comment "Clear and correct." --feedback "$work/feedback.txt"
run "$bin/student" --profile "$work/student" grades
run "$bin/staff" --profile "$work/teacher" --blackboard "$bb_addr" release CSCI3180 hw1
run "$bin/student" --profile "$work/student" grades
run "$bin/student" --profile "$work/student" feedback CSCI3180 hw1 --out "$work/my-feedback.txt"
run "$bin/staff" --profile "$work/teacher" --blackboard "$bb_addr" log CSCI3180

step "The servers shut down cleanly (SIGTERM: stop accepting, finish requests in flight, exit 0)."
for pid in "${pids[@]}"; do kill -TERM "$pid"; done
for pid in "${pids[@]}"; do wait "$pid"; done
pids=()
echo "      both servers exited 0"
printf '\nThe whole scenario ran.\n'
