#!/usr/bin/env bash
# The pinned Anthropic sandbox runtime (`srt`, npm @anthropic-ai/sandbox-runtime) that
# `make bench` runs beside Nexflow (bench/srt.py): installed with `npm ci` from
# scripts/srt/package-lock.json into a cache outside the repo, once per lock file, and
# linked as .venv/bin/srt. On Linux srt also needs bubblewrap, socat and ripgrep
# (scripts/setup.sh test installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# The version is pinned in scripts/srt/package.json; its lock pins every dependency.
lock=scripts/srt/package-lock.json
stamp=$(sha256sum "$lock" | cut -c1-12)
dest="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/srt/$stamp"
if [ ! -x "$dest/node_modules/.bin/srt" ]; then
  command -v npm >/dev/null || { echo "[setup] srt needs npm (Debian: nodejs)" >&2; exit 1; }
  echo "[setup] installing srt with npm ci into $dest (once)" >&2
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp -d "$dest.partial.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  cp scripts/srt/package.json "$lock" "$tmp/"
  # No install scripts: the package and its four dependencies need none.
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$dest" && mv "$tmp" "$dest"
fi
ln -sf "$dest/node_modules/.bin/srt" .venv/bin/srt
echo "[setup] srt $(.venv/bin/srt --version)" >&2
