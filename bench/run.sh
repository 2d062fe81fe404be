#!/usr/bin/env bash
# bench/run.sh: sysctr side by side with LXC, runc and crun, in one run.
#
# Usage (as root, from anywhere):   bench/run.sh
#
# Measures, N times each, interleaving the contenders so that drift in machine load
# hits all of them alike, and prints median [min-max] in ms plus ratios sysctr/anchor
# (ratio < 1: sysctr is faster):
#   1. boot:  start command -> `systemctl is-system-running` says `running`
#             (sysctr start + sysctr exec polls  vs  lxc-start + lxc-attach polls),
#             Debian 12 rootfs, same copy source for both;
#   2. clean stop of a fully booted container (sysctr stop  vs  lxc-stop, no -k);
#   3. a trivial OCI bundle (busybox /bin/true), `run` end to end:
#             sysctr-oci vs crun and runc, back-to-back and after an idle pause;
#   4. peak RSS of the runtime process tree for that trivial run.
# Side figures: how long the start command takes to return, one exec round trip.
# The table is printed and saved to bench/last-results.txt.
#
# Environment knobs (defaults in brackets):
#   BENCH_N            boots/stops per system                                [5]
#   BENCH_N_TRIVIAL    trivial runs per runtime and mode                      [20]
#   BENCH_N_EXEC       exec latency rounds on running guests (0: skip)        [50]
#   BENCH_N_RSS        runs per runtime for the RSS figure (0: skip)          [3]
#   BENCH_SECTIONS     comma list of: boot, trivial                           [boot,trivial]
#   BENCH_ROOTFS       Debian 12 rootfs dir (built if missing by
#                      tests/fixtures/debian-rootfs.sh)         [/var/tmp/sysctr-test/debian-12]
#   BENCH_POLL_MS      pause between `is-system-running` polls                [10]
#   BENCH_IDLE         idle pause (s) before each "after idle" trivial run    [0.3]
#   BENCH_SETTLE       pause (s) before each timed boot                       [1]
#   BENCH_TIMEOUT      max seconds for one boot or one clean stop             [60]
#   BENCH_BUILD        0: skip `cargo build --release`                        [1]
#   BENCH_OUT          where to save the table                   [bench/last-results.txt]
#   BENCH_TRIVIAL_CGROUPS  trivial bundle variants: path (linux.cgroupsPath set, so
#                      every runtime makes a cgroup), none (runc spec's default,
#                      no cgroupsPath), or both                               [both]
#   BENCH_SYSCTR_RUN_FS  tmpfs: sysctr's run dir on tmpfs (/run or /dev/shm) as /run
#                      is on a normal host; disk: under the /tmp work dir      [tmpfs]
#   BENCH_LXC_LXCFS    0: drop the lxcfs hooks Debian adds to every LXC container
#                      (its post-stop hook sleeps 0.5 s inside lxc-stop)      [1]
#   BENCH_KEEP         1: keep the work dir (samples in res/; containers are still
#                      deleted)                                               [0]
#
# Everything the script makes lives under one mktemp dir in /tmp (sysctr state dir, a
# private lxcpath, OCI bundle and runtime roots) plus sysctr's run dir on tmpfs, and is
# removed on exit, Ctrl-C included, with the containers and their cgroups.
# Containers get no network (LXC: lxc.net.0.type = empty; sysctr and the OCI bundle:
# a private network namespace), so nothing leaves the machine.
set -euo pipefail
export LC_ALL=C            # "." as decimal point in $EPOCHREALTIME and printf

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
. "$REPO/bench/lib.sh"
SYSCTR=$REPO/target/release/sysctr
# (The trivial section's inner process gets the pinned copy made below.)
SYSCTR_OCI=${BENCH_PINNED_OCI:-$REPO/target/release/sysctr-oci}
HYBRID_CTL=/sys/fs/cgroup/unified/cgroup.controllers

