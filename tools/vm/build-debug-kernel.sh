#!/usr/bin/env bash
# Build and install the project's debug kernel: Debian's linux-source-6.12
# with KASAN, lockdep (PROVE_LOCKING), DEBUG_ATOMIC_SLEEP, UBSAN, KFENCE,
# DEBUG_OBJECTS and fault injection (failslab, fail_page_alloc,
# fail_make_request), as Debian packages (linux-image and linux-headers,
# `make bindeb-pkg`) kept in a cache outside the repository, then
# installed with dpkg so that the guests of tools/vm/ boot it like any
# Debian kernel (/boot/vmlinuz-KVER, /lib/modules/KVER, headers for
# building dm-red.ko).
#
# It is built once per machine, not in CI (1989 s on two CPUs here); the
# second run finds the packages in the cache and only installs them.
#
# Usage: tools/vm/build-debug-kernel.sh [--print-kver] [--no-install]
#
#   --print-kver   print the debug kernel's release (e.g. 6.12.118-red-debug)
#                  and exit
#   --no-install   build the packages, do not install them
#
# Environment:
#   RED_DEBUG_CACHE  the cache (default /var/cache/dm-red/debug-kernel):
#                    src/ the unpacked source, debs/ the packages, build.log
#   RED_DEBUG_JOBS   make -j (default: the number of CPUs)
#
# The configuration is Debian's own 6.12 configuration (/boot/config-*),
# cut down with `make localmodconfig` to the modules the guests load
# (the list below), without debug info or module signing, plus the debug
# options.  The fragment applied is printed into the log and kept in the
# cache as debug.config.
set -euo pipefail

cache=${RED_DEBUG_CACHE:-/var/cache/dm-red/debug-kernel}
jobs=${RED_DEBUG_JOBS:-$(nproc)}
localver=-red-debug
tarball=/usr/src/linux-source-6.12.tar.xz

die() { echo "build-debug-kernel: $*" >&2; exit 1; }
say() { echo "build-debug-kernel: $*"; }

print_kver=0 install=1
while [ $# -gt 0 ]; do
	case $1 in
	--print-kver) print_kver=1 ;;
	--no-install) install=0 ;;
	-h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
case $jobs in '' | *[!0-9]*) die "RED_DEBUG_JOBS must be a number, not '$jobs'" ;; esac

# The kernel version of the source: from the tarball's top Makefile.
[ -r "$tarball" ] || die "$tarball missing: run tools/install-deps.sh (linux-source-6.12)"
srcdir=$cache/src
if [ ! -f "$srcdir/Makefile" ]; then
	say "unpacking $tarball into $srcdir"
	mkdir -p "$cache"
	rm -rf "$srcdir" "$cache/src.tmp"
	mkdir -p "$cache/src.tmp"
	tar -xJf "$tarball" -C "$cache/src.tmp" --strip-components=1
	mv "$cache/src.tmp" "$srcdir"
fi
ver=$(make -s -C "$srcdir" kernelversion)
kver=$ver$localver
if [ "$print_kver" = 1 ]; then
	echo "$kver"
	exit 0
fi

# The modules the guests load (tools/vm/mkinitramfs.sh, tests/, the
# cluster harness, PostgreSQL's ext4): localmodconfig keeps these and what
# they need, and drops every other module of Debian's configuration.
guest_modules=(
	virtio virtio_ring virtio_pci virtio_pci_modern_dev virtio_pci_legacy_dev
	9pnet 9pnet_virtio 9p netfs
	virtio_net net_failover failover virtio_blk virtio_console
	dm_mod dm_bufio dm_snapshot dm_delay dm_flakey dm_log_writes dm_zero
	zram zsmalloc lz4_compress lz4 lzo lzo_rle zstd_compress
	ext4 jbd2 mbcache crc16 crc32c_generic crc32c_intel libcrc32c
	loop veth bridge stp llc tun configfs
)

# The debug options.  y: set; n: unset; anything else: a string value.
debug_config=(
	LOCALVERSION="$localver" LOCALVERSION_AUTO=n
	DEBUG_INFO_NONE=y DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=n DEBUG_INFO_DWARF4=n
	DEBUG_INFO_DWARF5=n DEBUG_INFO_BTF=n
	MODULE_SIG=n MODULE_SIG_ALL=n SYSTEM_TRUSTED_KEYS='' SYSTEM_REVOCATION_KEYS=''
	KASAN=y KASAN_GENERIC=y KASAN_INLINE=y KASAN_VMALLOC=y
	PROVE_LOCKING=y DEBUG_LOCKDEP=n LOCK_STAT=n DEBUG_ATOMIC_SLEEP=y
	DEBUG_LIST=y DEBUG_SG=y
	UBSAN=y UBSAN_BOUNDS=y UBSAN_SHIFT=y UBSAN_BOOL=y UBSAN_ENUM=y
	UBSAN_TRAP=n
	KFENCE=y
	DEBUG_OBJECTS=y DEBUG_OBJECTS_FREE=y DEBUG_OBJECTS_TIMERS=y
	DEBUG_OBJECTS_WORK=y DEBUG_OBJECTS_RCU_HEAD=y
	DEBUG_OBJECTS_PERCPU_COUNTER=y
	FAULT_INJECTION=y FAULT_INJECTION_DEBUG_FS=y FAILSLAB=y
	FAIL_PAGE_ALLOC=y FAIL_MAKE_REQUEST=y
	DETECT_HUNG_TASK=y SOFTLOCKUP_DETECTOR=y
)

