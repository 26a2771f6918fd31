#!/usr/bin/env bash
# Builds the images of a deployment (deploy/images/, see deploy/compose.yaml and the Helm
# chart), offline, FROM nexflow/base:bookworm like the skill images:
#   nexflow/runtime        Python 3.12 + the workspace venv (the layer the next three share)
#   nexflow/control-plane  the HTTP API, unprivileged
#   nexflow/executor       the gRPC executor with nsjail (runs privileged)
#   nexflow/gateway        a placeholder until the gateway has a server
#   nexflow/postgres       Debian's PostgreSQL 15
#   nexflow/opa            the pinned OPA built from source (scripts/install-opa.sh)
# each tagged :bookworm and :latest. `make deploy-images` runs it after the skill images
# (scripts/build-images.sh base); `make run` does not need any of them.
#
# Python: bookworm has 3.11 and nothing here can download a Python build, so the build
# context gets the interpreter the repo's .venv was made with (pyenv's 3.12.1, or
# NEXFLOW_PYTHON), trimmed, and a relocatable venv synced from uv.lock with that
# interpreter (no dev group, workspace packages as wheels). uv reuses its cache: no
# registry is asked for what the lockfile already brought.
#
# Usage: scripts/build-deploy-images.sh [--force] [NAME...]
#   NAME     runtime control-plane executor gateway postgres opa (default: all); the
#            three Python images rebuild runtime first when it is out of date
#   --force  rebuild without Docker's cache
#
# Caching: each image carries io.nexflow.build-hash, the sha256 of its staged build
# context, its Dockerfile and its base's image ID; an image whose tag carries the hash it
# would get is up to date and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=skill-images/image.env
. skill-images/image.env
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" # see scripts/build-images.sh

ALL=(runtime control-plane executor gateway postgres opa)
suite=$NEXFLOW_SUITE
cache="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/deploy-images"
log() { echo "[deploy-images] $*" >&2; }
die() {
  echo "[deploy-images] error: $*" >&2
  exit 1
}

force=0
names=()
for arg in "$@"; do
  case "$arg" in
  --force) force=1 ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  -*) die "unknown option $arg (see --help)" ;;
  *)
    case " ${ALL[*]} " in
    *" $arg "*) names+=("$arg") ;;
    *) die "unknown image '$arg': expected one of ${ALL[*]}" ;;
    esac
    ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")

docker info >/dev/null 2>&1 || die "the Docker engine does not answer (scripts/start-dockerd.sh)"
base_id=$(docker image inspect --format '{{.Id}}' "nexflow/base:$suite" 2>/dev/null) ||
  die "nexflow/base:$suite is missing: run scripts/build-images.sh base first"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

find_python() {
  local c
  for c in "${NEXFLOW_PYTHON:-}" "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.12.1/bin/python3.12")" \
    "$HOME/.pyenv/versions/3.12.1/bin/python3.12"; do
    [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2]==(3,12)' 2>/dev/null &&
      { echo "$c"; return; }
  done
  return 1
}

# --- build contexts ----------------------------------------------------------------------
stage_runtime() {
  local ctx=$cache/context/runtime py prefix
  py=$(find_python) || die "Python 3.12 not found (set NEXFLOW_PYTHON)"
  prefix=$("$py" -c 'import sys; print(sys.base_prefix)')
  mkdir -p "$ctx"
  # The interpreter, copied once per prefix (it does not change), without what a server
  # never uses: the test suite, the static library for embedding, tkinter, idle and nis.
  if [ "$(cat "$ctx/python.from" 2>/dev/null)" != "$prefix" ]; then
    log "runtime: copying the interpreter from $prefix"
    rm -rf "$ctx/python" && mkdir -p "$ctx/python"
    tar -C "$prefix" -cf - --exclude='lib/python3.12/test' --exclude='lib/python3.12/idlelib' \
      --exclude='lib/python3.12/tkinter' --exclude='lib/python3.12/turtledemo' \
      --exclude='lib/python3.12/config-3.12-*' --exclude='lib/python3.12/site-packages/*' \
      --exclude='lib/python3.12/lib-dynload/_tkinter*' --exclude='lib/python3.12/lib-dynload/nis*' \
      --exclude='lib/libpython3.12.a' --exclude='__pycache__' bin include lib |
      tar -C "$ctx/python" -xf -
    echo "$prefix" >"$ctx/python.from"
  fi
  log "runtime: syncing the venv from uv.lock"
  rm -rf "$ctx/venv"
  "$py" -m uv venv -q --relocatable -p "$py" "$ctx/venv"
  # The workspace's own packages are rebuilt from the tree every time: uv would reuse a
  # wheel it built earlier from the same version, whatever changed in the sources since.
  local own=()
  for p in $(sed -n 's/^name = "\(nexflow-[a-z-]*\)"$/\1/p' */pyproject.toml); do
    own+=(--refresh-package "$p" --reinstall-package "$p")
  done
  UV_PROJECT_ENVIRONMENT="$ctx/venv" "$py" -m uv sync -q --frozen --all-packages --no-dev \
    --no-editable "${own[@]}" -p "$py"
  find "$ctx/venv" -name __pycache__ -prune -exec rm -rf {} +
  rm -rf "$ctx/policies" "$ctx/skills"
  cp -a policies skills "$ctx/"
  find "$ctx/policies" "$ctx/skills" -name __pycache__ -prune -exec rm -rf {} +
  echo "$ctx"
}

