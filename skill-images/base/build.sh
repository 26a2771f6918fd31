#!/usr/bin/env bash
# Builds nexflow/base:<suite>: a Debian "minbase" root filesystem made by debootstrap,
# slimmed and hardened here, written as a byte-for-byte reproducible tarball and loaded
# with `docker import`. Needs root (debootstrap, chroot, file ownership), debootstrap and
# the Debian mirror; no registry. Normally run by scripts/build-images.sh.
#
# Usage:
#   skill-images/base/build.sh rootfs OUT.tar      write the rootfs tarball only
#   skill-images/base/build.sh image TAG [TAG...]  rootfs + docker import, tagged TAG...
#
# Two stages, so that rebuilds are fast and the result is reproducible:
#   1. debootstrap (+ the security updates) into a tree, saved as a tarball under
#      ${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/images/. This is the only step that talks to
#      the network and the only one whose result depends on the day it ran (package
#      versions). It runs once; later builds reuse the tarball.
#   2. unpack that tarball, remove what a sandbox does not need, add the user, strip
#      setuid/setgid bits, and write the rootfs with a deterministic tar (sorted names,
#      fixed mtimes, numeric owners, no atime/ctime/xattrs). Same stage-1 tarball in, same
#      bytes out: `build.sh rootfs` twice gives one sha256, which is also the image's
#      layer digest (tests/images checks this).
#
# Environment:
#   NEXFLOW_CACHE              cache root (default $HOME/.cache/nexflow)
#   NEXFLOW_IMAGES_REFRESH=1   run stage 1 again (newer packages, security updates)
#   NEXFLOW_IMAGES_OFFLINE=1   never run stage 1: fail if its tarball is not cached
#   NEXFLOW_BUILD_HASH         value of the io.nexflow.build-hash label (build-images.sh)
#   and the settings in skill-images/image.env (suite, mirrors, SOURCE_DATE_EPOCH).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=image.env
. "$here/../image.env"
export SOURCE_DATE_EPOCH LC_ALL=C

suite=$NEXFLOW_SUITE
arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
cache="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/images"
# Bump the -vN suffix when stage 1 changes what it puts in the tree: old caches are then
# not reused.
stage1="$cache/debootstrap-$suite-minbase-$arch-v1.tar"

log() { echo "[images] base: $*" >&2; }
die() {
  echo "[images] base: error: $*" >&2
  exit 1
}

