#!/usr/bin/env bash
# The container image check (test/image/image.test.ts): builds infra/Dockerfile for PHP 8.4 and 8.2 with
# podman and runs what it built. CI (.ci/run) runs it after the test suite; `npm run test:image` for people
# (as root, with podman, runc, mmdebstrap, slirp4netns and catatonit installed). Its last line sums it up.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
node scripts/test.mjs test/image/image.test.ts 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log")
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log")
skipped=$(sed -n 's/^ℹ skipped \([0-9]*\)$/\1/p' "$log")
# A run that failed outside any test (the runner itself) counts as one failure.
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "image: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"