stage_opa() {
  local ctx=$cache/context/opa
  ./scripts/install-opa.sh >&2 # builds the pinned OPA once, links it as .venv/bin/opa
  mkdir -p "$ctx"
  cp -L .venv/bin/opa "$ctx/opa"
  echo "$ctx"
}

stage_plain() { # the image's own folder is its whole context
  local ctx=$cache/context/$1
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -a "deploy/images/$1/." "$ctx/"
  echo "$ctx"
}

context_hash() { # content of the context and the Dockerfile, and the parent image's ID
  local ctx=$1 dockerfile=$2 parent_id=$3
  {
    echo "parent $parent_id"
    sha256sum "$dockerfile"
    # Files by content, symlinks by target (the venv's python links name the host's).
    (cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    (cd "$ctx" && find . -type l -printf '%p -> %l\n' | LC_ALL=C sort)
  } | sha256sum | cut -d' ' -f1
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

build_one() {
  local name=$1 ctx parent parent_id hash tag="nexflow/$1:$suite" t0=$SECONDS
  case "$name" in
  runtime) ctx=$(stage_runtime) parent="nexflow/base:$suite" ;;
  opa) ctx=$(stage_opa) parent="nexflow/base:$suite" ;;
  postgres) ctx=$(stage_plain postgres) parent="nexflow/base:$suite" ;;
  *) ctx=$(stage_plain "$name") parent="nexflow/runtime:$suite" ;;
  esac
  parent_id=$(image_id "$parent")
  hash=$(context_hash "$ctx" "deploy/images/$name/Dockerfile" "$parent_id")
  if [ "$force" = 0 ] && [ -n "$(image_id "$tag")" ] &&
    [ "$(docker image inspect --format '{{index .Config.Labels "io.nexflow.build-hash"}}' "$tag")" = "$hash" ]; then
    docker tag "$tag" "nexflow/$name:latest"
    log "$name: up to date ($tag, build hash ${hash:0:12})"
    return 0
  fi
  log "$name: building $tag"
  local args=(--tag "$tag" --tag "nexflow/$name:latest" --rm --force-rm
    --file "deploy/images/$name/Dockerfile"
    --build-arg "BASE_IMAGE=nexflow/base:$suite"
    --build-arg "RUNTIME_IMAGE=nexflow/runtime:$suite"
    --build-arg "VERSION=$NEXFLOW_IMAGES_VERSION"
    --build-arg "CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
    --build-arg "SOURCE=$NEXFLOW_IMAGES_SOURCE"
    --build-arg "BUILD_HASH=$hash")
  [ "$name" != opa ] || args+=(--build-arg "OPA_VERSION=$(sed -n 's/^OPA_VERSION=//p' scripts/install-opa.sh)")
  [ "$force" = 0 ] || args+=(--no-cache)
  local logf="$cache/$name.log"
  if ! docker build "${args[@]}" "$ctx" >"$logf" 2>&1; then
    tail -n 30 "$logf" | sed "s/^/[deploy-images] $name | /" >&2
    die "$name: build failed; full log: $logf"
  fi
  log "$name: built $tag in $((SECONDS - t0)) s"
}

started=$SECONDS
requested() { case " ${names[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac }
needs_runtime=0
for n in control-plane executor gateway runtime; do requested "$n" && needs_runtime=1; done
[ "$needs_runtime" = 0 ] || build_one runtime
for name in "${ALL[@]:1}"; do
  if requested "$name"; then build_one "$name"; fi
done
log "done in $((SECONDS - started)) s (base image ${base_id:7:12})"