work=""
cleanup() {
  [ -n "$work" ] && [ -d "$work" ] || return 0
  # Load-bearing: an interrupted debootstrap or apt run can leave /proc (or /sys, /dev)
  # mounted inside the tree. Unmount everything under the work dir, deepest first, and
  # delete with --one-file-system, so rm can never descend into the host's /proc or /dev.
  local mnt
  while read -r _ mnt _; do
    case "$mnt" in "$work"/*) umount -l "$mnt" 2>/dev/null || true ;; esac
  done < <(tac /proc/mounts)
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

new_workdir() {
  mkdir -p "$cache"
  # Under the cache, not /tmp: /tmp may be a small tmpfs, or mounted nodev/noexec, and
  # debootstrap needs device nodes and must execute the tree's binaries in a chroot.
  work="$(mktemp -d "$cache/work.XXXXXX")"
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (run scripts/build-images.sh as root)"
}

# The date (days since 1970) written into /etc/shadow's "last change" fields.
epoch_days=$((SOURCE_DATE_EPOCH / 86400))

# Stage 1: debootstrap + security updates -> $stage1 (cached).
stage1_tarball() {
  if [ -s "$stage1" ] && [ "${NEXFLOW_IMAGES_REFRESH:-0}" != 1 ]; then
    return 0
  fi
  [ "${NEXFLOW_IMAGES_OFFLINE:-0}" != 1 ] ||
    die "$stage1 is not cached and NEXFLOW_IMAGES_OFFLINE=1 forbids running debootstrap"
  need_root "debootstrap"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  local root="$work/stage1"
  log "debootstrap --variant=minbase $suite $NEXFLOW_DEBIAN_MIRROR (about a minute)"
  if ! debootstrap --variant=minbase --arch="$arch" "$suite" "$root" "$NEXFLOW_DEBIAN_MIRROR" \
    >"$work/debootstrap.log" 2>&1; then
    tail -n 40 "$work/debootstrap.log" >&2
    die "debootstrap failed (full log above)"
  fi

  # The image's apt sources: the release, its updates and the security archive.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $NEXFLOW_DEBIAN_MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $NEXFLOW_DEBIAN_SECURITY_MIRROR
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  chmod 0644 "$root/etc/apt/sources.list.d/debian.sources"

  # debootstrap installs only what the release shipped with: add the security fixes.
  log "applying $suite-updates and $suite-security"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # start no services
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  local in_root=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
    LC_ALL=C chroot "$root")
  if ! { "${in_root[@]}" apt-get -q update &&
    "${in_root[@]}" apt-get -q -y -o Dpkg::Options::=--force-confold dist-upgrade &&
    "${in_root[@]}" apt-get -q clean; } >"$work/upgrade.log" 2>&1; then
    tail -n 40 "$work/upgrade.log" >&2
    die "apt-get dist-upgrade in the new tree failed"
  fi
  umount "$root/proc"
  rm -f "$root/usr/sbin/policy-rc.d"
  find "$root/var/lib/apt/lists" -mindepth 1 -delete
  # Device nodes: the container engine provides /dev; none go into the cache or image.
  find "$root/dev" -mindepth 1 -delete

  tar --create --file="$stage1.part" --directory="$root" --numeric-owner \
    --no-acls --no-xattrs --no-selinux .
  mv -f "$stage1.part" "$stage1"
  log "cached $stage1 ($(du -h "$stage1" | cut -f1))"
}

# Stage 2: $stage1 -> deterministic rootfs tarball $1.
# Everything here is a pure function of the stage-1 tarball and of the files in this
# directory: no clock, no randomness, no network.
rootfs_tarball() {
  local out=$1 root="$work/rootfs"
  need_root "unpacking the rootfs (file owners)"
  stage1_tarball
  mkdir "$root"
  tar --extract --file="$stage1" --directory="$root" --numeric-owner --same-permissions

  # Smaller: no documentation (copyright files stay), manuals, translations, apt caches.
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
  find "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian" \
    "$root/usr/share/linda" "$root/usr/share/groff" -mindepth 1 -delete 2>/dev/null || true
  # C.UTF-8 lives in /usr/lib/locale/C.utf8 (libc-bin) and stays; other locales' message
  # catalogs go.
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf --one-file-system {} +
  find "$root/var/lib/apt/lists" "$root/var/cache/apt" -mindepth 1 ! -type d -delete
  # Build-time state that differs per run: logs, backup files, the ldconfig aux cache.
  find "$root/var/log" -mindepth 1 ! -type d -delete
  rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/etc/*- \
    "$root/var/cache/ldconfig/aux-cache" "$root/etc/machine-id"
  # Copied from the build host by debootstrap; the container engine supplies its own.
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  find "$root/dev" "$root/proc" "$root/sys" "$root/run" "$root/tmp" "$root/var/tmp" \
    -mindepth 1 -delete
  chmod 1777 "$root/tmp" "$root/var/tmp"

  # Later `apt-get install`s (child images, authors' images) stay small too.
  install -m 0644 "$here/files/dpkg-nexflow-minimal" "$root/etc/dpkg/dpkg.cfg.d/nexflow-minimal"
  install -m 0644 "$here/files/apt-nexflow-minimal" "$root/etc/apt/apt.conf.d/nexflow-minimal"

  # The non-root user. Written directly rather than with useradd in a chroot: useradd
  # stamps today's date into /etc/shadow.
  if ! awk -F: -v uid="$NEXFLOW_UID" '$3 == uid { found = 1 } END { exit !found }' \
    "$root/etc/passwd"; then
    echo "nexflow:x:$NEXFLOW_UID:$NEXFLOW_GID:Nexflow skills:/tmp:/usr/sbin/nologin" \
      >>"$root/etc/passwd"
    echo "nexflow:x:$NEXFLOW_GID:" >>"$root/etc/group"
    echo "nexflow:!:$epoch_days:0:99999:7:::" >>"$root/etc/shadow"
    echo "nexflow:!::" >>"$root/etc/gshadow"
  fi
  # debootstrap stamps the day it ran into every account's "last change" field.
  local shadow="$root/etc/shadow"
  awk -F: -v OFS=: -v day="$epoch_days" '$3 != "" { $3 = day } { print }' "$shadow" \
    >"$work/shadow"
  cat "$work/shadow" >"$shadow" # cat, not mv: keeps the file's owner and mode (0640 root:shadow)

  # No setuid/setgid file or directory: nothing in the image can raise privileges.
  # (File capabilities are xattrs, which the tar below does not store.)
  find "$root" -xdev -perm /6000 -exec chmod ug-s {} +
  if [ -n "$(find "$root" -xdev -perm /6000 -print -quit)" ]; then
    die "setuid/setgid files left in the rootfs"
  fi

  # Load-bearing: these options make the tarball a function of the tree's content only.
  #   --sort=name           entry order independent of the filesystem's directory order
  #   --mtime               every mtime = SOURCE_DATE_EPOCH
  #   --numeric-owner       uid/gid numbers, no user/group names from the build host
  #                         (owners are kept: /etc/shadow is root:shadow, not root:root)
  #   pax delete=atime,ctime  no access/change times in the extended headers
  #   exthdr.name           fixed extended-header names (the default contains the PID)
  #   --no-xattrs/acls/selinux  nothing host-specific (and no file capabilities)
  tar --create --file="$out" --directory="$root" \
    --format=pax --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner \
    --no-acls --no-xattrs --no-selinux .
}

import_image() {
  local tar="$work/rootfs.tar" created stage1_sha
  rootfs_tarball "$tar"
  created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
  stage1_sha="$(sha256sum "$stage1" | cut -d' ' -f1)"
  log "importing $1 (rootfs $(du -h "$tar" | cut -f1))"
  local changes=(
    --change "LABEL org.opencontainers.image.title=\"nexflow/base\""
    --change "LABEL org.opencontainers.image.description=\"Debian $suite (minbase) for Nexflow skills: no setuid/setgid files, no docs, non-root user $NEXFLOW_UID\""
    --change "LABEL org.opencontainers.image.version=\"$NEXFLOW_IMAGES_VERSION\""
    --change "LABEL org.opencontainers.image.source=\"$NEXFLOW_IMAGES_SOURCE\""
    --change "LABEL org.opencontainers.image.licenses=\"$NEXFLOW_IMAGES_LICENSES\""
    --change "LABEL org.opencontainers.image.vendor=\"$NEXFLOW_IMAGES_VENDOR\""
    --change "LABEL org.opencontainers.image.created=\"$created\""
    # Imported from a tarball, not built FROM another image.
    --change "LABEL org.opencontainers.image.base.name=\"scratch\""
    --change "LABEL io.nexflow.runtime=\"none\""
    --change "LABEL io.nexflow.build-hash=\"${NEXFLOW_BUILD_HASH:-unknown}\""
    # Which stage-1 tarball this image was made from (tests/images rebuilds from it).
    --change "LABEL io.nexflow.debootstrap.sha256=\"$stage1_sha\""
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --change "ENV LANG=C.UTF-8"
    --change "USER $NEXFLOW_UID:$NEXFLOW_GID"
    --change "WORKDIR /tmp"
    --change 'CMD ["/bin/bash"]'
  )
  docker import "${changes[@]}" --message "nexflow/base from debootstrap ($suite minbase)" \
    "$tar" "$1" >/dev/null
  local tag
  for tag in "${@:2}"; do docker tag "$1" "$tag"; done
}

case "${1:-}" in
rootfs)
  [ $# -eq 2 ] || die "usage: $0 rootfs OUT.tar"
  new_workdir
  rootfs_tarball "$work/rootfs.tar"
  mv -f "$work/rootfs.tar" "$2"
  ;;
image)
  [ $# -ge 2 ] || die "usage: $0 image TAG [TAG...]"
  new_workdir
  import_image "${@:2}"
  ;;
*)
  die "usage: $0 rootfs OUT.tar | image TAG [TAG...]"
  ;;
esac
