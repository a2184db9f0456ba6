#!/usr/bin/env bash
# Installs the handin role binaries (cuhk, blackboard, student, staff; not the load generator)
# with `cargo install`, into ~/.cargo/bin, or $CARGO_INSTALL_ROOT/bin if that is set.
#
# Usage: scripts/install.sh [ROLE...] [-- CARGO_INSTALL_OPTIONS...]
#   scripts/install.sh                  all four
#   scripts/install.sh student          a student's machine: the student client only
#   scripts/install.sh staff student    a teacher's or TA's
#   scripts/install.sh -- --root /opt/handin   (any other `cargo install` option after --)
set -euo pipefail
cd "$(dirname "$0")/.."

all=(cuhk blackboard student staff)
roles=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    cuhk|blackboard|student|staff) roles+=("$1"); shift ;;
    *) echo "install.sh: unknown role $1 (roles: ${all[*]}; cargo options go after --)" >&2; exit 2 ;;
  esac
done
[ ${#roles[@]} -gt 0 ] || roles=("${all[@]}")

if ! command -v cargo >/dev/null; then
  echo "install.sh: cargo not found: install a Rust toolchain (https://rustup.rs) and a C compiler first" >&2
  exit 1
fi

root="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
for a in ${extra[@]+"${extra[@]}"}; do
  case "$a" in --root=*) root="${a#--root=}" ;; esac
done
for i in "${!extra[@]}"; do
  if [ "${extra[$i]}" = --root ] && [ $((i + 1)) -lt ${#extra[@]} ]; then root="${extra[$((i + 1))]}"; fi
done

echo "Installing ${roles[*]} into $root/bin (a release build: several minutes the first time)."
for role in "${roles[@]}"; do
  echo "==> $role"
  # --path builds in this workspace's target/ directory, so the roles share one build of
  # their dependencies.
  cargo install --locked --path "bins/$role" ${extra[@]+"${extra[@]}"}
done

echo
echo "Installed: $(printf '%s ' "${roles[@]}")in $root/bin"
case ":$PATH:" in
  *":$root/bin:"*) ;;
  *) echo "$root/bin is not on your PATH; add it, e.g.: export PATH=\"$root/bin:\$PATH\"" ;;
esac
