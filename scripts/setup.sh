#!/usr/bin/env bash
# Installs what the stack needs on a fresh Debian machine, idempotently, saying what it is
# doing and how long each step took.
#
# Usage: scripts/setup.sh [run|test]
#   run   (default; `make setup`, `make run`) what the default stack needs: the system
#         packages the executor and the sandboxes use, uv, the Python 3.12 virtualenv
#         from uv.lock. The embedded policy engine needs no OPA binary.
#   test  (`make test`) also the real parts the tests drive: PostgreSQL, Chromium,
#         docker-compose, and the pinned OPA and Helm, built from source once into a cache
#         (a few minutes each the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-run}"
case "$profile" in run | test) ;; *) echo "usage: $0 [run|test]" >&2; exit 2 ;; esac

started=$SECONDS
step_started=$SECONDS
bold='' plain=''
[ -t 2 ] && bold=$'\033[1m' plain=$'\033[0m'
log() { printf '%s[setup %3ss]%s %s\n' "$bold" "$((SECONDS - started))" "$plain" "$*" >&2; }
step() { step_started=$SECONDS; log "$*"; }
done_step() { log "  done in $((SECONDS - step_started)) s"; }

# --- system packages -------------------------------------------------------------------------
# libnl-route-3-200: the nsjail binary links against it.
# python3, nodejs, bash: the runtimes skills run with inside the nsjail sandbox (read-only /usr);
# python3-yaml, git: what data-query and git-basic use there (the python and git images have them).
# docker.io, debootstrap: the Docker backend and the offline build of its base image.
# iproute2, dnsmasq-base: the egress proxy's network namespaces and their resolver.
# gcc, libc6-dev: the executor builds the Docker backend's static launcher (launcher.c) once.
SYSTEM_PACKAGES=(libnl-route-3-200 python3 python3-yaml git nodejs bash iproute2 util-linux docker.io debootstrap dnsmasq-base ca-certificates gcc libc6-dev)
# postgresql: the real server the audit and accounts tests (and `make bench`) also run on.
# chromium: the real browser the web UI tests drive through Playwright.
# docker-compose: reads and runs deploy/compose.yaml (tests/deploy).
# dovecot-imapd: the real IMAP server mail-read is tested against (started per test).
# bubblewrap, socat, ripgrep: what Anthropic's sandbox runtime needs on Linux (`make bench`
# runs it beside Nexflow, bench/srt.py; scripts/install-srt.sh installs srt itself).
[ "$profile" = test ] && SYSTEM_PACKAGES+=(postgresql chromium docker-compose dovecot-imapd bubblewrap socat ripgrep)
missing=()
for p in "${SYSTEM_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    step "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    done_step
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
  step "installing uv into $PY"
  "$PY" -m pip install -q --disable-pip-version-check uv
  done_step
fi
step "syncing .venv from uv.lock"
"$PY" -m uv sync --frozen --all-packages -p "$PY" -q
done_step

if [ "$profile" = test ]; then
  step "OPA (the policy tests run it beside the embedded engine)"
  ./scripts/install-opa.sh
  done_step
  step "Helm (the chart tests lint and render deploy/helm/nexflow with it)"
  ./scripts/install-helm.sh
  done_step
fi
log "ready ($profile): .venv/bin/nexflow"
