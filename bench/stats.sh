#!/usr/bin/env bash
# bench/stats.sh: what reading a fleet's resource use costs, sysctr beside LXC.
#
# Usage (as root):   bench/stats.sh
#
# Boots BENCH_FLEET (100) busybox containers in sysctr and as many in LXC, then times with
# hyperfine (BENCH_RUNS=20 runs each, 3 warm-ups, medians):
#   1. one container's details with its use: `sysctr info NAME` vs `lxc-info -n NAME`
#      (both read state, init pid, CPU time, memory from the host's cgroup files);
#   2. the fleet refresh a dashboard needs: `sysctr list --format json` (state, pid, CPU
#      time, memory, pids of every container) vs `lxc-ls -f -F NAME,STATE,PID,RAM,SWAP`.
# Prints median [min-max] in ms and the ratio sysctr/LXC (< 1: sysctr faster), and saves
# the table to bench/stats-results.txt. Target: the fleet refresh for 100 containers
# under 50 ms.
#
# Environment: BENCH_FLEET [100], BENCH_RUNS [20], BENCH_LXC [1] (0: sysctr only),
# BENCH_BUILD [1] (0: skip `cargo build --release`), BENCH_OUT [bench/stats-results.txt].
# Everything lives under one mktemp dir plus a tmpfs run dir, removed on exit (Ctrl-C
# included) with every container and cgroup. Containers have no network.
set -euo pipefail
export LC_ALL=C

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
FLEET=${BENCH_FLEET:-100}
# How many of the fleet run (the rest are defined, stopped).
RUNNING=${BENCH_RUNNING:-$FLEET}
RUNS=${BENCH_RUNS:-20}
WITH_LXC=${BENCH_LXC:-1}
OUT=${BENCH_OUT:-$REPO/bench/stats-results.txt}
PREFIX=sysctr-stats-$$-

. "$REPO/bench/lib.sh"
log() { printf '%s\n' "$*" >&2; }
die() { log "bench/stats: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v jq >/dev/null || need+=(jq)
command -v busybox >/dev/null || need+=(busybox-static)
((WITH_LXC)) && ! command -v lxc-start >/dev/null && need+=(lxc)
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${BENCH_BUILD:-1}" = 1 ]; then
    (cd "$REPO" && cargo build --release -q) || die "cargo build --release failed"
fi

W=$(mktemp -d /tmp/sysctr-stats.XXXXXX)
RUNW=$(mktemp -d /dev/shm/sysctr-stats-run.XXXXXX)
LXCPATH=$W/lxc
mkdir -p "$W/bin" "$LXCPATH"
cp "$REPO/target/release/sysctr" "$W/bin/"
SYSCTR=$W/bin/sysctr
export SYSCTR_STATE_DIR=$W/state SYSCTR_RUN_DIR=$RUNW SYSCTR_CONFIG=$W/sysctr.toml
# No network, like the LXC side (its containers get lxc.net.0.type = empty): the figure is
# the cost of reading state and use, and no bridge or dnsmasq outlives the run.
echo 'default_network = "none"' >"$SYSCTR_CONFIG"
names=()
for i in $(seq 1 "$FLEET"); do names+=("${PREFIX}$i"); done

cleanup() {
    local rc=$? n
    set +e
    trap - EXIT INT TERM
    for n in "${names[@]}"; do
        [ -d "$SYSCTR_STATE_DIR/containers/$n" ] && echo "$n"
    done | xargs -r -P 4 -I{} "$SYSCTR" delete --force {} >/dev/null 2>&1
    for n in "${names[@]}"; do
        [ -d "$LXCPATH/$n" ] && echo "$n"
    done | xargs -r -P 4 -I{} sh -c 'lxc-stop -P "$0" -n "$1" -k >/dev/null 2>&1; lxc-destroy -P "$0" -n "$1" >/dev/null 2>&1' "$LXCPATH" {}
    remove_cgroups "$PREFIX"
    stop_daemon
    rm -rf --one-file-system "$W" "$RUNW"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One busybox rootfs: sysctr copies it per container, LXC containers share it read-only
# in spirit (busybox init writes nothing).
R=$W/rootfs
busybox_rootfs "$R"

log "bench/stats: $FLEET sysctr containers, $RUNNING running"
i=0
for n in "${names[@]}"; do
    "$SYSCTR" create "$n" --rootfs "$R" >/dev/null
    ((i++ < RUNNING)) && "$SYSCTR" start "$n" 2>/dev/null
done
if ((WITH_LXC)); then
    log "bench/stats: $FLEET LXC containers, $RUNNING running"
    i=0
    for n in "${names[@]}"; do
        mkdir -p "$LXCPATH/$n"
        cat >"$LXCPATH/$n/config" <<EOF
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.rootfs.path = dir:$R
lxc.uts.name = $n
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed
lxc.log.level = ERROR
EOF
        if ((i++ < RUNNING)); then lxc-start -P "$LXCPATH" -n "$n" || die "lxc-start $n failed"; fi
    done
fi
running=$("$SYSCTR" list --format json | jq '[.[] | select(.status == "RUNNING")] | length')
[ "$running" = "$RUNNING" ] || die "$running of $FLEET sysctr containers run, not $RUNNING"

one=${names[$((RUNNING / 2))]}
cmds=("$SYSCTR info $one" "$SYSCTR list --format json" "$SYSCTR list")
((WITH_LXC)) && cmds+=("lxc-info -P $LXCPATH -n $one" "lxc-ls -P $LXCPATH -f -F NAME,STATE,PID,RAM,SWAP" "lxc-ls -P $LXCPATH --fancy")
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/h.json" "${cmds[@]}" >&2

# median [min-max] in ms of command i
cell() { jq -r --argjson i "$1" '.results[$i] | "\(.median*1000*10|round/10) [\(.min*1000*10|round/10)-\(.max*1000*10|round/10)]"' "$W/h.json"; }
med() { jq -r --argjson i "$1" '.results[$i].median' "$W/h.json"; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", a / b }'; }
{
    echo "sysctr stats bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, $FLEET containers each, $RUNNING running"
    echo "sysctr answers through its daemon (REST on the unix socket, started by the first command)"
    echo "sysctr $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') | $(lxc-start --version 2>/dev/null | sed 's/^/lxc /' || echo 'no lxc')"
    echo "median [min-max] of $RUNS runs (hyperfine, 3 warm-ups); ratio = sysctr / LXC (< 1: sysctr faster)"
    echo
    printf '%-38s %-22s %-22s %s\n' figure sysctr LXC ratio
    if ((WITH_LXC)); then
        printf '%-38s %-22s %-22s %s\n' "one container with use (ms)" "$(cell 0)" "$(cell 3)" "$(ratio 0 3)"
        printf '%-38s %-22s %-22s %s\n' "fleet of $FLEET with use (ms)" "$(cell 1)" "$(cell 4)" "$(ratio 1 4)"
        printf '%-38s %-22s %-22s %s\n' "list table: list vs lxc-ls --fancy" "$(cell 2)" "$(cell 5)" "$(ratio 2 5)"
    else
        printf '%-38s %-22s\n' "one container with use (ms)" "$(cell 0)" "fleet of $FLEET with use (ms)" "$(cell 1)" "list table (ms)" "$(cell 2)"
    fi
    echo
    echo "sysctr: info NAME / list --format json (state, pids, CPU time, memory, swap, pids, OOM kills, PSI)"
    echo "LXC: lxc-info -n NAME (state, pid, CPU use, memory, kmem) / lxc-ls -f -F NAME,STATE,PID,RAM,SWAP"
} | tee "$OUT"
