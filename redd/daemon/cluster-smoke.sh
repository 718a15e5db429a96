#!/usr/bin/env bash
# End-to-end smoke test of redd on a 2-node QEMU cluster (guest side).
#
# Usage (host, repo root; redd built into build/redd (redd/check.sh), module built):
#   make KVER=6.12.117+deb12-amd64
#   tools/vm/run-cluster.sh --kver 6.12.117+deb12-amd64 --nodes 2 \
#       --lun build/vm/redd-lun.img -- redd/daemon/cluster-smoke.sh
#
# Node 1 is the writer, node 2 the copier of resource r0 on the shared LUN.
#  1. node 1 writes OLD at 1 MiB straight to the LUN, creates the writer
#     device and starts redd (epoch 1, runs alone);
#  2. node 2 waits until OLD is on the LUN, creates the copier device (zram
#     store) and starts redd: redd joins it over TCP (JOIN_REQ, NEW_EPOCH on
#     node 1, JOIN_ACK);
#  3. node 1 waits for epoch >= 2 (the join), then writes NEW at 1 MiB and a
#     marker at 2 MiB through the writer device: the write to 1 MiB is held
#     until the copier preserved the chunk (STABILIZE -> PRESERVE over TCP);
#  4. node 2 waits for the marker on the LUN, then checks that its device
#     still reads OLD at 1 MiB while the LUN holds NEW, and that it preserved.
# Restart (kill -9) of both daemons, rebuilt from the kernel:
#  5. node 2 kills -9 its redd and starts a new one (it resumes membership
#     from its active device), then tells node 1 over TCP (port 7777);
#  6. node 1 kills -9 its redd, starts a new one (it waits lease + margin
#     for copiers to come back), writes NEW2 at 3 MiB and MARK2 at 4 MiB;
#  7. node 2 waits for MARK2 and checks it still reads OLD2 at 3 MiB;
#  8. node 2 drops its store (dmsetup message c 0 gc): redd rejoins it (a new
#     epoch on node 1) and it reads the current LUN.
# The control socket (default /run/red/redd.sock), queried with python3:
#  - node 1, once the copier joined and a write was stabilized: status shows
#    role writer, one joined member with a lease age below the lease,
#    stabilizations and round-trip samples; `down` without force is refused;
#    the event stream showed the peer and the member joining;
#  - node 2, at the end: status as a copier holding its read lease; a
#    non-root user cannot connect (0700 directory), and with the permissions
#    opened up gets redd's root-only error; then `down`: the kernel ends the
#    read lease and the writer is told;
#  - node 1 sees the member leave (event), a new epoch and no member left,
#    after which its own `down` is accepted.
# RED_REDD overrides the redd binary; every wait is bounded (RED_SMOKE_WAIT).
set -euo pipefail

: "${RED_NODE:?}" "${RED_LUN:?}" "${RED_ADDRS:?}" "${RED_RUN_ID:?}" "${RED_KVER:?}"
repo=$(pwd -P)
redd=${RED_REDD:-$repo/build/redd/daemon/redd}
wait_s=${RED_SMOKE_WAIT:-120}
t0=$SECONDS
say() { printf 'redd-smoke[%s] +%ss: %s\n' "$RED_NODE" "$((SECONDS - t0))" "$*"; }
die() {
	say "FAIL: $*"
	[ -f /tmp/redd.log ] && sed 's/^/  redd: /' /tmp/redd.log | tail -60
	dmsetup status 2>/dev/null | sed 's/^/  status: /'
	exit 1
}
field() { dmsetup status "$1" | awk -v n="$2" '{ print $(3 + n) }'; }
wait_for() { # DESCRIPTION COMMAND...
	local what=$1 deadline=$((SECONDS + wait_s))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
		sleep 0.3
	done
}

block() { { yes "$1" || :; } | head -c 4096; }
block "red-smoke OLD $RED_RUN_ID" >/tmp/old
block "red-smoke NEW $RED_RUN_ID" >/tmp/new
block "red-smoke MARK $RED_RUN_ID" >/tmp/mark
block "red-smoke OLD2 $RED_RUN_ID" >/tmp/old2
block "red-smoke NEW2 $RED_RUN_ID" >/tmp/new2
block "red-smoke MARK2 $RED_RUN_ID" >/tmp/mark2
block "red-smoke READY $RED_RUN_ID" >/tmp/ready
readblk() { dd if="$1" of="$3" bs=4096 skip="$2" count=1 iflag=direct status=none; }
writeblk() { dd if="$2" of="$1" bs=4096 seek="$3" count=1 oflag=direct conv=fsync status=none; }
same() { cmp -s "$1" "$2"; }
epoch_ge() { [ "$(field "$1" 3)" -ge "$2" ]; }
state_is() { [ "$(field "$1" 2)" = "$2" ]; }
lease_armed() { [ "$(field c 12)" -gt 0 ]; }
lun_has() { readblk "$RED_LUN" "$1" /tmp/probe && same /tmp/probe "$2"; }

