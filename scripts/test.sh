#!/usr/bin/env bash
# Everything CI runs: install prerequisites, build, run every test (root integration tests
# boot real containers), then check that nothing was left behind.
#   sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ "$(id -u)" = 0 ] || { echo "run as root: the integration tests boot real containers" >&2; exit 1; }
# Build the Debian fixtures up front (cached per machine; ~35 s each the first time).
tests/fixtures/debian-rootfs.sh bookworm /var/tmp/sysctr-test/debian-12
tests/fixtures/debian-rootfs.sh trixie /var/tmp/sysctr-test/debian-13
export SYSCTR_TEST_NAMES=/tmp/sysctr-it-names.$$
: > "$SYSCTR_TEST_NAMES"
status=0
cargo test --all-targets -- --test-threads="${TEST_THREADS:-2}" || status=$?
scripts/leak-check.sh "$SYSCTR_TEST_NAMES" || status=1
rm -f "$SYSCTR_TEST_NAMES"
exit $status
