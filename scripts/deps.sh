#!/usr/bin/env bash
# Install what building, running and testing sysctr needs on a Debian host (idempotent).
set -euo pipefail
want=()
need() { command -v "$1" >/dev/null 2>&1 || want+=("$2"); }
need debootstrap debootstrap
need busybox busybox-static
need runc runc
need crun crun
need lxc-start lxc
need hyperfine hyperfine
need tmux tmux
need cp coreutils
need flock util-linux
need ldd libc-bin
# Networks: DHCP/DNS, NAT, and the NAT test's upstream namespace and listener.
need dnsmasq dnsmasq-base
need nft nftables
need ip iproute2
need python3 python3
# Images: the tests make tarballs (xz, gzip) and check file capabilities.
need xz xz-utils
need gzip gzip
need tar tar
need getfattr attr
# The daemon tests speak to the API with curl too.
need curl curl
# Packages (packaging/build.sh, tests/packages.rs): binutils strips, lintian and rpmlint
# check, rpm (with rpmbuild) installs into a database root; the socket-activation test uses systemd's
# activator; rpmbuild builds the .rpm. cargo-deb comes from crates.io (packaging/build.sh).
need strip binutils
need lintian lintian
need rpmbuild rpm
need rpmlint rpmlint
need systemd-socket-activate systemd
[ -e /bin/busybox ] || [ -e /usr/bin/busybox ] || want+=(busybox-static)
if [ ${#want[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${want[@]}"
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required: https://rustup.rs" >&2; exit 1; }
