#!/usr/bin/env bash
# Set up what `make demo`, `make test` and `make bench` need, installing only what is missing:
# Debian packages, the uv tool (cached outside the repo), and the project's locked venv.
set -euo pipefail

UV_VERSION="0.13.9"
DEBIAN_PACKAGES=(nginx podman runc debootstrap wrk ffmpeg curl ca-certificates iproute2 uidmap slirp4netns fuse-overlayfs)
CACHE_DIR="${EDGEFILL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgefill}"
TOOLS_DIR="$CACHE_DIR/tools/uv-$UV_VERSION"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
  local pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
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
  why: nginx, podman, runc, debootstrap, wrk and ffmpeg back the tests and the lab.
  fix: run as root, or install them first: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed; check the machine's package sources"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  # The nginx package starts a system nginx on :80; edgefill runs its own instances.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  else
    service nginx stop >/dev/null 2>&1 || true
  fi
}

ensure_uv() {
  if [ -x "$TOOLS_DIR/bin/uv" ]; then return 0; fi
  say "installing uv $UV_VERSION into $TOOLS_DIR"
  mkdir -p "$CACHE_DIR/tools"
  python3 -m venv "$TOOLS_DIR.tmp" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$TOOLS_DIR.tmp/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" \
    || die "pip could not install uv==$UV_VERSION from PyPI"
  rm -rf "$TOOLS_DIR" && mv "$TOOLS_DIR.tmp" "$TOOLS_DIR"
  # The venv records its own path; recreate scripts that point at the .tmp name.
  sed -i "s#$TOOLS_DIR.tmp#$TOOLS_DIR#g" "$TOOLS_DIR"/bin/* 2>/dev/null || true
}

ensure_venv() {
  local stamp="$here/.venv/.edgefill-lock"
  local want
  want="$(cat "$here/uv.lock" "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "syncing the project venv from uv.lock"
  (cd "$here" && "$TOOLS_DIR/bin/uv" sync --frozen --all-extras --quiet) || die "uv sync failed"
  printf '%s' "$want" > "$stamp"
}

ensure_debian_packages
ensure_uv
ensure_venv
printf '%s\n' "$TOOLS_DIR/bin/uv"