# The control socket (Documentation/control-socket.rst), through one Python
# helper: `ctl CODE` runs CODE with req(obj) (one request, returns the reply),
# res(reply) (its first resource), check(what, cond, data), events(file)
# (the parsed lines of a stream file) and wait_for(what, fn, seconds).
# Python starts slowly in a guest, so each step is one run.
sock=/run/red/redd.sock
py=/usr/bin/python3
cat >/tmp/ctl.py <<'PYEOF'
import json, socket, sys, time
SOCK = sys.argv[1]
def req(obj):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(SOCK)
    s.sendall(json.dumps(obj).encode() + b"\n")
    line = s.makefile("rb").readline()
    s.close()
    return json.loads(line)
def res(reply):
    return (reply.get("resources") or [{}])[0]
def check(what, cond, data=None):
    if not cond:
        print("FAIL: %s: %s" % (what, json.dumps(data)[:3000]))
        sys.exit(1)
def events(path):
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
def wait_for(what, fn, seconds, data=lambda: None):
    deadline = time.time() + seconds
    while True:
        got = fn()
        if got:
            return got
        if time.time() >= deadline:
            check("timed out waiting for " + what, False, data())
        time.sleep(0.3)
if sys.argv[2] == "--follow":
    # Across restarts of redd: a socket left by a killed redd refuses until
    # the new one replaces it.
    def follow():
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(SOCK)
            s.sendall(b'{"cmd":"events"}\n')
            return s
        except OSError:
            return None
    while True:
        s = wait_for("redd on " + SOCK, follow, 300)
        try:
            for line in s.makefile("rb"):
                sys.stdout.write(line.decode())
                sys.stdout.flush()
        except OSError as e:
            print("# follow: %s" % e, flush=True)
        s.close()
        print("# follow: reconnecting", flush=True)
else:
    exec(sys.argv[2])
PYEOF
ctl() {
	local out
	out=$("$py" /tmp/ctl.py "$sock" "$1" 2>&1) || die "control socket: $out"
	[ -z "$out" ] || say "$out"
}
# follow_events FILE: the event stream into FILE, in the background, across
# restarts of redd (started once: Python is slow to start in a guest).
follow_events() { "$py" /tmp/ctl.py "$sock" --follow >"$1" 2>&1 & }

modprobe dm-mod
modprobe zram num_devices=1 || :
insmod "$repo/build/$RED_KVER/dm-red.ko"

read -r -a addrs <<<"$RED_ADDRS"
printf 'red-smoke-shared-key-%s-0123456789abcdef' "$RED_RUN_ID" >/tmp/red.key
chmod 600 /tmp/red.key
# A restart of redd (kill -9, start) must fit in the lease: 30 s leaves room
# for a loaded host, where a process start in a TCG guest can take 15 s.
lease_ms=30000
{
	printf '[global]\nnode_id = %s\nkey_file = /tmp/red.key\n' "$RED_NODE"
	printf 'listen = 0.0.0.0:7788\nheartbeat_ms = 500\nlease_ms = %s\nlog_level = debug\n' "$lease_ms"
	for i in "${!addrs[@]}"; do
		printf '[node.%s]\naddress = %s:7788\n' "$((i + 1))" "${addrs[i]}"
	done
	printf '[resource.r0]\nlun = %s\nchunk_sectors = 64\nstore_size = 64M\nwriter = 1\n' "$RED_LUN"
} >/tmp/red.conf
# the red device ends 1 MiB before the LUN does: redd keeps its metadata there
N=$((($(blockdev --getsz "$RED_LUN") - 2048) / 64 * 64))

start_redd() {
	"$redd" --config /tmp/red.conf >>/tmp/redd.log 2>&1 &
	echo $! >/tmp/redd.pid
}
restart_redd() {
	kill -KILL "$(cat /tmp/redd.pid)"
	wait "$(cat /tmp/redd.pid)" 2>/dev/null || :
	echo "---- restart after kill -9 ----" >>/tmp/redd.log
	start_redd
}

