#!/bin/sh
# The gateway image's entry point until nexflow_gateway has a server.
python -c 'import nexflow_gateway' || exit 1
echo "nexflow gateway: the nexflow_gateway package has no server yet; nothing to run" >&2
exit 64
