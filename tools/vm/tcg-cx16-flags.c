// SPDX-License-Identifier: GPL-2.0-only
/*
 * Diagnostic, not part of any suite: does this QEMU's TCG CMPXCHG16B leave
 * EFLAGS computed from a stale lazy condition-code state?
 *
 * popf leaves the emulator's flags state as "EFLAGS held whole"; the add
 * then puts %r8 where that state is read from, without recording that the
 * state changed; a CMPXCHG16B that reads the stale state takes %r8 for the
 * flags.  The host's own CPU gives only the arithmetic flags (0 of 1000).
 *
 *   mkdir -p build/diag
 *   gcc -O2 -static -o build/diag/tcg-cx16-flags tools/vm/tcg-cx16-flags.c
 *   tools/vm/run-guest.sh --kver KVER --smp 1 --qemu-arg -cpu \
 *       --qemu-arg max -- build/diag/tcg-cx16-flags
 *
 * (the binary must be under the repo: the guest sees the host's root, but
 * its /tmp is its own; the later -cpu overrides run-guest.sh's).  QEMU 7.2
 * (Debian 12) prints "1000 of 1000" and exits 1; with run-guest.sh's own
 * -cpu max,cx16=off the instruction does not exist and the program dies of
 * SIGILL (exit 132).
 */
#include <stdio.h>

int main(void)
{
	static unsigned long mem[2] __attribute__((aligned(16)));
	unsigned long fl = 0, bad = 0, a, d;
	int i;

	for (i = 0; i < 1000; i++) {
		a = 0;
		d = 0;
		asm volatile("pushq $0x202\n\t"
			     "popfq\n\t"
			     "movabs $0x00c00000, %%r8\n\t"
			     "add %%r8, %%r9\n\t"
			     "lock cmpxchg16b (%[m])\n\t"
			     "pushfq\n\t"
			     "popq %[f]\n\t"
			     : [f] "=r"(fl), "+a"(a), "+d"(d)
			     : [m] "r"(mem), "b"(0UL), "c"(0UL)
			     : "r8", "r9", "cc", "memory");
		/* bits 22-31 of EFLAGS are reserved: always 0 on a real CPU */
		if (fl & 0xffc00000UL)
			bad++;
	}
	printf("tcg-cx16-flags: last EFLAGS %#lx, %lu of 1000 with reserved bits set\n",
	       fl, bad);
	return bad ? 1 : 0;
}
