#!/usr/bin/env bash
# The main job on a fresh host: build sysctr and `sysctr launch debian web1`: the Debian
# image is built once from the template (debootstrap, about a minute; cached after), cloned
# into web1's rootfs and booted on the default network (sysctrbr0, made on first use).
# Shows systemd running inside and the address it got.
#   sudo scripts/try.sh [NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-web1}
scripts/deps.sh
cargo build --release
sysctl -q -w fs.inotify.max_user_instances=1024 || true
S=target/release/sysctr
if $S info "$name" >/dev/null 2>&1; then
    $S start "$name" || true
else
    $S launch debian "$name"
fi
for _ in $(seq 100); do
    state=$($S exec "$name" -- systemctl is-system-running 2>/dev/null || true)
    [ "$state" = running ] || [ "$state" = degraded ] && break
    sleep 0.1
done
ip=
for _ in $(seq 50); do
    ip=$($S info "$name" --format json | python3 -c 'import json,sys; a=[x["ipv4"] for x in json.load(sys.stdin).get("addresses",[]) if x["leased"]]; print(a[0] if a else "")')
    [ -n "$ip" ] && break
    sleep 0.1
done
$S list
echo "systemd in $name: $state; address: ${ip:-none yet} (name $name.sysctr on the bridge's DNS)"
echo "try: $S exec $name -- systemctl status --no-pager; $S stop $name; $S delete $name"
