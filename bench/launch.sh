#!/usr/bin/env bash
# bench/launch.sh: a cached launch, sysctr beside LXC.
#
# Usage (as root):   bench/launch.sh
#
# Builds the Debian 13 image once (`sysctr image build debian/13`, debootstrap), then,
# BENCH_RUNS (10) times each, alternating:
#   1. `sysctr launch debian NAME` until systemd inside says `running` (the whole user
#      wait: clone, templates, boot);
#   2. the rootfs clone alone: `sysctr create NAME --image debian` vs `cp -a` of the same
#      tree vs `lxc-copy` of an LXC container holding that tree (dir backend: rsync);
#   3. LXC's equivalent of a cached launch: `lxc-copy` + `lxc-start` until systemd
#      inside says `running`.
# Prints median [min-max] in ms and ratios (< 1: sysctr faster); saves the table to
# bench/launch-results.txt. Target: a cached launch to `running` under 2 s.
# Containers have no network (the figure is the image path, not DHCP). Everything lives
# under one mktemp dir, removed on exit with every container and cgroup.
set -euo pipefail
export LC_ALL=C
SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
RUNS=${BENCH_RUNS:-10}
OUT=${BENCH_OUT:-$REPO/bench/launch-results.txt}
. "$REPO/bench/lib.sh"
log() { printf '%s\n' "$*" >&2; }
die() { log "bench/launch: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
command -v lxc-copy >/dev/null || die "apt-get install lxc"
command -v debootstrap >/dev/null || die "apt-get install debootstrap"
((${BENCH_BUILD:-1})) && (cd "$REPO" && cargo build --release -q)
S=$REPO/target/release/sysctr
W=$(mktemp -d /var/tmp/sysctr-bench-launch.XXXXXX)
export SYSCTR_STATE_DIR=$W/state SYSCTR_RUN_DIR=$W/run SYSCTR_CONFIG=$W/sysctr.toml
echo 'default_network = "none"' >"$SYSCTR_CONFIG"
LXCPATH=$W/lxc
mkdir -p "$LXCPATH"
sysctl -q -w fs.inotify.max_user_instances=1024 || true

cleanup() {
    trap - EXIT INT TERM
    for c in $("$S" list --format json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(c["name"] for c in json.load(sys.stdin)))'); do
        "$S" delete --force "$c" >/dev/null 2>&1 || true
    done
    for c in $(lxc-ls -P "$LXCPATH" 2>/dev/null); do
        lxc-stop -P "$LXCPATH" -n "$c" -k >/dev/null 2>&1 || true
        lxc-destroy -P "$LXCPATH" -n "$c" >/dev/null 2>&1 || true
    done
    remove_cgroups "sysctr/lb-"
    stop_daemon
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
# wait_running CMD...: poll `CMD systemctl is-system-running` until running.
wait_running() {
    local i s
    for i in $(seq 600); do
        s=$("$@" systemctl is-system-running 2>/dev/null || true)
        [ "$s" = running ] && return 0
        sleep 0.02
    done
    die "never running: $*"
}

log "building the Debian 13 image (debootstrap, once)..."
"$S" image build debian/13 >/dev/null
FP=$("$S" image info debian/13 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
IMG=$SYSCTR_STATE_DIR/images/$FP/rootfs

# The LXC side: one container holding the same tree, copied per run.
mkdir -p "$LXCPATH/lsrc"
cp -a "$IMG" "$LXCPATH/lsrc/rootfs"
echo lsrc >"$LXCPATH/lsrc/rootfs/etc/hostname"
cat >"$LXCPATH/lsrc/config" <<CONF
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.rootfs.path = dir:$LXCPATH/lsrc/rootfs
lxc.uts.name = lsrc
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed
lxc.log.level = ERROR
CONF

declare -a L_S C_S C_CP C_LXC L_LXC
# Each figure starts with nothing left to write back: a copy's dirty pages would
# otherwise slow whichever command runs next.
settle() { sync; }
for i in $(seq "$RUNS"); do
    n=lb-$i
    settle
    t0=$(now); "$S" launch debian "$n" >/dev/null 2>&1; wait_running "$S" exec "$n" --; t1=$(now)
    L_S+=("$(ms "$t0" "$t1")")
    "$S" delete --force "$n" >/dev/null
    settle
    t0=$(now); "$S" create "$n" --image debian >/dev/null 2>&1; t1=$(now)
    C_S+=("$(ms "$t0" "$t1")")
    "$S" delete "$n" >/dev/null
    settle
    t0=$(now); cp -a "$IMG" "$W/cp-$i"; t1=$(now)
    C_CP+=("$(ms "$t0" "$t1")")
    rm -rf "$W/cp-$i"
    settle
    t0=$(now); lxc-copy -P "$LXCPATH" -n lsrc -N "lx-$i" >/dev/null; t1=$(now)
    C_LXC+=("$(ms "$t0" "$t1")")
    lxc-destroy -P "$LXCPATH" -n "lx-$i" >/dev/null
    settle
    t0=$(now); lxc-copy -P "$LXCPATH" -n lsrc -N "lx-$i" >/dev/null; lxc-start -P "$LXCPATH" -n "lx-$i"
    wait_running lxc-attach -P "$LXCPATH" -n "lx-$i" --; t1=$(now)
    L_LXC+=("$(ms "$t0" "$t1")")
    lxc-stop -P "$LXCPATH" -n "lx-$i" -k >/dev/null; lxc-destroy -P "$LXCPATH" -n "lx-$i" >/dev/null
    log "run $i/$RUNS: launch ${L_S[-1]} ms (lxc ${L_LXC[-1]}), clone ${C_S[-1]} ms (cp -a ${C_CP[-1]}, lxc-copy ${C_LXC[-1]})"
done

stat() { printf '%s\n' "$@" | sort -n | python3 -c 'import sys,statistics as s; v=[int(x) for x in sys.stdin]; print(f"{s.median(v):.0f} [{min(v)}-{max(v)}]")'; }
med() { printf '%s\n' "$@" | sort -n | python3 -c 'import sys,statistics as s; print(s.median([int(x) for x in sys.stdin]))'; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
    echo "bench/launch.sh, $(date -u +%F), sysctr $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') | lxc $(lxc-start --version), $RUNS runs, ms median [min-max]"
    echo "image: Debian 13 from the template, $(du -sh "$IMG" | cut -f1) unpacked, $(find "$IMG" | wc -l) entries; $(df -T "$W" | awk 'NR==2{print $2}')"
    echo "page cache at the end: $(awk '/^Cached:/{c=$2} /^MemFree:/{f=$2} END{printf "%.1f GiB cached, %.1f GiB free", c/1048576, f/1048576}' /proc/meminfo) (a small cache means clones read the image from disk)"
    printf '%-44s %-18s %-18s %s\n' "" sysctr other "sysctr/other"
    printf '%-44s %-18s %-18s %s\n' "launch to systemd running (vs lxc-copy+start)" "$(stat "${L_S[@]}")" "$(stat "${L_LXC[@]}")" "$(ratio "$(med "${L_S[@]}")" "$(med "${L_LXC[@]}")")"
    printf '%-44s %-18s %-18s %s\n' "rootfs clone: create --image vs cp -a" "$(stat "${C_S[@]}")" "$(stat "${C_CP[@]}")" "$(ratio "$(med "${C_S[@]}")" "$(med "${C_CP[@]}")")"
    printf '%-44s %-18s %-18s %s\n' "rootfs clone: create --image vs lxc-copy" "$(stat "${C_S[@]}")" "$(stat "${C_LXC[@]}")" "$(ratio "$(med "${C_S[@]}")" "$(med "${C_LXC[@]}")")"
} | tee "$OUT"
