#!/bin/bash
# Reads {"filter", "data"} on stdin; prints {"results": [...]} (every output of the filter).
set -euo pipefail
input=$(cat)
filter=$(jq -r '.filter' <<<"$input")
jq -c "{results: [.data | (${filter})]}" <<<"$input"
