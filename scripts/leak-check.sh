#!/usr/bin/env bash
# After the suite: nothing any test made may remain. Reads the container names the tests
# recorded (one per line) and looks for their processes, mounts, cgroups, files, and (for
# network names) bridges and nftables tables.
#   scripts/leak-check.sh NAMES_FILE
set -uo pipefail
names=${1:?names file}
leaks=0
leak() { echo "leak: $*" >&2; leaks=$((leaks + 1)); }

# Test instances live in /tmp/sysctr-it-*.
for d in /tmp/sysctr-it-*/; do [ -d "$d" ] && leak "directory $d"; done
grep -q '/tmp/sysctr-it-' /proc/self/mountinfo && leak "mounts: $(grep -o '/tmp/sysctr-it-[^ ]*' /proc/self/mountinfo | sort -u | tr '\n' ' ')"
for p in /proc/[0-9]*; do
    root=$(readlink "$p/root" 2>/dev/null) || continue
    case $root in /tmp/sysctr-it-*) leak "process ${p#/proc/} ($(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)) rooted in $root" ;; esac
    if { tr "\0" "\n" < "$p/environ"; } 2>/dev/null | grep -q "^SYSCTR_RUN_DIR=/tmp/sysctr-it-"; then
        leak "process ${p#/proc/} ($(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)) of a test instance"
    fi
done
if [ -s "$names" ]; then
    while read -r n; do
        [ -n "$n" ] || continue
        for h in /sys/fs/cgroup/*/sysctr/"$n" /sys/fs/cgroup/sysctr/"$n"; do
            [ -d "$h" ] && leak "cgroup $h"
        done
        # Networks: the bridge and the nftables table of that name.
        if [ ${#n} -le 15 ]; then
            ip link show "$n" >/dev/null 2>&1 && leak "link $n"
            nft list table inet "sysctr_${n//-/_}" >/dev/null 2>&1 && leak "nftables table inet sysctr_${n//-/_}"
        fi
    done < "$names"
    echo "leak check: $(sort -u "$names" | wc -l) test containers checked"
fi
# The `sysctr` parent cgroups go with the last container: an empty one is left behind.
for p in /sys/fs/cgroup/*/sysctr /sys/fs/cgroup/sysctr; do
    [ -d "$p" ] || continue
    [ -z "$(find "$p" -mindepth 1 -maxdepth 1 -type d -print -quit)" ] && [ -z "$(cat "$p/cgroup.procs" 2>/dev/null)" ] &&
        leak "empty parent cgroup $p"
done
[ $leaks = 0 ] && echo "leak check: clean" || { echo "leak check: $leaks leaks" >&2; exit 1; }
