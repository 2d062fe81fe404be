#!/usr/bin/env bash
# bench/userns.sh: what unprivileged costs at start, sysctr unprivileged beside privileged.
#
# Usage (as root):   bench/userns.sh
#
# BENCH_RUNS (10) times, alternating, on the Debian 12 fixture (tests/fixtures/
# debian-rootfs.sh; made once, ~35 s): create a fresh container (not timed), then time
#   1. its first `sysctr start` (returns when init runs: user namespace, id maps, the
#      idmapped rootfs mount, every other mount, exec of systemd), and
#   2. the wait from there until systemd inside says `running`;
# once unprivileged (the default: user namespace + idmapped rootfs) and once with
# security.privileged=true. Prints median [min-max] in ms, the difference and the ratio,
# and saves the table to bench/userns-results.txt. Target: the idmapped mount and user
# namespace cost < 50 ms (LXD's rootfs shifting costs seconds). No network.
set -euo pipefail
export LC_ALL=C
SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
RUNS=${BENCH_RUNS:-10}
OUT=${BENCH_OUT:-$REPO/bench/userns-results.txt}
. "$REPO/bench/lib.sh"
log() { printf '%s\n' "$*" >&2; }
die() { log "bench/userns: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
((${BENCH_BUILD:-1})) && (cd "$REPO" && cargo build --release -q)
S=$REPO/target/release/sysctr
ROOTFS=/var/tmp/sysctr-test/debian-12
"$REPO/tests/fixtures/debian-rootfs.sh" bookworm "$ROOTFS" >&2
W=$(mktemp -d /var/tmp/sysctr-bench-userns.XXXXXX)
export SYSCTR_STATE_DIR=$W/state SYSCTR_RUN_DIR=$W/run SYSCTR_CONFIG=$W/sysctr.toml
echo 'default_network = "none"' >"$SYSCTR_CONFIG"
sysctl -q -w fs.inotify.max_user_instances=1024 || true

cleanup() {
    trap - EXIT INT TERM
    local n
    for n in $("$S" list --format json 2>/dev/null | grep -o '"name": *"[^"]*"' | cut -d'"' -f4); do
        "$S" delete --force "$n" >/dev/null 2>&1 || true
    done
    stop_daemon
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }
wait_running() {
    local n=$1 i s
    for i in $(seq 600); do
        s=$("$S" exec "$n" -- systemctl is-system-running 2>/dev/null || true)
        [ "$s" = running ] || [ "$s" = degraded ] && return 0
        sleep 0.05
    done
    die "$n did not reach running"
}
stats() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d %d %d\n", m, a[1], a[NR]}'; }

declare -A START BOOT
for i in $(seq "$RUNS"); do
    for mode in unpriv priv; do
        n=$mode$i
        if [ "$mode" = priv ]; then
            "$S" create "$n" --rootfs "$ROOTFS" -c security.privileged=true >/dev/null
        else
            "$S" create "$n" --rootfs "$ROOTFS" >/dev/null
        fi
        sync
        t0=$(now_ms)
        "$S" start "$n" >/dev/null
        t1=$(now_ms)
        wait_running "$n"
        t2=$(now_ms)
        START[$mode]+="$((t1 - t0)) "
        BOOT[$mode]+="$((t2 - t1)) "
        "$S" delete --force "$n" >/dev/null
        log "run $i $mode: start $((t1 - t0)) ms, then running after $((t2 - t1)) ms"
    done
done

row() {
    local what=$1 a b
    read -r am amin amax < <(tr ' ' '\n' <<<"$2" | grep . | stats)
    read -r bm bmin bmax < <(tr ' ' '\n' <<<"$3" | grep . | stats)
    printf '| %s | %d ms [%d-%d] | %d ms [%d-%d] | %+d ms | %s |\n' "$what" "$am" "$amin" "$amax" "$bm" "$bmin" "$bmax" \
        "$((am - bm))" "$(awk -v a="$am" -v b="$bm" 'BEGIN {printf "%.2f", (b ? a / b : 0)}')"
}
{
    echo "# bench/userns.sh, $(date -u +%Y-%m-%d), $RUNS runs, Debian 12, $(uname -r), $(nproc) CPUs"
    echo "| figure | unprivileged (userns + idmapped rootfs) | privileged | difference | ratio |"
    echo "| --- | --- | --- | --- | --- |"
    row "first sysctr start (until init runs)" "${START[unpriv]}" "${START[priv]}"
    row "then until systemd is running" "${BOOT[unpriv]}" "${BOOT[priv]}"
} | tee "$OUT"
