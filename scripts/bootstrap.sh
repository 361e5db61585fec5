#!/usr/bin/env bash
# Set up what `make demo`, `make test` and `make bench` need, installing only what is missing:
# Debian packages, the uv tool (cached outside the repo), and the project's locked venv.
set -euo pipefail

UV_VERSION="0.13.9"
DEBIAN_PACKAGES=(nginx libnginx-mod-http-js chromium nodejs npm podman runc debootstrap wrk ffmpeg curl ca-certificates iproute2 uidmap slirp4netns fuse-overlayfs)
CACHE_DIR="${EDGEFILL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgefill}"
TOOLS_DIR="$CACHE_DIR/tools/uv-$UV_VERSION"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
  local pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    # A nodejs from elsewhere (NodeSource) ships npm itself and conflicts with Debian's npm.
    if [ "$pkg" = npm ] && command -v npm >/dev/null; then continue; fi
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$pkg"
  done
}

ensure_debian_packages() {
  command -v dpkg-query >/dev/null || die "this is not a Debian system (no dpkg-query); install by hand: ${DEBIAN_PACKAGES[*]}"
  local missing
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]}
  why: nginx (with njs), chromium and node (the players' tests), podman, runc, debootstrap, wrk
  and ffmpeg back the tests and the lab.
  fix: run as root, or install them first: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed; check the machine's package sources"
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  # The nginx package starts a system nginx on :80; edgefill runs its own instances.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  else
    service nginx stop >/dev/null 2>&1 || true
  fi
}

# Under a lock (two `make` runs, or CI beside a developer, may bootstrap at once): the loser
# waits, then finds the winner's result. Each result is marked complete last, so one cut short
# is redone, never used.
with_lock() {
  local lock="$1"; shift
  mkdir -p "$(dirname "$lock")"
  exec {lock_fd}>"$lock"
  flock -w 1800 "$lock_fd" || die "waited 30 min for $lock; is another bootstrap stuck?"
  "$@"
  flock -u "$lock_fd"
  exec {lock_fd}>&-
}

install_uv() {
  [ -f "$TOOLS_DIR/.complete" ] && [ -x "$TOOLS_DIR/bin/uv" ] && return 0
  say "installing uv $UV_VERSION into $TOOLS_DIR"
  rm -rf "$TOOLS_DIR"
  python3 -m venv "$TOOLS_DIR" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$TOOLS_DIR/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" \
    || die "pip could not install uv==$UV_VERSION from PyPI"
  touch "$TOOLS_DIR/.complete"
}

ensure_uv() {
  [ -f "$TOOLS_DIR/.complete" ] && [ -x "$TOOLS_DIR/bin/uv" ] && return 0
  with_lock "$CACHE_DIR/tools/uv-$UV_VERSION.lock" install_uv
}

sync_venv() {
  local stamp="$here/.venv/.edgefill-lock"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$1" ] && return 0
  say "syncing the project venv from uv.lock"
  rm -f "$stamp"
  (cd "$here" && "$TOOLS_DIR/bin/uv" sync --frozen --all-extras --quiet) || die "uv sync failed"
  printf '%s' "$1" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
}

ensure_venv() {
  local stamp="$here/.venv/.edgefill-lock"
  local want
  want="$(cat "$here/uv.lock" "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  with_lock "$here/.venv.lock" sync_venv "$want"
}

# The standard players the tests and the lab's player page use (hls.js, dash.js), exactly as
# players/package-lock.json pins them, from the npm registry into players/node_modules.
install_player_modules() {
  local stamp="$here/players/node_modules/.edgefill-lock"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$1" ] && return 0
  say "installing the players (hls.js, dash.js) from players/package-lock.json"
  rm -f "$stamp"
  (cd "$here/players" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
      --cache "$CACHE_DIR/npm" >/dev/null) \
    || die "npm ci in players/ failed; check that registry.npmjs.org is reachable"
  printf '%s' "$1" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
}

ensure_player_modules() {
  local want
  want="$(sha256sum < "$here/players/package-lock.json" | cut -d' ' -f1)"
  local stamp="$here/players/node_modules/.edgefill-lock"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  with_lock "$here/players/.npm.lock" install_player_modules "$want"
}

ensure_debian_packages
ensure_uv
ensure_venv
ensure_player_modules
printf '%s\n' "$TOOLS_DIR/bin/uv"
