#!/usr/bin/env bash
# Installs everything `make test` and `make run` need on a fresh Debian machine, idempotently:
# system packages (when root), uv, the Python 3.12 virtualenv from uv.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------------------------
# libnl-route-3-200: the nsjail binary links against it.
# python3, nodejs, bash: the runtimes skills run with inside the nsjail sandbox (read-only /usr).
# docker.io, debootstrap: the Docker backend and the offline build of its base image.
# postgresql: the real server the audit and accounts tests (and `make bench`) also run on.
# chromium: the real browser the web UI tests drive through Playwright.
SYSTEM_PACKAGES=(libnl-route-3-200 python3 nodejs bash iproute2 util-linux docker.io debootstrap dnsmasq-base ca-certificates postgresql chromium)
missing=()
for p in "${SYSTEM_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing system packages: ${missing[*]} (install them with apt-get as root)"; exit 1
  fi
fi

# --- Python 3.12 and uv ----------------------------------------------------------------------
find_python() {
  for c in "${NEXFLOW_PYTHON:-}" "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.12.1/bin/python")" \
           "$HOME/.pyenv/versions/3.12.1/bin/python" python3.12; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2]==(3,12)' 2>/dev/null && { echo "$c"; return; }
  done
  return 1
}
PY=$(find_python) || { log "Python 3.12 not found (set NEXFLOW_PYTHON)"; exit 1; }
if ! "$PY" -m uv --version >/dev/null 2>&1; then
  log "installing uv into $PY"
  "$PY" -m pip install -q --disable-pip-version-check uv
fi
log "syncing .venv from uv.lock"
"$PY" -m uv sync --frozen --all-packages -p "$PY" -q
./scripts/install-opa.sh
log "ready: .venv/bin/nexflow"