debdir=$cache/debs
image_deb() { find "$debdir" -maxdepth 1 -name "linux-image-${kver}_*.deb" 2>/dev/null | sort | tail -n 1; }
headers_deb() { find "$debdir" -maxdepth 1 -name "linux-headers-${kver}_*.deb" 2>/dev/null | sort | tail -n 1; }

if [ -z "$(image_deb)" ] || [ -z "$(headers_deb)" ]; then
	for t in gcc make bc flex bison dpkg-buildpackage rsync; do
		command -v "$t" >/dev/null || die "$t missing: run tools/install-deps.sh"
	done
	[ -f /usr/include/libelf.h ] || die "libelf-dev missing: run tools/install-deps.sh"
	base=$(find /boot -maxdepth 1 -name 'config-6.12*-amd64' | sort -V | tail -n 1)
	[ -n "$base" ] || die "no Debian 6.12 configuration in /boot: run tools/install-deps.sh"
	log=$cache/build.log
	say "configuring $kver from $base (log: $log)"
	: >"$log"
	cp "$base" "$srcdir/.config"
	printf '%s\n' "${guest_modules[@]}" | awk '{ printf "%s 16384 0 - Live 0x0\n", $1 }' >"$cache/guest.lsmod"
	# localmodconfig asks about new options: the defaults.
	make -C "$srcdir" LSMOD="$cache/guest.lsmod" localmodconfig >>"$log" 2>&1 < <(yes '') ||
		die "localmodconfig failed (see $log)"
	: >"$cache/debug.config"
	for kv in "${debug_config[@]}"; do
		k=${kv%%=*} v=${kv#*=}
		case $v in
		y) "$srcdir/scripts/config" --file "$srcdir/.config" -e "$k" ;;
		n) "$srcdir/scripts/config" --file "$srcdir/.config" -d "$k" ;;
		*) "$srcdir/scripts/config" --file "$srcdir/.config" --set-str "$k" "$v" ;;
		esac
		echo "CONFIG_$kv" >>"$cache/debug.config"
	done
	make -C "$srcdir" olddefconfig >>"$log" 2>&1 || die "olddefconfig failed (see $log)"
	# Every y asked for must have survived olddefconfig's dependency rules.
	missing=()
	for kv in "${debug_config[@]}"; do
		k=${kv%%=*} v=${kv#*=}
		[ "$v" = y ] || continue
		grep -qx "CONFIG_$k=y" "$srcdir/.config" || missing+=("$k")
	done
	[ "${#missing[@]}" -eq 0 ] || die "options not enabled by the configuration: ${missing[*]}"
	say "building $kver with -j$jobs (about 35 minutes on two CPUs)"
	start=$(date +%s)
	rm -rf "$srcdir/debian"
	if ! make -C "$srcdir" -j"$jobs" bindeb-pkg KDEB_PKGVERSION="$ver-1" >>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "the kernel build failed (see $log)"
	fi
	mkdir -p "$debdir"
	find "$cache" -maxdepth 1 -name "linux-*${kver}_*.deb" -exec mv -f {} "$debdir/" \;
	# the rest (linux-libc-dev, the build records) is not needed
	find "$cache" -maxdepth 1 \( -name '*.deb' -o -name '*.buildinfo' -o -name '*.changes' \) -delete
	say "built in $(($(date +%s) - start)) s: $(cd "$debdir" && echo ./*.deb)"
fi
if [ -z "$(image_deb)" ] || [ -z "$(headers_deb)" ]; then
	die "the packages of $kver are not in $debdir"
fi

if [ "$install" = 1 ]; then
	if [ -r "/boot/vmlinuz-$kver" ] && [ -d "/lib/modules/$kver/build" ]; then
		say "$kver is installed"
	else
		sudo=()
		[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
		say "installing $(basename "$(image_deb)") and $(basename "$(headers_deb)")"
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive dpkg -i "$(image_deb)" "$(headers_deb)" \
			>>"$cache/install.log" 2>&1 || die "dpkg -i failed (see $cache/install.log)"
	fi
fi
say "debug kernel: $kver"
