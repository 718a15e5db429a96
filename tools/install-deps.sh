#!/usr/bin/env bash
# Install the Debian 12 packages needed to build dm-red and run `make check`
# (QEMU/TCG guests booting the Debian 6.1 and 6.12 kernels).
# Idempotent: does nothing when every package is already installed.
# Run as root (or with sudo available); needs no terminal.
set -euo pipefail

pkgs=(
	build-essential make gcc kmod perl
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	linux-source-6.1 linux-source-6.12
	qemu-system-x86 busybox-static cpio xz-utils gzip
	libnl-3-dev libnl-genl-3-dev libdevmapper-dev dmsetup
	sparse shellcheck
	e2fsprogs util-linux procps fio gnuplot-nox
	cmake g++ libboost-program-options-dev libssl-dev libsystemd-dev
	libgtest-dev libgmock-dev
	nlohmann-json3-dev python3
	postgresql-15 postgresql-client-15 postgresql-contrib
	clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || :)
	[ "$st" = installed ] || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages already installed"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root or sudo" >&2; exit 1; }
	sudo=(sudo -n)
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confdef \
	-o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
echo "install-deps: done"
