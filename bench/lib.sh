# Shared by bench/stats.sh and bench/net.sh (sourced).

# busybox_rootfs DIR [dhcp]: a busybox-static root filesystem whose init keeps a shell
# alive and halts at once on shutdown; with `dhcp`, init also runs udhcpc on eth0 (a
# script that sets the address and default route).
busybox_rootfs() {
    local r=$1 a
    mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,usr/bin,usr/sbin}
    cp "$(command -v busybox)" "$r/bin/busybox"
    busybox --list-full | while read -r a; do [ "$a" = bin/busybox ] || ln -sf /bin/busybox "$r/$a"; done
    printf '%s\n' '::sysinit:/bin/mount -o remount,rw /' '::respawn:/bin/sh -c "exec sleep 100000"' \
        '::shutdown:/sbin/halt -n -f' >"$r/etc/inittab"
    [ "${2:-}" = dhcp ] || return 0
    cat >"$r/etc/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface" ;;
esac
SCRIPT
    chmod 755 "$r/etc/udhcpc.sh"
    sed -i '1i ::respawn:/sbin/udhcpc -f -i eth0 -s /etc/udhcpc.sh' "$r/etc/inittab"
}

# remove_cgroups PATTERN: cgroup directories whose path holds PATTERN, deepest first.
remove_cgroups() {
    find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d -path "*$1*" 2>/dev/null | sort -r |
        while read -r d; do rmdir "$d" 2>/dev/null; done
}

# stop_daemon: the sysctr daemon the first CLI call of a bench started (on
# $SYSCTR_RUN_DIR), after its containers are gone.
stop_daemon() {
    local f=${SYSCTR_RUN_DIR:-}/daemon.pid pid i
    [ -n "${SYSCTR_RUN_DIR:-}" ] && [ -f "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
