#!/usr/bin/env bash
# Reproduce a new user's machine as closely as this one allows: a fresh clone of HEAD with
# HOME, XDG_CACHE_HOME, EDGEFILL_CACHE_DIR and UV_CACHE_DIR on new empty directories, then
# `bash .ci/run`. Debian packages already installed stay installed (a fresh clone cannot remove
# them). Prints the wall time; keeps the work directory only when the run fails.
# Usage: scripts/ci_fresh.sh [--warm]   (--warm reuses $EDGEFILL_CACHE_DIR's caches as they are)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="cold"
[ "${1:-}" = "--warm" ] && mode="warm"
work="$(mktemp -d "${TMPDIR:-/tmp}/edgefill-ci-fresh.XXXXXX")"
say() { printf 'ci-fresh: %s\n' "$*" >&2; }

if [ -n "$(git -C "$here" status --porcelain)" ]; then
  say "note: uncommitted changes are not in the clone; this checks HEAD only"
fi
git clone --quiet --no-hardlinks "$here" "$work/repo"
if [ "$mode" = "cold" ]; then
  mkdir -p "$work/home" "$work/xdg-cache" "$work/edgefill-cache" "$work/uv-cache"
  export HOME="$work/home" XDG_CACHE_HOME="$work/xdg-cache"
  export EDGEFILL_CACHE_DIR="$work/edgefill-cache" UV_CACHE_DIR="$work/uv-cache"
fi
say "$mode run of $(git -C "$work/repo" rev-parse --short HEAD) in $work/repo"
start=$(date +%s)
set +e
(cd "$work/repo" && CI=true bash .ci/run </dev/null) 2>&1 | tee "$work/ci.log"
rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))
say "$mode run exit $rc in $((elapsed / 60)) min $((elapsed % 60)) s (log: $work/ci.log)"
if [ "$rc" -eq 0 ]; then
  # The lab's podman containers and images belong to the run's own storage; remove them all.
  (cd "$work/repo" && .venv/bin/python -m lab.demo down >/dev/null 2>&1) || true
  rm -rf "$work"
fi
exit "$rc"
