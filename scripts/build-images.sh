#!/usr/bin/env bash
# Builds the container images skills run in (skill-images/, see its README.md):
#   nexflow/base:bookworm                     debootstrap + docker import (skill-images/base/build.sh)
#   nexflow/{bash,python,node,git}:bookworm   docker build FROM nexflow/base:bookworm
#   (also tagged nexflow/{bash,python,node,git}:latest)
# Needs the Docker engine (scripts/start-dockerd.sh), and for the base image root,
# debootstrap and the Debian mirror. No registry is used.
#
# Usage: scripts/build-images.sh [--force] [--refresh] [--verbose] [NAME...]
#   NAME       base, bash, python, node, git (default: all). A child's base is built first
#              when it is out of date.
#   --force    rebuild NAME... (default all) even when up to date, without Docker's cache
#   --refresh  debootstrap again (newer Debian packages, security fixes), which rebuilds
#              base and so every image built on it
#   --verbose  show the full build output (it always goes to the log file too)
#
# Caching: each image carries a label io.nexflow.build-hash, the sha256 of its source
# folder (README.md files excluded), of skill-images/image.env and the settings in it,
# and of its base's build hash. An image whose tag already carries the hash it would be
# built with (and, for bash/python/node, was built on the current base image: label
# io.nexflow.base.image-id) is up to date and skipped. So a change to skill-images/base
# rebuilds everything, a change to skill-images/node only node.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=skill-images/image.env
. skill-images/image.env
export SOURCE_DATE_EPOCH

# The legacy builder, unless the caller chose otherwise. BuildKit is not an option with
# the stock Debian engine: the Docker 23+ CLI needs the buildx plugin for it, which is
# not installed here, and `DOCKER_BUILDKIT=1` then fails outright. Every Dockerfile here
# is written for the legacy builder (no RUN --mount, no heredocs).
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

ALL=(base bash python node git)
suite=$NEXFLOW_SUITE
cache="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/images"
logs="$cache/logs"

log() { echo "[images] $*"; }
die() {
  echo "[images] error: $*" >&2
  exit 1
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

force=0
verbose=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
  --force) force=1 ;;
  --refresh) export NEXFLOW_IMAGES_REFRESH=1 ;;
  --verbose | -v) verbose=1 ;;
  -h | --help)
    usage
    exit 0
    ;;
  -*) die "unknown option $1 (see --help)" ;;
  *)
    case " ${ALL[*]} " in
    *" $1 "*) names+=("$1") ;;
    *) die "unknown image '$1': expected one of ${ALL[*]}" ;;
    esac
    ;;
  esac
  shift
done
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")

parent_of() { [ "$1" = base ] && echo "" || echo base; }
tags_of() {
  if [ "$1" = base ]; then
    echo "nexflow/base:$suite" # versioned tag only
  else
    echo "nexflow/$1:$suite nexflow/$1:latest"
  fi
}

requested() { case " ${names[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac }
forced() { [ "$force" = 1 ] && requested "$1"; }

# An empty string when the image does not exist (or has no such label).
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() {
  docker image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}
image_mb() {
  local bytes
  bytes="$(docker image inspect --format '{{.Size}}' "$1")"
  echo "$(((bytes + 500000) / 1000000)) MB"
}

# sha256 over an image's source folder, the shared settings and its parent's hash.
build_hash() {
  local name=$1 parent_hash=$2
  {
    echo "parent-build-hash $parent_hash"
    # The effective settings (image.env lets the environment override some of them).
    echo "suite $NEXFLOW_SUITE"
    echo "mirror $NEXFLOW_DEBIAN_MIRROR $NEXFLOW_DEBIAN_SECURITY_MIRROR"
    echo "source-date-epoch $SOURCE_DATE_EPOCH"
    sha256sum skill-images/image.env
    # Load-bearing: sorted with LC_ALL=C and NUL-separated, so the list (and the hash)
    # does not depend on the filesystem's order, the locale or odd file names. -r: an
    # empty folder must not make sha256sum read stdin.
    (cd "skill-images/$name" && find . -type f ! -name '*.md' -print0 | LC_ALL=C sort -z |
      xargs -0 -r sha256sum)
  } | sha256sum | cut -d' ' -f1
}

command -v docker >/dev/null || die "the docker CLI is not installed"
docker info >/dev/null 2>&1 ||
  die "the Docker engine does not answer (start it: sudo scripts/start-dockerd.sh)"

mkdir -p "$logs"
# One build at a time per cache (two concurrent `make` runs would race on the tags).
exec 9>"$cache/.lock"
if ! flock -n 9; then
  log "waiting for another scripts/build-images.sh to finish"
  flock 9
fi

# Runs a build command with its output in $logs/NAME.log; prints the Dockerfile steps
# (or everything, --verbose) and the log's tail if it fails.
run_logged() {
  local name=$1 logf="$logs/$1.log"
  shift
  local rc=0
  # The while loop reads to the end of its input, so `tee` never gets SIGPIPE (which
  # pipefail would turn into a failure); rc is docker's status via PIPESTATUS.
  "$@" 2>&1 | tee "$logf" | while IFS= read -r line; do
    if [ "$verbose" = 1 ]; then
      echo "[images] $name | $line"
    else
      case "$line" in
      # The steps that do work (not ARG, LABEL, ENV ...), shortened to one line.
      "Step "*" : FROM "* | "Step "*" : RUN "* | "Step "*" : COPY "* | "Step "*" : ADD "*)
        echo "[images] $name: ${line:0:90}$([ ${#line} -le 90 ] || echo ...)"
        ;;
      "[images] "*) echo "$line" ;; # base/build.sh's own progress lines
      esac
    fi
  done || rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    # (sed also drops the colour escapes the legacy builder wraps around stderr lines)
    [ "$verbose" = 1 ] || tail -n 40 "$logf" | sed $'s/\e\\[[0-9;]*m//g; s/^/[images] '"$name"' | /' >&2
    die "$name: build failed (exit $rc); full log: $logf"
  fi
}