if [ "$RED_NODE" = 1 ]; then
	writeblk "$RED_LUN" /tmp/old 256
	writeblk "$RED_LUN" /tmp/old2 768
	dmsetup create w --table "0 $N red $RED_LUN - 64 writer r0"
	start_redd
	wait_for "the control socket" test -S "$sock"
	follow_events /tmp/events
	# the copier starts once we follow the events (at 6 MiB, out of the way)
	wait_for "the event stream" grep -q exists-done /tmp/events
	writeblk "$RED_LUN" /tmp/ready 1536
	wait_for "writer active at epoch 1" epoch_ge w 1
	say "writer active: $(dmsetup status w)"
	wait_for "the copier's join (epoch 2)" epoch_ge w 2
	say "copier joined: $(dmsetup status w)"
	writeblk /dev/mapper/w /tmp/new 256
	writeblk /dev/mapper/w /tmp/mark 512
	say "wrote NEW at 1 MiB and the marker at 2 MiB through the writer"
	lun_has 256 /tmp/new || die "the LUN does not hold NEW"
	# the copier restarts its redd meanwhile, then tells us on port 7777
	timeout $((2 * wait_s)) busybox nc -l -p 7777 >/tmp/hello &
	nc_pid=$!
	# the control socket: root-only files, status with figures, refusals
	[ "$(stat -c %a "$(dirname "$sock")")" = 700 ] || die "$(dirname "$sock") is not 0700"
	[ "$(stat -c %a "$sock")" = 600 ] || die "$sock is not 0600"
	ctl '
j = req({"cmd": "status", "resource": "r0"}); r = res(j)
check("status ok", j["ok"] and j["version"] == 1 and j["node_id"] == 1, j)
check("role writer", r["name"] == "r0" and r["role"] == "writer", j)
check("one joined member", [(m["node"], m["state"]) for m in r["members"]] == [(2, "joined")], j)
check("lease age below the lease", 0 <= r["members"][0]["lease_age_ms"] < '"$lease_ms"', j)
# (node 2 may be restarting its redd just now: "connected" is not checked)
check("peer 2 listed", [(p["node"], p["address"]) for p in j["peers"]] == [(2, "'"${addrs[1]}"':7788")], j)
check("stabilizations", r["stats"]["stabilize"] > 0 and r["stats"]["chunks"] > 0, j)
check("round-trip samples", r["stats"]["rtt_us"]["count"] > 0 and r["stats"]["rtt_us"]["p99"] > 0, j)
check("write lease held", r["lease"]["held"] and r["device"]["state"] == "active", j)
print("status: " + json.dumps(r)[:700])
d = req({"cmd": "down", "resource": "r0"})
check("down refused while a copier is joined", not d["ok"] and "copier(s) joined" in d["error"], d)
u = req({"cmd": "status", "resource": "nope"})
check("unknown resource refused", not u["ok"] and "unknown resource" in u["error"], u)
e = events("/tmp/events")
check("exists line", any(x.get("type") == "exists" and x["name"] == "r0" for x in e), e)
check("exists-done", any(x.get("type") == "exists-done" for x in e), e)
check("peer-connected", 2 in [x["node"] for x in e if x.get("what") == "peer-connected"], e)
check("member-joined", any(x.get("what") == "member-joined" and x["node"] == 2 for x in e), e)
'
	say "control socket: status, refusal and events as expected"
	# 6. the copier restarted its redd; now restart ours and write again
	wait "$nc_pid" || die "no word from the copier"
	grep -q "resumed $RED_RUN_ID" /tmp/hello || die "bad word from the copier: $(cat /tmp/hello)"
	ctl '
e = [(x["what"], x.get("node")) for x in events("/tmp/events") if x.get("what", "").startswith("peer-")]
check("the copier restart seen as peer events", e[-2:] == [("peer-disconnected", 2), ("peer-connected", 2)], e)
'
	restart_redd
	say "redd restarted after kill -9"
	writeblk /dev/mapper/w /tmp/new2 768
	writeblk /dev/mapper/w /tmp/mark2 1024
	say "wrote NEW2 at 3 MiB and MARK2 at 4 MiB through the writer"
	# keep serving until the copier has checked, gc'd, rejoined and left
	ctl '
left = wait_for("the copier leaving (event)", lambda: [x for x in events("/tmp/events")
                if x.get("what") == "member-left" and x["node"] == 2], '$((2 * wait_s))',
                lambda: (events("/tmp/events")[-15:], req({"cmd": "status"})))[0]
j = wait_for("a new epoch after the leave", lambda: (lambda j: res(j)["device"]["epoch"] > left["epoch"] and j)(
             req({"cmd": "status", "resource": "r0"})), 60)
check("no member after the leave", res(j)["members"] == [], j)
d = req({"cmd": "down", "resource": "r0"})
check("down accepted without copiers", d["ok"] and res(d)["down"], d)
'
	say "the copier left at once; epoch $(field w 3); down accepted"
	say "writer status: $(dmsetup status w)"
	[ "$(field w 11)" = 0 ] || die "writer errors: $(dmsetup status w)"