# Timestamps: ${EPOCHREALTIME/./} is microseconds since the epoch, read without forking
# (bash >= 5). Never wrap it in $(...): that subshell fork would land inside the interval.

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# ---------------------------------------------------------------------------------
# Internal mode: the trivial-bundle loop, run inside a private mount namespace (see
# oci_ns below). Arguments: WORKDIR. Writes samples to WORKDIR/res.
# ---------------------------------------------------------------------------------
trivial_inner() {
    local W=$1 n=$BENCH_N_TRIVIAL idle=$BENCH_IDLE
    local res=$W/res prefix=$BENCH_ID_PREFIX
    local -a rts=(sysctr-oci crun runc) variants
    local -A bin=([sysctr-oci]=$SYSCTR_OCI [crun]=crun [runc]=runc)
    read -ra variants <<<"$BENCH_VARIANTS"

    # One `run` of bundle $W/bundle/<variant>-<rt>: sets run_us to the elapsed
    # microseconds; on failure returns 1 and leaves the runtime's stderr in
    # $W/oci/<rt>.err.
    local run_us
    run_once() {
        local v=$1 rt=$2 id=$3 t0 t1
        t0=${EPOCHREALTIME/./}
        if ! "${bin[$rt]}" --root "$W/oci/$rt" run --bundle "$W/bundle/$v-$rt" "$id" \
                </dev/null >"$W/oci/$rt.out" 2>"$W/oci/$rt.err"; then
            return 1
        fi
        t1=${EPOCHREALTIME/./}
        run_us=$((t1 - t0))
    }

    local v rt mode i k id key
    for v in "${variants[@]}"; do
        # Warm-up: page cache, binaries, cgroup parents; not recorded.
        for rt in "${rts[@]}"; do
            for i in 1 2; do
                run_once "$v" "$rt" "${prefix}w$i-$v-$rt" || true
            done
        done
        for mode in b2b idle; do
            for ((i = 0; i < n; i++)); do
                # Rotate the order each round: no runtime always runs right after another.
                for ((k = 0; k < 3; k++)); do
                    rt=${rts[$(((i + k) % 3))]}
                    key=triv-$v-$mode.$rt
                    [ -e "$res/$key.fail" ] && continue
                    [ "$mode" = idle ] && sleep "$idle"
                    id=$prefix$v-$mode$i-$rt
                    if run_once "$v" "$rt" "$id"; then
                        echo "$run_us" >>"$res/$key.us"
                    else
                        { echo "${bin[$rt]} --root $W/oci/$rt run --bundle $W/bundle/$v-$rt $id:"
                          cat "$W/oci/$rt.err"; } >"$res/$key.fail"
                    fi
                    # `run` deletes the container at the end; check it really did.
                    if [ -e "$W/oci/$rt/$id" ]; then
                        echo "$id" >>"$res/leaks.$rt"
                    fi
                done
            done
        done
    done

    # Peak RSS (KB) of the runtime's process tree (GNU time's %M: largest maxrss among
    # the waited-for processes, i.e. the runtime or its re-exec'd init helper), with
    # the first variant's bundle.
    if ((BENCH_N_RSS > 0)) && [ -x /usr/bin/time ]; then
        v=${variants[0]}
        for rt in "${rts[@]}"; do
            for ((i = 0; i < BENCH_N_RSS; i++)); do
                id=${prefix}rss$i-$rt
                if /usr/bin/time -f %M -o "$W/oci/$rt.rss" "${bin[$rt]}" --root "$W/oci/$rt" \
                        run --bundle "$W/bundle/$v-$rt" "$id" </dev/null >/dev/null 2>&1; then
                    cat "$W/oci/$rt.rss" >>"$res/rss.$rt.kb"
                fi
            done
        done
    fi
}

if [ "${1:-}" = --trivial-inner ]; then
    # Only reached through oci_ns from the main script, which exported the knobs.
    trivial_inner "$2"
    exit 0
fi

# ---------------------------------------------------------------------------------
# Knobs, prerequisites.
# ---------------------------------------------------------------------------------
BENCH_N=${BENCH_N:-5}
BENCH_N_TRIVIAL=${BENCH_N_TRIVIAL:-20}
BENCH_N_EXEC=${BENCH_N_EXEC:-50}
BENCH_N_RSS=${BENCH_N_RSS:-3}
BENCH_SECTIONS=${BENCH_SECTIONS:-boot,trivial}
BENCH_ROOTFS=${BENCH_ROOTFS:-/var/tmp/sysctr-test/debian-12}
BENCH_POLL_MS=${BENCH_POLL_MS:-10}
BENCH_IDLE=${BENCH_IDLE:-0.3}
BENCH_SETTLE=${BENCH_SETTLE:-1}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-60}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_OUT=${BENCH_OUT:-$REPO/bench/last-results.txt}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_LXC_LXCFS=${BENCH_LXC_LXCFS:-1}
BENCH_TRIVIAL_CGROUPS=${BENCH_TRIVIAL_CGROUPS:-both}
BENCH_SYSCTR_RUN_FS=${BENCH_SYSCTR_RUN_FS:-tmpfs}
case $BENCH_TRIVIAL_CGROUPS in
    both) BENCH_VARIANTS="cg nocg" ;;
    path) BENCH_VARIANTS=cg ;;
    none) BENCH_VARIANTS=nocg ;;
    *) die "BENCH_TRIVIAL_CGROUPS must be both, path or none" ;;