declare -A hash_of=()
stale_ids=()
started=$SECONDS

build_one() {
  local name=$1 parent tags primary hash parent_id="" current t
  parent="$(parent_of "$name")"
  read -r -a tags <<<"$(tags_of "$name")"
  primary=${tags[0]}
  hash="$(build_hash "$name" "${parent:+${hash_of[$parent]}}")"
  hash_of[$name]=$hash
  [ -z "$parent" ] || parent_id="$(image_id "nexflow/$parent:$suite")"
  current="$(image_id "$primary")"

  local why=""
  if forced "$name"; then
    why="--force"
  elif [ "$name" = base ] && [ "${NEXFLOW_IMAGES_REFRESH:-0}" = 1 ]; then
    why="--refresh"
  elif [ -z "$current" ]; then
    why="not built yet"
  elif [ "$(image_label "$primary" io.nexflow.build-hash)" != "$hash" ]; then
    why="sources changed"
  elif [ -n "$parent" ] && [ "$(image_label "$primary" io.nexflow.base.image-id)" != "$parent_id" ]; then
    why="its base image was rebuilt"
  fi

  if [ -z "$why" ]; then
    for t in "${tags[@]:1}"; do # a missing or moved extra tag is put back, not rebuilt
      [ "$(image_id "$t")" = "$current" ] || docker tag "$primary" "$t"
    done
    log "$name: up to date ($primary, $(image_mb "$primary"), build hash ${hash:0:12})"
    return 0
  fi

  log "$name: building $primary ($why)"
  local t0=$SECONDS
  if [ "$name" = base ]; then
    run_logged base env NEXFLOW_BUILD_HASH="$hash" skill-images/base/build.sh image "${tags[@]}"
  else
    local args=(
      --build-arg "BASE_IMAGE=nexflow/$parent:$suite"
      --build-arg "BASE_ID=$parent_id"
      --build-arg "VERSION=$NEXFLOW_IMAGES_VERSION"
      --build-arg "CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
      --build-arg "SOURCE=$NEXFLOW_IMAGES_SOURCE"
      --build-arg "LICENSES=$NEXFLOW_IMAGES_LICENSES"
      --build-arg "BUILD_HASH=$hash"
      --rm --force-rm
    )
    ! forced "$name" || args+=(--no-cache)
    for t in "${tags[@]}"; do args+=(--tag "$t"); done
    run_logged "$name" docker build "${args[@]}" "skill-images/$name"
  fi
  [ -z "$current" ] || [ "$current" = "$(image_id "$primary")" ] || stale_ids+=("$current")
  log "$name: built $primary in $((SECONDS - t0)) s ($(image_mb "$primary"))"
}

# The base is always checked (and built if out of date) first: every child needs it.
build_one base
for name in "${ALL[@]:1}"; do
  if requested "$name"; then build_one "$name"; fi
done

# Images replaced by this run: delete those left without any tag (children before the
# base they were built on). An image someone else still tags or uses is kept.
for ((i = ${#stale_ids[@]} - 1; i >= 0; i--)); do
  id=${stale_ids[i]}
  if [ "$(docker image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null || echo 1)" = 0 ]; then
    docker image rm "$id" >/dev/null 2>&1 || true
  fi
done

log "done in $((SECONDS - started)) s"
