#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting dockerd when none does, for machines
# without systemd (containers, CI runners). Idempotent: exits 0 at once when `docker info`
# already works.
#
# The daemon is started in the background, in its own session (setsid), immune to the
# caller's hangup (nohup), with every file descriptor redirected or closed: stdin from
# /dev/null, stdout and stderr to the log, nothing else inherited. So it outlives this
# script, and a caller that reads our output through a pipe (make, CI logs, `| tee`)
# sees end-of-file when we exit instead of waiting for dockerd.
#
# Environment:
#   NEXFLOW_DOCKERD_LOG      daemon log (default /var/log/nexflow-dockerd.log)
#   NEXFLOW_DOCKERD_SOCK     socket to wait for (default /var/run/docker.sock)
#   NEXFLOW_DOCKERD_TIMEOUT  seconds to wait for the engine (default 60)
#   NEXFLOW_DOCKERD_PIDFILE  dockerd's pidfile (default /var/run/docker.pid)
#   NEXFLOW_DOCKERD_ARGS     extra dockerd arguments, split on spaces (default none)
set -euo pipefail

log_file="${NEXFLOW_DOCKERD_LOG:-/var/log/nexflow-dockerd.log}"
sock="${NEXFLOW_DOCKERD_SOCK:-/var/run/docker.sock}"
timeout_s="${NEXFLOW_DOCKERD_TIMEOUT:-60}"
pidfile="${NEXFLOW_DOCKERD_PIDFILE:-/var/run/docker.pid}"

say() { echo "[dockerd] $*" >&2; }
fail() {
  say "error: $*"
  if [ -s "$log_file" ]; then
    say "last lines of $log_file:"
    tail -n 30 "$log_file" >&2
  fi
  exit 1
}

command -v docker >/dev/null || fail "the docker CLI is not installed"
engine_answers() { docker info >/dev/null 2>&1; }

if engine_answers; then
  exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "the Docker engine does not answer, and starting dockerd needs root (sudo $0)"
command -v dockerd >/dev/null || fail "dockerd is not installed (apt-get install docker.io)"

# A daemon may already be starting (or hung): dockerd refuses a second instance while
# its pidfile names a live process, so wait for that one instead of starting another.
pidfile_pid() {
  local p
  p="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}
pid=""
if pid="$(pidfile_pid)"; then
  say "dockerd is already running (pid $pid); waiting for it to answer"
else
  mkdir -p "$(dirname "$log_file")"
  say "starting dockerd (log: $log_file)"
  # shellcheck disable=SC2086 # NEXFLOW_DOCKERD_ARGS is a space-separated list on purpose
  (
    # Load-bearing: close every inherited descriptor above 2. A pipe or make's jobserver
    # fd left open in the daemon would keep our caller waiting for EOF until dockerd exits.
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    # exec: setsid (not a process-group leader here, so it does not fork), nohup and
    # dockerd replace this subshell, and $! below is dockerd's pid.
    exec setsid nohup dockerd ${NEXFLOW_DOCKERD_ARGS:-} </dev/null >>"$log_file" 2>&1
  ) &
  pid=$!
fi

deadline=$((SECONDS + timeout_s))
while [ "$SECONDS" -lt "$deadline" ]; do
  if [ -S "$sock" ] && engine_answers; then
    say "the Docker engine answers (dockerd pid $pid)"
    exit 0
  fi
  # (If setsid had to fork, $pid is gone but the daemon lives: its pidfile says so.)
  kill -0 "$pid" 2>/dev/null || pid="$(pidfile_pid)" || fail "dockerd exited during startup"
  sleep 0.5
done
fail "the Docker engine did not answer within ${timeout_s} s (dockerd pid $pid is left running)"