esac
# Unique per bench run: container names, OCI ids (and so their cgroups) start with it.
BENCH_ID_PREFIX=sysctr-bench-$$-
export BENCH_N_TRIVIAL BENCH_N_RSS BENCH_IDLE BENCH_ID_PREFIX BENCH_VARIANTS

section() { [[ ",$BENCH_SECTIONS," == *",$1,"* ]]; }

[ "$(id -u)" = 0 ] || die "must run as root"
((BASH_VERSINFO[0] >= 5)) || die "needs bash >= 5 (EPOCHREALTIME)"

# Install what is missing (Debian package names), once, with apt.
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have lxc-start || need_pkgs+=(lxc)
have runc || need_pkgs+=(runc)
have crun || need_pkgs+=(crun)
have debootstrap || need_pkgs+=(debootstrap)
have busybox || need_pkgs+=(busybox-static)
have jq || need_pkgs+=(jq)
[ -x /usr/bin/time ] || need_pkgs+=(time)
if ((${#need_pkgs[@]})); then
    log "bench: installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
BUSYBOX=$(command -v busybox)
# A dynamically linked busybox would not run in the bare bundle rootfs.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi

if ((BENCH_BUILD)); then
    log "bench: cargo build --release"
    if ! build_out=$(cd "$REPO" && cargo build --release 2>&1); then
        printf '%s\n' "$build_out" | tail -30 >&2
        die "cargo build --release failed"
    fi
fi
[ -x "$SYSCTR" ] && [ -x "$SYSCTR_OCI" ] || die "missing $SYSCTR or $SYSCTR_OCI (build first)"

if section boot; then
    # Idempotent; debootstraps only when the rootfs is not there yet.
    "$REPO/tests/fixtures/debian-rootfs.sh" bookworm "$BENCH_ROOTFS"
fi

# ---------------------------------------------------------------------------------
# Work dir and cleanup.
# ---------------------------------------------------------------------------------
W=$(mktemp -d /tmp/sysctr-bench.XXXXXX)
RES=$W/res
mkdir -p "$RES" "$W/oci" "$W/bin"
cd /       # lxc-attach keeps the cwd; / exists in every container

RUNW=   # sysctr run dir on tmpfs, made below
LXCPATH=$W/lxc
SYS_NAME=${BENCH_ID_PREFIX}c        # sysctr container
LXC_NAME=${BENCH_ID_PREFIX}lxc      # LXC container
sysctr_made=0 lxc_made=0
# lxc-stop leaves `lxc.pivot` cgroups behind; remove them at the end if we caused them.
pivot_existed=0
ls -d /sys/fs/cgroup/*/lxc.pivot >/dev/null 2>&1 && pivot_existed=1

# crun 1.8 refuses hybrid hosts whose cgroup2 offers any controller ("cgroups in hybrid
# mode not supported, drop all controllers from cgroupv2"); here hugetlb is not bound
# to a v1 hierarchy, so cgroup2 offers it. Instead of touching the host, the trivial
# section runs in a private mount namespace in which an empty file hides that list;
# all three runtimes run in it alike (runc and sysctr-oci do not read that file on
# hybrid hosts), and it vanishes with the namespace.
MASK_V2=0
# (cgroupfs files report size 0: test the content, not -s.)
if [ -r "$HYBRID_CTL" ] && [ -n "$(tr -d ' \n' <"$HYBRID_CTL")" ] &&
        [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    MASK_V2=1
    : >"$W/empty"
fi
oci_ns() {
    if ((MASK_V2)); then
        unshare --mount --propagation private -- \
            sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$W/empty" "$HYBRID_CTL" "$@"
    else
        "$@"
    fi
}

cleanup() {
    local rc=$? rt id d
    set +e
    trap - EXIT INT TERM
    if ((sysctr_made)); then
        timeout 60 "$SYSCTR" delete --force "$SYS_NAME" >/dev/null 2>&1 ||
            log "bench: cleanup: sysctr delete --force $SYS_NAME failed"
    fi
    if ((lxc_made)); then
        if [ "$(lxc-info -P "$LXCPATH" -n "$LXC_NAME" -sH 2>/dev/null)" != STOPPED ]; then
            timeout 60 lxc-stop -P "$LXCPATH" -n "$LXC_NAME" -k >/dev/null 2>&1
        fi
        timeout 60 lxc-destroy -P "$LXCPATH" -n "$LXC_NAME" >/dev/null 2>&1
    fi
    # OCI containers left by an interrupted run (`run` deletes them when it finishes).
    for rt in sysctr-oci crun runc; do
        [ -d "$W/oci/$rt" ] || continue
        for d in "$W/oci/$rt/$BENCH_ID_PREFIX"*; do
            [ -e "$d" ] || continue
            id=${d##*/}
            case $rt in
                sysctr-oci) oci_ns "$SYSCTR_OCI" --root "$W/oci/$rt" delete --force "$id" ;;
                *) oci_ns "$rt" --root "$W/oci/$rt" delete --force "$id" ;;
            esac >/dev/null 2>&1
        done
    done
    # Cgroups named after our ids (each runtime picks its own parent), deepest first.
    # (LXC's are lxc.payload.<name> and lxc.monitor.<name>.)
    find /sys/fs/cgroup -mindepth 2 -maxdepth 7 -type d -path "*$BENCH_ID_PREFIX*" 2>/dev/null |
        sort -r | while read -r d; do rmdir "$d" 2>/dev/null; done
    if ((!pivot_existed)); then
        for d in /sys/fs/cgroup/*/lxc.pivot; do
            [ -d "$d" ] && [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && rmdir "$d" 2>/dev/null
        done
    fi
    # --one-file-system: never descend into something still mounted.
    if ((BENCH_KEEP)); then
        log "bench: kept $W ${RUNW:-}"
    else
        stop_daemon
        rm -rf --one-file-system "$W" ${RUNW:+"$RUNW"}
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Pin the binaries: a `cargo build` elsewhere during the run must not swap them midway.
cp "$SYSCTR" "$SYSCTR_OCI" "$W/bin/"
SYSCTR=$W/bin/sysctr SYSCTR_OCI=$W/bin/sysctr-oci
export BENCH_PINNED_OCI=$SYSCTR_OCI

# sysctr's state dir (rootfs copies) sits on disk next to the LXC rootfs copy. Its run
# dir defaults to /run/sysctr, which is tmpfs on a normal host; the monitor fsyncs its
# state file there before `start` returns, a disk flush if the run dir is on disk
# (/run and /tmp are plain ext4 dirs on some VMs). So: a tmpfs run dir, unless
# BENCH_SYSCTR_RUN_FS=disk.
if [ "$BENCH_SYSCTR_RUN_FS" = tmpfs ]; then
    for d in /run /dev/shm; do
        if [ "$(stat -fc %T "$d" 2>/dev/null)" = tmpfs ]; then
            RUNW=$(mktemp -d "$d/sysctr-bench-run.XXXXXX")
            break
        fi
    done
    [ -n "$RUNW" ] || log "bench: no tmpfs for sysctr's run dir, using disk"
fi
export SYSCTR_STATE_DIR=$W/sysctr/state SYSCTR_RUN_DIR=${RUNW:-$W/sysctr/run}
fstype() {   # (stat -f says ext2/ext3 for ext4; findmnt may list stacked mounts)
    local t
    t=$(findmnt -no FSTYPE -T "$1" 2>/dev/null | tail -n1) || true
    echo "${t:-$(stat -fc %T "$1")}"
}
echo "sysctr run dir on $(fstype "${RUNW:-$W}") ($SYSCTR_RUN_DIR; BENCH_SYSCTR_RUN_FS=$BENCH_SYSCTR_RUN_FS), state dir and LXC rootfs on $(fstype "$W")" >>"$RES/notes"

# ---------------------------------------------------------------------------------
# Statistics and formatting.
# ---------------------------------------------------------------------------------
# stats FILE DIV: "median min max count" of the numbers in FILE divided by DIV.
stats() {
    sort -n "$1" | awk -v d="$2" '{ v[NR] = $1 / d }
        END { if (NR == 0) exit 1
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.3f %.3f %.3f %d\n", m, v[1], v[NR], NR }'
}
# fmtnum X: integers from 100 up, one decimal below.
fmtnum() { awk -v x="$1" 'BEGIN { printf (x >= 100 ? "%.0f" : "%.1f"), x }'; }
# cell KEY [DIV]: "median [min-max]" for res/KEY.us (or .kb with DIV 1), or FAILED / n/a.
cell() {
    local key=$1 div=${2:-1000} file s med min max
    if [ -e "$RES/$key.fail" ]; then echo FAILED; return; fi
    file=$RES/$key.us
    [ "$div" = 1 ] && file=$RES/$key.kb
    if [ ! -s "$file" ] || ! s=$(stats "$file" "$div"); then echo n/a; return; fi
    read -r med min max _ <<<"$s"
    echo "$(fmtnum "$med") [$(fmtnum "$min")-$(fmtnum "$max")]"
}
median() {
    local file=$RES/$1.us
    [ "${2:-1000}" = 1 ] && file=$RES/$1.kb
    [ -e "$RES/$1.fail" ] || [ ! -s "$file" ] && return 1
    stats "$file" "${2:-1000}" | cut -d' ' -f1
}
ratio() {
    local a b
    a=$(median "$1" "${3:-1000}") && b=$(median "$2" "${3:-1000}") || { echo n/a; return; }
    awk -v a="$a" -v b="$b" 'BEGIN { printf (b > 0 ? "%.2f" : "n/a"), a / b }'
}

# ---------------------------------------------------------------------------------
# Boot and stop: sysctr vs LXC.
# ---------------------------------------------------------------------------------
# wait_running DEADLINE_US CMD...: poll CMD (which runs `systemctl is-system-running`
# in the guest) until it prints `running`. Returns 0 on running, 2 on degraded (booted,
# but a unit failed), 1 on timeout; the last answer is left in $last_state.
last_state=
wait_running() {
    local deadline=$1 pause
    shift
    pause=$(awk -v ms="$BENCH_POLL_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
    while :; do
        last_state=$("$@" </dev/null 2>/dev/null) || true
        case $last_state in
            running) return 0 ;;
            degraded) return 2 ;;
        esac
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep "$pause"
    done
}

# Per system: how to start, poll, exec, stop and check that the stop was clean.
sys_start() { "$SYSCTR" start "$SYS_NAME"; }
sys_poll() { "$SYSCTR" exec "$SYS_NAME" -- systemctl is-system-running; }
sys_true() { "$SYSCTR" exec "$SYS_NAME" -- true; }
sys_stop() { "$SYSCTR" stop -t "$BENCH_TIMEOUT" "$SYS_NAME"; }
sys_clean() {  # the monitor records why init went away: "halt" is a clean halt
    local info
    info=$("$SYSCTR" info -f json "$SYS_NAME")
    [ "$(jq -r .status <<<"$info")" = STOPPED ] &&
        [ "$(jq -r '.last_exit.reason // empty' <<<"$info")" = halt ]
}
lxc_start() { lxc-start -P "$LXCPATH" -n "$LXC_NAME"; }
lxc_poll() { lxc-attach -P "$LXCPATH" -n "$LXC_NAME" -- systemctl is-system-running; }
lxc_true() { lxc-attach -P "$LXCPATH" -n "$LXC_NAME" -- true; }
# --nokill: a guest that does not halt within the timeout is an error, not a kill.
lxc_stop() { lxc-stop -P "$LXCPATH" -n "$LXC_NAME" --nokill -t "$BENCH_TIMEOUT"; }
lxc_clean() { [ "$(lxc-info -P "$LXCPATH" -n "$LXC_NAME" -sH)" = STOPPED ]; }

# boot_cycle SYS(sys|lxc) RECORD(0|1): start, wait for running, one exec, clean stop.
# Records res/{start,boot,exec,stop}.SYS.us when RECORD=1. On failure writes
# res/boot.SYS.fail and returns 1.
boot_cycle() {
    local s=$1 rec=$2 t0 t1 t2 t3 t4 t5 rc=0 err=$W/$1.err
    local label; [ "$s" = sys ] && label=sysctr || label=LXC
    fail() {
        { echo "$label: $1"; [ -s "$err" ] && tail -20 "$err"; } >"$RES/boot.$s.fail"
        log "bench: $label: $1"
        return 1
    }
    sleep "$BENCH_SETTLE"
    t0=${EPOCHREALTIME/./}
    "${s}_start" </dev/null >"$err" 2>&1 || fail "start failed" || return 1
    t1=${EPOCHREALTIME/./}
    wait_running $((t0 + BENCH_TIMEOUT * 1000000)) "${s}_poll" || rc=$?
    t2=${EPOCHREALTIME/./}
    case $rc in
        0) ;;
        2) # Booted, but with failed units: keep the figure, say so.
           echo "$label: boot ended 'degraded'" >>"$RES/notes"
           "${s}_poll" >/dev/null 2>&1 || true ;;
        *) fail "not running after ${BENCH_TIMEOUT}s (last answer: '${last_state}')"
           return 1 ;;
    esac
    t3=${EPOCHREALTIME/./}
    "${s}_true" </dev/null >/dev/null 2>"$err" || fail "exec of true failed" || return 1
    t4=${EPOCHREALTIME/./}
    "${s}_stop" </dev/null >"$err" 2>&1 || fail "clean stop failed" || return 1
    t5=${EPOCHREALTIME/./}
    "${s}_clean" || fail "not cleanly stopped after stop" || return 1
    if ((rec)); then
        echo $((t1 - t0)) >>"$RES/start.$s.us"
        echo $((t2 - t0)) >>"$RES/boot.$s.us"
        echo $((t4 - t3)) >>"$RES/exec.$s.us"
        echo $((t5 - t4)) >>"$RES/stop.$s.us"
    else
        echo $((t2 - t0)) >>"$RES/firstboot.$s.us"
    fi
}

bench_boot() {
    log "bench: preparing containers (copies of $BENCH_ROOTFS)"
    # sysctr copies the rootfs into its state dir.
    "$SYSCTR" create "$SYS_NAME" --rootfs "$BENCH_ROOTFS" >"$W/sys.err" 2>&1 ||
        { cat "$W/sys.err" >&2; die "sysctr create failed"; }
    sysctr_made=1

    # LXC: a private lxcpath, config written by hand, rootfs copied the same way.
    mkdir -p "$LXCPATH/$LXC_NAME"
    lxc_made=1
    cp -a "$BENCH_ROOTFS" "$LXCPATH/$LXC_NAME/rootfs"
    cat >"$LXCPATH/$LXC_NAME/config" <<EOF
# Written by bench/run.sh; removed at the end of the run.
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = linux64
lxc.rootfs.path = dir:$LXCPATH/$LXC_NAME/rootfs
lxc.uts.name = $LXC_NAME
# No network at all: nothing may leave the machine.
lxc.net.0.type = empty
# No AppArmor on this kind of host; unconfined avoids LXC insisting on a profile.
lxc.apparmor.profile = unconfined
lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed
lxc.log.file = $LXCPATH/$LXC_NAME/lxc.log
lxc.log.level = WARN
EOF
    # Debian's lxcfs package hooks into every container through common.conf.d/00-lxcfs.conf;
    # its post-stop hook (lxc.reboot.hook) is `sleep 0.5s`, inside lxc-stop's time.
    local hook=/usr/share/lxcfs/lxc.reboot.hook
    if ((BENCH_LXC_LXCFS)); then
        if [ -e /usr/share/lxc/config/common.conf.d/00-lxcfs.conf ] && grep -qs '^sleep' "$hook"; then
            echo "LXC as shipped: its clean stop includes lxcfs's post-stop hook ($hook: $(grep '^sleep' "$hook")); BENCH_LXC_LXCFS=0 drops it" >>"$RES/notes"
        fi
    else
        printf '%s\n' "# BENCH_LXC_LXCFS=0: no lxcfs hooks (an empty value clears a hook list)" \
            "lxc.hook.mount =" "lxc.hook.post-stop =" >>"$LXCPATH/$LXC_NAME/config"
        echo "LXC without lxcfs's mount and post-stop hooks (BENCH_LXC_LXCFS=0)" >>"$RES/notes"
    fi

    # One warm-up cycle each (first boot: machine-id commit, cold caches); not recorded.
    log "bench: warm-up boots"
    local ok_sys=1 ok_lxc=1 i
    boot_cycle sys 0 || ok_sys=0
    boot_cycle lxc 0 || ok_lxc=0
    for ((i = 0; i < BENCH_N; i++)); do
        log "bench: boot round $((i + 1))/$BENCH_N"
        # Alternate who goes first.
        if ((i % 2 == 0)); then
            ((ok_sys)) && { boot_cycle sys 1 || ok_sys=0; }
            ((ok_lxc)) && { boot_cycle lxc 1 || ok_lxc=0; }
        else
            ((ok_lxc)) && { boot_cycle lxc 1 || ok_lxc=0; }
            ((ok_sys)) && { boot_cycle sys 1 || ok_sys=0; }
        fi
    done
    # exec latency on running guests (issue: console and exec): `sysctr exec -- true` vs
    # `lxc-attach -- true`, alternating, BENCH_N_EXEC back-to-back, then a tenth of that
    # after BENCH_IDLE s of idle each.
    if ((ok_sys && ok_lxc && BENCH_N_EXEC > 0)); then
        log "bench: exec latency, $BENCH_N_EXEC rounds"
        sys_start </dev/null >/dev/null 2>&1 && lxc_start </dev/null >/dev/null 2>&1 &&
            wait_running $((${EPOCHREALTIME/./} + BENCH_TIMEOUT * 1000000)) sys_poll &&
            wait_running $((${EPOCHREALTIME/./} + BENCH_TIMEOUT * 1000000)) lxc_poll || {
            echo "exec latency: could not boot both guests" >>"$RES/notes"
            return 0
        }
        local s t0
        for ((i = 0; i < BENCH_N_EXEC + BENCH_N_EXEC / 10; i++)); do
            local mode=b2b
            ((i >= BENCH_N_EXEC)) && mode=idle
            for s in sys lxc; do
                [ $mode = idle ] && sleep "$BENCH_IDLE"
                t0=${EPOCHREALTIME/./}
                "${s}_true" </dev/null >/dev/null 2>&1 || { echo "exec latency: $s exec failed" >>"$RES/notes"; break 2; }
                echo $((${EPOCHREALTIME/./} - t0)) >>"$RES/exec-$mode.$s.us"
            done
        done
        sys_stop </dev/null >/dev/null 2>&1
        lxc_stop </dev/null >/dev/null 2>&1
    fi
    # A failed cycle may leave a container up: the EXIT trap kills it.
}

# ---------------------------------------------------------------------------------
# Trivial OCI bundle: sysctr-oci vs crun vs runc.
# ---------------------------------------------------------------------------------
bench_trivial() {
    local B=$W/bundle v rt
    mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp"
    cp "$BUSYBOX" "$B/rootfs/bin/busybox"
    ln -s busybox "$B/rootfs/bin/true"
    (cd "$B" && runc spec)
    # runc's default spec, with: /bin/true, no terminal, writable root, the shared rootfs
    # by absolute path. Same config for all three.
    jq --arg root "$B/rootfs" '.process.args = ["/bin/true"] | .process.terminal = false
        | .root.path = $root | .root.readonly = false' "$B/config.json" >"$B/base.json"
    # One bundle per variant and runtime:
    #   cg:   linux.cgroupsPath = /<prefix>cg/<runtime>: every runtime creates, joins and
    #         removes a cgroup in every hierarchy (equal work);
    #   nocg: runc spec's default, no cgroupsPath: each runtime does what it does then
    #         (runc and crun make /<id> cgroups, sysctr-oci makes none).
    for v in $BENCH_VARIANTS; do
        for rt in sysctr-oci crun runc; do
            mkdir -p "$B/$v-$rt"
            if [ "$v" = cg ]; then
                jq --arg p "/${BENCH_ID_PREFIX}cg/$rt" '.linux.cgroupsPath = $p' \
                    "$B/base.json" >"$B/$v-$rt/config.json"
            else
                jq 'del(.linux.cgroupsPath)' "$B/base.json" >"$B/$v-$rt/config.json"
            fi
        done
    done
    mkdir -p "$W/oci/sysctr-oci" "$W/oci/crun" "$W/oci/runc"
    if ((MASK_V2)); then
        echo "trivial runs: private mount ns with $HYBRID_CTL hidden (crun refuses hybrid" \
            "hosts whose cgroup2 offers '$(tr '\n' ' ' <"$HYBRID_CTL" | sed 's/ $//')'); all three runtimes alike" >>"$RES/notes"
    fi
    [[ " $BENCH_VARIANTS " == *" cg "* ]] &&
        echo "trivial run rows: busybox /bin/true, runc spec config with linux.cgroupsPath set, so each runtime creates, joins and removes a cgroup in every hierarchy" >>"$RES/notes"
    [[ " $BENCH_VARIANTS " == *" nocg "* ]] &&
        echo "'no cgroupsPath' rows: runc spec's default config as is; there runc and crun still make a /<id> cgroup, sysctr-oci makes none" >>"$RES/notes"
    log "bench: trivial bundle, $BENCH_N_TRIVIAL runs x 3 runtimes x 2 modes x variants: $BENCH_VARIANTS"
    oci_ns bash "$SELF" --trivial-inner "$W"
    for rt in sysctr-oci crun runc; do
        if [ -s "$RES/leaks.$rt" ]; then
            echo "$rt: $(wc -l <"$RES/leaks.$rt") run(s) left state behind" >>"$RES/notes"
        fi
    done
}

# ---------------------------------------------------------------------------------
# Run and report.
# ---------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
section boot && bench_boot
section trivial && bench_trivial
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

report() {
    local rev
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || rev="$rev+dirty"
    echo "sysctr bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, cgroup fs: $(stat -fc %T /sys/fs/cgroup)"
    echo "sysctr $rev | $(lxc-start --version 2>/dev/null | sed 's/^/lxc /') | $(runc --version | head -1) | $(crun --version | head -1)"
    echo "N boot=$BENCH_N trivial=$BENCH_N_TRIVIAL; load avg before: $load_before, after: $load_after"
    echo "median [min-max]; ratio = sysctr median / anchor median (< 1: sysctr faster)"
    echo
    local f="%-33s %-21s %-46s %s\n"
    # shellcheck disable=SC2059
    printf "$f" figure sysctr anchor "ratio (sysctr/anchor)"
    if section boot; then
        printf "$f" "boot to running (ms)" "$(cell boot.sys)" "LXC $(cell boot.lxc)" "$(ratio boot.sys boot.lxc)"
        printf "$f" "clean stop (ms)" "$(cell stop.sys)" "LXC $(cell stop.lxc)" "$(ratio stop.sys stop.lxc)"
        printf "$f" "  start cmd returns (ms)" "$(cell start.sys)" "LXC $(cell start.lxc)" "$(ratio start.sys start.lxc)"
        printf "$f" "  exec 'true' round trip (ms)" "$(cell exec.sys)" "LXC $(cell exec.lxc)" "$(ratio exec.sys exec.lxc)"
        printf "$f" "  first boot, warm-up (ms)" "$(cell firstboot.sys)" "LXC $(cell firstboot.lxc)" "$(ratio firstboot.sys firstboot.lxc)"
        printf "$f" "exec 'true', back-to-back (ms)" "$(cell exec-b2b.sys)" "lxc-attach $(cell exec-b2b.lxc)" "$(ratio exec-b2b.sys exec-b2b.lxc)"
        printf "$f" "exec 'true', after idle (ms)" "$(cell exec-idle.sys)" "lxc-attach $(cell exec-idle.lxc)" "$(ratio exec-idle.sys exec-idle.lxc)"
    fi
    if section trivial; then
        local v m name
        for v in $BENCH_VARIANTS; do
            for m in b2b idle; do
                if [ $v = cg ]; then
                    name="trivial run back-to-back (ms)"
                    [ $m = idle ] && name="trivial run after ${BENCH_IDLE}s idle (ms)"
                else
                    name="  no cgroupsPath, back-to-back"
                    [ $m = idle ] && name="  no cgroupsPath, after idle"
                fi
                printf "$f" "$name" "$(cell triv-$v-$m.sysctr-oci)" \
                    "crun $(cell triv-$v-$m.crun) / runc $(cell triv-$v-$m.runc)" \
                    "$(ratio triv-$v-$m.sysctr-oci triv-$v-$m.crun) / $(ratio triv-$v-$m.sysctr-oci triv-$v-$m.runc)"
            done
        done
        if ((BENCH_N_RSS > 0)); then
            printf "$f" "trivial run peak RSS (KB)" "$(cell rss.sysctr-oci 1)" \
                "crun $(cell rss.crun 1) / runc $(cell rss.runc 1)" \
                "$(ratio rss.sysctr-oci rss.crun 1) / $(ratio rss.sysctr-oci rss.runc 1)"
        fi
    fi
    local any=0 fl
    for fl in "$RES"/*.fail; do
        [ -e "$fl" ] || continue
        ((any++)) || { echo; echo "FAILURES:"; }
        sed 's/^/  /' "$fl"
    done
    if [ -s "$RES/notes" ]; then
        echo
        echo "notes:"
        sort -u "$RES/notes" | sed 's/^/  /'
    fi
}

report | tee "$W/table"
mkdir -p "$(dirname "$BENCH_OUT")"
cp "$W/table" "$BENCH_OUT"
log "bench: saved to $BENCH_OUT"
# Non-zero exit if any figure failed.
! ls "$RES"/*.fail >/dev/null 2>&1
