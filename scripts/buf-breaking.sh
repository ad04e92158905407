#!/usr/bin/env bash
# The contract's compatibility gate: `buf breaking` (buf.yaml's rules) between proto/ here and
# proto/ in the previous commit, HEAD~1 by default (on a merge commit, the branch merged into).
# Without a previous commit (first commit, shallow clone) there is nothing to compare.
#   scripts/buf-breaking.sh [<commit>]
set -euo pipefail
cd "$(dirname "$0")/.."

base=${1:-HEAD~1}
if ! prev=$(git rev-parse -q --verify "${base}^{commit}" 2>/dev/null); then
  echo "buf breaking: no commit ${base} in this clone, nothing to compare"
  exit 0
fi
if ! git cat-file -e "${prev}:proto" 2>/dev/null; then
  echo "buf breaking: ${prev:0:12} has no proto/, nothing to compare"
  exit 0
fi

args=(--against ".git#ref=${prev}")
# A contract that had no go_package at all gains its first ones: no Go caller can have imported
# the old (absent) path, so that one change is not a break; every later change of one is.
if ! git grep -q 'option go_package' "$prev" -- proto/im; then
  config='{"version":"v2","modules":[{"path":"proto"}],"breaking":{"use":["FILE"],"except":["FILE_SAME_GO_PACKAGE"],"ignore":["proto/google"]}}'
  args+=(--config "$config" --against-config "$config")
fi
echo "buf breaking: proto/ against ${prev:0:12}"
pnpm exec buf breaking "${args[@]}"
