#!/usr/bin/env bash
# Scan a guest log for kernel problem reports.
#
# Usage: tools/vm/check-dmesg.sh FILE
#
# If FILE contains RED-DMESG-BEGIN / RED-DMESG-END markers only the text
# between them is scanned, otherwise the whole file.  Prints the offending
# lines and exits 1 if any report is found, 0 if clean, 2 on usage errors.
# RED_DMESG_IGNORE (an extended regex) drops matching lines before the scan.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -r "$1" ]; then
	echo "usage: $0 FILE (readable)" >&2
	exit 2
fi
file=$1

patterns='Oops|BUG:|WARNING:|------------\[ cut here \]|possible circular locking|possible recursive locking|lockdep|INFO: task .* blocked for more than|hung_task|KASAN|UBSAN|general protection fault|Kernel panic|kernel BUG'

if grep -q '^RED-DMESG-BEGIN' "$file"; then
	text=$(tr -d '\r' <"$file" | sed -n '/^RED-DMESG-BEGIN/,/^RED-DMESG-END/p')
else
	text=$(tr -d '\r' <"$file")
fi
# The kernel command line (echoed at boot) names hung_task_timeout_secs etc.
# A debug kernel's boot banner names lockdep (tools/vm/build-debug-kernel.sh).
text=$(printf '%s\n' "$text" | grep -Eiv -- 'command line|RCU lockdep checking is enabled' || :)
if [ -n "${RED_DMESG_IGNORE:-}" ]; then
	text=$(printf '%s\n' "$text" | grep -Ev -- "$RED_DMESG_IGNORE" || :)
fi

hits=$(printf '%s\n' "$text" | grep -E -- "$patterns" || :)
if [ -n "$hits" ]; then
	echo "check-dmesg: kernel problem report(s) in $file:"
	printf '%s\n' "$hits" | head -n 50 | sed 's/^/  | /'
	exit 1
fi
exit 0
