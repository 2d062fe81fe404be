#!/usr/bin/env bash
# Build the Debian and RPM packages of sysctr: the one command.
#   packaging/build.sh [--deb-version VERSION] [--out DIR]
# -> target/packages/sysctr_<version>-1_amd64.deb and sysctr-<version>-1.x86_64.rpm
# Needs cargo, binutils and rpmbuild (Debian: the rpm package; scripts/deps.sh installs
# them); installs cargo-deb (crates.io) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

deb_version= out=target/packages
while [ $# -gt 0 ]; do
    case "$1" in
    --deb-version) deb_version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--deb-version VERSION] [--out DIR]" >&2; exit 2 ;;
    esac
done

command -v cargo-deb >/dev/null || cargo install --locked cargo-deb

cargo build --release --locked --bin sysctr --bin sysctr-oci

# Stripped copies to package (lintian and rpmlint want no debug symbols in the package).
gen=target/packages/gen
rm -rf "$gen"
mkdir -p "$gen/bin"
for bin in sysctr sysctr-oci; do
    strip --strip-unneeded -o "$gen/bin/$bin" "target/release/$bin"
done
# Man pages and completions from the clap definition, never written by hand.
"$gen/bin/sysctr" __generate man "$gen/man"
"$gen/bin/sysctr" __generate completions "$gen/completions"
# Reproducible: no name or timestamp in the gzip header.
gzip -9n "$gen"/man/*.1

mkdir -p "$out"
cargo deb --no-build --no-strip ${deb_version:+--deb-version "$deb_version"} --output "$out"
version=$(target/release/sysctr --version | cut -d' ' -f2)
top=$PWD/target/packages/rpmbuild
rm -rf "$top"
rpmbuild -bb --quiet --define "_topdir $top" --define "src $PWD" --define "pkgversion $version" \
    packaging/rpm/sysctr.spec
cp "$top"/RPMS/x86_64/sysctr-"$version"-1.x86_64.rpm "$out"/

ls -l "$out"/*.deb "$out"/*.rpm
