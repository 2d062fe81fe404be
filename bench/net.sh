#!/usr/bin/env bash
# bench/net.sh: from `start` to the guest answering ping, sysctr beside LXC.
#
# Usage (as root):   bench/net.sh
#
# One sysctr network (bridge, dnsmasq, NAT) made for the run. Two busybox guests whose
# init runs udhcpc on eth0: one sysctr container, one LXC container with a veth on the
# same bridge (lxc.net.0.type = veth, link = the bridge). Both take a reserved address
# from the same dnsmasq (the LXC one's MAC is reserved through a sysctr placeholder), so
# the only difference is the manager. Each run: the start command is spawned and echo
# requests go to the guest's address every 10 ms (bench/ping-after-start.py) until the
# first reply; then the guest is stopped. BENCH_N runs each (default 10), interleaved;
# prints median [min-max] ms and the ratio sysctr/LXC; saves to bench/net-results.txt.
# Everything is removed on exit (containers, network, LXC path, temp dirs).
set -euo pipefail
export LC_ALL=C

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
N=${BENCH_N:-10}
OUT=${BENCH_OUT:-$REPO/bench/net-results.txt}
. "$REPO/bench/lib.sh"
log() { printf '%s\n' "$*" >&2; }
die() { log "bench/net: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
need=()
command -v lxc-start >/dev/null || need+=(lxc)
command -v busybox >/dev/null || need+=(busybox-static)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v nft >/dev/null || need+=(nftables)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ "${BENCH_BUILD:-1}" = 1 ] && { (cd "$REPO" && cargo build --release -q) || die "cargo build --release failed"; }

W=$(mktemp -d /tmp/sysctr-netbench.XXXXXX)
RUNW=$(mktemp -d /dev/shm/sysctr-netbench-run.XXXXXX)
cp "$REPO/target/release/sysctr" "$W/sysctr"
S=$W/sysctr
NET=sb$$
SC=sysctr-netbench-$$-s
PEER=sysctr-netbench-$$-p
LX=sysctr-netbench-$$-l
LXCPATH=$W/lxc
LXMAC=0a:73:63:fe:$(printf '%02x:%02x' $(($$ % 256)) $(($$ / 256 % 256)))
export SYSCTR_STATE_DIR=$W/state SYSCTR_RUN_DIR=$RUNW SYSCTR_CONFIG=$W/sysctr.toml
echo "default_network = \"$NET\"" >"$SYSCTR_CONFIG"

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    lxc-stop -P "$LXCPATH" -n "$LX" -k >/dev/null 2>&1
    lxc-destroy -P "$LXCPATH" -n "$LX" >/dev/null 2>&1
    "$S" delete --force "$SC" >/dev/null 2>&1
    "$S" delete --force "$PEER" >/dev/null 2>&1
    "$S" network delete "$NET" >/dev/null 2>&1
    remove_cgroups "sysctr-netbench-$$"
    stop_daemon
    rm -rf --one-file-system "$W" "$RUNW"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

R=$W/rootfs
busybox_rootfs "$R" dhcp

# The network and both reservations (a first start reserves; the LXC MAC through a
# placeholder sysctr container that keeps its reservation while it exists).
"$S" create "$SC" --rootfs "$R" >/dev/null
"$S" create "$PEER" --rootfs "$R" -c "hwaddr=$LXMAC" >/dev/null
"$S" start "$SC" 2>/dev/null && "$S" stop -t 5 "$SC"
"$S" start "$PEER" 2>/dev/null && "$S" stop -t 5 "$PEER"
ip_of() { "$S" info "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["addresses"][0]["ipv4"])'; }
SC_IP=$(ip_of "$SC")
LX_IP=$(ip_of "$PEER")

mkdir -p "$LXCPATH/$LX"
cp -a "$R" "$LXCPATH/$LX/rootfs"
cat >"$LXCPATH/$LX/config" <<EOF
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.rootfs.path = dir:$LXCPATH/$LX/rootfs
lxc.uts.name = $LX
lxc.net.0.type = veth
lxc.net.0.link = $NET
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.net.0.hwaddr = $LXMAC
lxc.apparmor.profile = unconfined
lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed
lxc.log.level = ERROR
EOF

PING=$REPO/bench/ping-after-start.py
: >"$W/sysctr.ms"
: >"$W/lxc.ms"
for i in $(seq 1 "$N"); do
    sleep 0.5
    python3 "$PING" "$SC_IP" 20 -- "$S" start "$SC" >>"$W/sysctr.ms" || { "$S" list >&2; "$S" info "$SC" >&2; die "sysctr guest did not answer"; }
    "$S" stop -t 5 "$SC"
    sleep 0.5
    python3 "$PING" "$LX_IP" 20 -- lxc-start -P "$LXCPATH" -n "$LX" >>"$W/lxc.ms" || die "LXC guest did not answer"
    lxc-stop -P "$LXCPATH" -n "$LX" -k
    log "bench/net: run $i: sysctr $(tail -1 "$W/sysctr.ms") ms, LXC $(tail -1 "$W/lxc.ms") ms"
done

stat() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f [%.0f-%.0f]", m, a[1], a[NR]}'; }
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
{
    echo "sysctr network bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs"
    echo "sysctr $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') | lxc $(lxc-start --version)"
    echo "median [min-max] of $N runs, interleaved; ratio = sysctr / LXC (< 1: sysctr faster)"
    echo
    printf '%-34s %-18s %-18s %s\n' figure sysctr LXC ratio
    printf '%-34s %-18s %-18s %s\n' "start -> guest answers ping (ms)" "$(stat "$W/sysctr.ms")" "$(stat "$W/lxc.ms")" \
        "$(awk -v a="$(median "$W/sysctr.ms")" -v b="$(median "$W/lxc.ms")" 'BEGIN { printf "%.2f", a / b }')"
    echo
    echo "both: busybox init + udhcpc on eth0, a veth on the same sysctr bridge, a reserved address from the same dnsmasq"
} | tee "$OUT"
