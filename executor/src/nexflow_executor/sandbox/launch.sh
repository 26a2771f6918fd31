#!/bin/sh
# Nexflow's in-container launcher: runs under docker-init (pid 1) in every sandbox container.
#
# A container is started before its call (the warm pool), so what the call runs cannot be
# fixed at creation. This script waits on stdin for one header written by the executor:
# a decimal byte count on its own line, then that many bytes of shell text, every value
# quoted by the executor with shlex.quote:
#   mark=NONCE; set -- /usr/bin/env -i NAME=VALUE... INTERPRETER ENTRYPOINT ARGS...
# It runs that command as its child, so the script starts from exactly the call's
# environment (nothing of the container's own) and reads the rest of stdin: the call's
# input. dash's `read` takes one byte at a time and `head -c N` reads at most N bytes, so
# neither consumes input meant for the script.
#
# When the script has exited, the launcher writes an end marker carrying the exit status
# as the last bytes of stdout and of stderr: NUL, "nexflow-exit:", the per-call nonce
# (never in the script's environment or argv), ":", the status, newline. The executor
# thus knows the script is done, and that it has all of both streams, without waiting for
# the engine to notice the container's exit (tens of milliseconds). The container then
# idles until the executor kills it. Exit 125: malformed header.
IFS= read -r size || exit 125
case $size in '' | *[!0-9]*) exit 125 ;; esac
header=$(head -c "$size") || exit 125
mark=
eval "$header"
[ -n "$mark" ] || exit 125
"$@"
status=$?
printf '\000nexflow-exit:%s:%d\n' "$mark" "$status"
printf '\000nexflow-exit:%s:%d\n' "$mark" "$status" >&2
exec sleep 2147483647
