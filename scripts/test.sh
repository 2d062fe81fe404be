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
# The packages tests/packages.rs installs (and their fixture: Debian 12 with the deps).
packaging/build.sh
tests/fixtures/debian-rootfs.sh bookworm /var/tmp/sysctr-test/debian-12-pkg dnsmasq-base,nftables
export SYSCTR_TEST_NAMES=/tmp/sysctr-it-names.$$
: > "$SYSCTR_TEST_NAMES"
status=0
cargo test --all-targets --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" || status=$?
scripts/leak-check.sh "$SYSCTR_TEST_NAMES" || status=1

# The same runtime and lifecycle tests on a pure cgroup v2 host (what most hosts run):
# a throw-away qemu guest booted with cgroup_no_v1=all (../shared/tools/v2vm.sh).
v2vm=$(cd .. && pwd)/shared/tools/v2vm.sh
if [ -x "$v2vm" ] || [ -f "$v2vm" ]; then
    for t in busybox oci limits security; do
        bin=$(cargo test --no-run --test "$t" 2>&1 | grep -o "target/debug/deps/$t-[0-9a-f]*" | tail -1)
        echo "== cgroup v2 guest: tests/$t.rs"
        V2VM_TIMEOUT=1200 bash "$v2vm" "$bin" --test-threads=1 || status=1
    done
elif [ -n "${CI:-}" ]; then
    echo "missing $v2vm: the cgroup v2 tier cannot run" >&2
    status=1
else
    echo "skipped: cgroup v2 tier ($v2vm not found)"
fi
rm -f "$SYSCTR_TEST_NAMES"
exit $status