else
	wait_for "the writer ready" lun_has 1536 /tmp/ready
	lun_has 256 /tmp/old || die "OLD is not on the LUN"
	echo 1 >/sys/block/zram0/reset
	echo 64M >/sys/block/zram0/disksize
	dmsetup create c --table "0 $N red $RED_LUN /dev/zram0 64 copier r0"
	start_redd
	wait_for "copier active (joined)" state_is c active
	say "copier joined: $(dmsetup status c)"
	wait_for "the writer's marker on the LUN" lun_has 512 /tmp/mark
	lun_has 256 /tmp/new || die "the LUN does not hold NEW at 1 MiB"
	readblk /dev/mapper/c 256 /tmp/got
	same /tmp/got /tmp/old || die "the copier reads the writer's NEW data: isolation broken"
	say "copier still reads OLD at 1 MiB; the LUN holds NEW"
	[ "$(field c 9)" -gt 0 ] || die "copier preserved no chunk: $(dmsetup status c)"
	say "copier status: $(dmsetup status c)"
	# the read lease from the writer is handed to the kernel, which fails
	# the device by itself if it runs out
	wait_for "the read lease in the copier's kernel" lease_armed
	say "the kernel holds the read lease: $(field c 12) ms left"
	# 5. restart our redd, let it resume, tell the writer
	restart_redd
	wait_for "the restarted redd to resume" grep -q "membership resumed" /tmp/redd.log
	deadline=$((SECONDS + wait_s))
	until (echo "resumed $RED_RUN_ID" >"/dev/tcp/${addrs[0]}/7777") 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || die "cannot reach node 1 on port 7777"
		sleep 0.5
	done
	say "redd restarted after kill -9 and resumed; told the writer"
	# 7. the writer restarted too and wrote again
	wait_for "MARK2 on the LUN" lun_has 1024 /tmp/mark2
	lun_has 768 /tmp/new2 || die "the LUN does not hold NEW2 at 3 MiB"
	readblk /dev/mapper/c 768 /tmp/got2
	same /tmp/got2 /tmp/old2 || die "after the restarts the copier reads NEW2: isolation broken"
	say "after both restarts the copier still reads OLD2 at 3 MiB; the LUN holds NEW2"
	readblk /dev/mapper/c 256 /tmp/got
	same /tmp/got /tmp/old || die "the copier lost OLD at 1 MiB"
	# 8. gc: drop the store and rejoin; the device now reads the LUN as of
	#    its new join point
	dmsetup message c 0 gc
	wait_for "the copier's rejoin after gc" state_is c active
	readblk /dev/mapper/c 256 /tmp/got
	same /tmp/got /tmp/new || die "after gc the copier does not read NEW at 1 MiB"
	say "gc: rejoined at epoch $(field c 3) and reads the current LUN"
	# the control socket on a copier
	ctl '
j = req({"cmd": "status"}); r = res(j)
check("copier status", r["role"] == "copier" and r["membership"] == "member", j)
check("read lease held", r["lease"]["held"] and r["lease"]["left_ms"] > 0, j)
check("preserve figures", r["stats"]["preserves"] > 0 and r["stats"]["rtt_us"]["count"] > 0, j)
'
	# a non-root user: the 0700 directory keeps it out; past the file
	# permissions, redd itself refuses it (SO_PEERCRED)
	nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups "$py" /tmp/ctl.py "$sock")
	out=$("${nobody[@]}" 'req({"cmd": "status"})' 2>&1) && die "a non-root user got in: $out"
	grep -q PermissionError <<<"$out" || die "non-root connect: $out"
	chmod 755 "$(dirname "$sock")"
	chmod 666 "$sock"
	out=$("${nobody[@]}" '
j = req({"cmd": "status"})
check("root-only refusal", j == {"ok": False, "error": "permission denied: the control socket is root-only"}, j)
' 2>&1) || die "non-root: $out"
	chmod 700 "$(dirname "$sock")"
	chmod 600 "$sock"
	say "control socket: copier status; a non-root user refused twice"
	# orderly leave: the kernel ends the read lease, the writer is told
	ctl '
d = req({"cmd": "down", "resource": "r0"})
check("down", d["ok"] and d["writer_notified"] and res(d)["down"], d)
'
	wait_for "the copier device failed (read lease ended)" state_is c failed
	say "$(grep -m1 'down:' /tmp/redd.log)"
	say "down: the copier left; $(dmsetup status c)"
fi
kill "$(cat /tmp/redd.pid)"
wait "$(cat /tmp/redd.pid)" || :
[ ! -e "$sock" ] || die "redd left its control socket behind"
grep -E 'error|stats \(exit\)' /tmp/redd.log | sed 's/^/  redd: /' | head -20 || :
say "PASS"
