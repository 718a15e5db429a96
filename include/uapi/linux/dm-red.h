/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dm-red: generic netlink interface between the "red" device-mapper target
 * and its per-node daemon (redd, or a test program playing it).
 *
 * This header is the one definition of the interface.  It is used by the
 * kernel module, the tests and redd.  Numbering is append-only: never
 * renumber or reuse a command or attribute; add new ones at the end and
 * advertise them with a feature bit.
 *
 * Conventions
 * - Every operation needs CAP_NET_ADMIN (GENL_ADMIN_PERM).
 * - A device is named by its resource name (DM_RED_A_RESOURCE), the
 *   <resource_name> of its table line; it is unique on a node.
 * - Every request that names an epoch is refused with -ESTALE when the
 *   epoch is older than the device's current one.
 * - Requests that take time (stabilize, preserve, new epoch) are answered
 *   asynchronously by a message from the kernel to the registered daemon
 *   that carries the same request id.  The netlink reply (ack) of the
 *   request itself only says that it was accepted.
 * - The kernel sends requests (STABILIZE) and completions (PRESERVE_DONE,
 *   EPOCH_DONE) by unicast to the daemon that registered last.  If no
 *   daemon is registered they are kept and sent again when one registers.
 *   A late or duplicate ack is harmless (-ENOENT, nothing changes).
 * - Events go to the multicast group "events", each with a sequence number
 *   (DM_RED_A_SEQ).  A client subscribes first, then dumps the state
 *   (DM_RED_CMD_GET_STATE with NLM_F_DUMP); each dumped device carries the
 *   sequence number of the last event raised before it was dumped, so
 *   events at or below it can be dropped.
 */
#ifndef _UAPI_LINUX_DM_RED_H
#define _UAPI_LINUX_DM_RED_H

#include <linux/types.h>

#define DM_RED_GENL_NAME		"dm_red"
#define DM_RED_GENL_VERSION		1
#define DM_RED_MCGRP_EVENTS		"events"

/* Protocol version spoken over the family, negotiated by REGISTER. */
#define DM_RED_PROTO_VERSION_MIN	1
#define DM_RED_PROTO_VERSION_MAX	1

/* Feature bits (DM_RED_A_FEATURES). */
#define DM_RED_FEAT_RANGES		(1ULL << 0) /* ranges in STABILIZE/PRESERVE */
#define DM_RED_FEAT_LEASE		(1ULL << 1) /* LEASE command */
#define DM_RED_FEAT_EVENTS_SEQ		(1ULL << 2) /* sequence-numbered events */
#define DM_RED_FEAT_PROMOTE		(1ULL << 3) /* PROMOTE command */
#define DM_RED_FEATURES_ALL		(DM_RED_FEAT_RANGES | DM_RED_FEAT_LEASE | \
					 DM_RED_FEAT_EVENTS_SEQ | \
					 DM_RED_FEAT_PROMOTE)

/* Limits. */
#define DM_RED_RESOURCE_MAX		64	/* incl. NUL */
#define DM_RED_MAX_RANGES		256	/* per STABILIZE/PRESERVE */

/* One range of chunks, in DM_RED_A_RANGES (an array of these, host order). */
struct dm_red_range {
	__u64 start;	/* first chunk */
	__u64 count;	/* number of chunks, >= 1 */
};

enum dm_red_cmd {
	DM_RED_CMD_UNSPEC,
	/*
	 * daemon -> kernel.  Attrs: PROTO_MIN, PROTO_MAX, FEATURES.
	 * Reply (same cmd): PROTO_VERSION (chosen), FEATURES (common).
	 * -EPROTONOSUPPORT if the ranges do not overlap.  Re-sends every
	 * outstanding STABILIZE, PRESERVE_DONE and EPOCH_DONE to the new
	 * daemon.
	 */
	DM_RED_CMD_REGISTER,
	/* daemon -> kernel; dump (NLM_F_DUMP) or one device (RESOURCE). */
	DM_RED_CMD_GET_STATE,
	/* kernel -> daemon: reply to GET_STATE; state attrs below. */
	DM_RED_CMD_STATE,
	/*
	 * kernel -> daemon (writer).  RESOURCE, EPOCH, REQ_ID, RANGES: make
	 * these chunks stable (every copier that needs them has preserved
	 * them), then answer STABILIZE_ACK.
	 */
	DM_RED_CMD_STABILIZE,
	/*
	 * daemon -> kernel (writer).  RESOURCE, EPOCH, REQ_ID, optional
	 * ERROR (negative errno: the chunks could not be made stable; held
	 * writes are failed with EIO).
	 */
	DM_RED_CMD_STABILIZE_ACK,
	/*
	 * daemon -> kernel (copier).  RESOURCE, EPOCH, REQ_ID, RANGES:
	 * preserve the LUN's current contents of these chunks in the store.
	 * Answered by PRESERVE_DONE.  Accepted while active or held; a newer
	 * EPOCH (a new writer's, after a promotion) moves the device's epoch
	 * up to it (event EPOCH).
	 */
	DM_RED_CMD_PRESERVE,
	/* kernel -> daemon (copier).  RESOURCE, EPOCH, REQ_ID, ERROR (0 = ok). */
	DM_RED_CMD_PRESERVE_DONE,
	/*
	 * daemon -> kernel (writer).  RESOURCE, REQ_ID, MEMBERS (number of
	 * copiers in the new epoch).  The writer drains its in-flight writes,
	 * moves to epoch + 1 with every chunk unstable (or every chunk stable
	 * when MEMBERS is 0), and answers EPOCH_DONE.
	 */
	DM_RED_CMD_NEW_EPOCH,
	/* kernel -> daemon (writer).  RESOURCE, REQ_ID, EPOCH (the new one). */
	DM_RED_CMD_EPOCH_DONE,
	/*
	 * daemon -> kernel (copier).  RESOURCE, EPOCH: the join is
	 * acknowledged at this epoch (the writer has drained); the device
	 * starts serving I/O.  -EINVAL unless the device is joining.
	 */
	DM_RED_CMD_JOIN_ACK,
	/*
	 * daemon -> kernel.  RESOURCE, LEASE_MS.  Writer: the write lease is
	 * valid for LEASE_MS from now; 0 revokes it (writes are held or
	 * failed, as the table says).  Copier: the read lease is valid for
	 * LEASE_MS from now; once armed, its expiry fails the copier (every
	 * bio gets EIO until gc), or holds its I/O with lease_policy suspend
	 * (state HELD), because the writer no longer waits for it.  0 ends
	 * the read lease now and fails an active or held copier whatever its
	 * lease_policy (a joining one: like an expiry).  On a HELD copier: LEASE_MS
	 * > 0 makes it active again and re-dispatches the held bios (the
	 * daemon thereby asserts that no writer has written to the LUN
	 * without this copier's preserves since it was held); 0 fails it
	 * (the held bios get EIO).
	 */
	DM_RED_CMD_LEASE,
	/* kernel -> multicast "events": SEQ, EVENT, RESOURCE + state attrs. */
	DM_RED_CMD_EVENT,
	/*
	 * daemon -> kernel (copier).  RESOURCE, EPOCH (the new writer epoch,
	 * above the device's), MEMBERS (copiers in it).  Only once the old
	 * writer is fenced: the copier becomes the writer.  It finishes what
	 * is in progress (state promoting, I/O held), then writes every
	 * exception back to the LUN through the normal stabilization (state
	 * writeback: reads served, flushes held until the end), flushes the
	 * LUN, discards the store and is a plain writer (event PROMOTED).
	 * Writes to the LUN, the write-back's included, need the write lease
	 * (LEASE).  -EBUSY unless the copier is active or held (the held
	 * bios then wait for the promotion like any new bio).
	 */
	DM_RED_CMD_PROMOTE,
	__DM_RED_CMD_MAX,
};

#define DM_RED_CMD_MAX (__DM_RED_CMD_MAX - 1)

enum dm_red_attr {
	DM_RED_A_UNSPEC,
	DM_RED_A_PAD,
	DM_RED_A_PROTO_MIN,		/* u32 */
	DM_RED_A_PROTO_MAX,		/* u32 */
	DM_RED_A_PROTO_VERSION,		/* u32 */
	DM_RED_A_FEATURES,		/* u64 */
	DM_RED_A_RESOURCE,		/* string, < DM_RED_RESOURCE_MAX */
	DM_RED_A_EPOCH,			/* u64 */
	DM_RED_A_REQ_ID,		/* u64 */
	DM_RED_A_RANGES,		/* binary: struct dm_red_range[1..MAX] */
	DM_RED_A_ERROR,			/* s32, 0 or -errno */
	DM_RED_A_LEASE_MS,		/* u32 */
	DM_RED_A_MEMBERS,		/* u32 */
	DM_RED_A_SEQ,			/* u64, event sequence number */
	DM_RED_A_EVENT,			/* u32, enum dm_red_event */
	/* state attributes (STATE and EVENT) */
	DM_RED_A_ROLE,			/* u32, enum dm_red_role */
	DM_RED_A_STATE,			/* u32, enum dm_red_state */
	DM_RED_A_CHUNK_SECTORS,		/* u32 */
	DM_RED_A_NR_CHUNKS,		/* u64 */
	DM_RED_A_STORE_USED,		/* u64, chunks */
	DM_RED_A_STORE_TOTAL,		/* u64, chunks */
	DM_RED_A_STABLE_CHUNKS,		/* u64 */
	DM_RED_A_HELD_BIOS,		/* u64 */
	DM_RED_A_OUTSTANDING,		/* u64, stabilizations in flight */
	DM_RED_A_PRESERVES,		/* u64, chunks preserved */
	DM_RED_A_COW_COPIES,		/* u64, copy-on-write copies */
	DM_RED_A_ERRORS,		/* u64 */
	DM_RED_A_DM_NAME,		/* string, the dm device name */
	DM_RED_A_LEASE_LEFT_MS,		/* u32, 0 = expired */
	__DM_RED_A_MAX,
};

#define DM_RED_A_MAX (__DM_RED_A_MAX - 1)

enum dm_red_role {
	DM_RED_ROLE_WRITER = 1,
	DM_RED_ROLE_COPIER = 2,
};

enum dm_red_state {
	DM_RED_STATE_ACTIVE = 1,	/* serving I/O */
	DM_RED_STATE_JOINING = 2,	/* copier: waiting for JOIN_ACK */
	DM_RED_STATE_DRAINING = 3,	/* writer: moving to a new epoch */
	DM_RED_STATE_FAILED = 4,	/* copier: store full or error; writer:
					 * fenced (LEASE 0); I/O fails
					 */
	DM_RED_STATE_PROMOTING = 5,	/* copier: PROMOTE accepted, I/O held */
	DM_RED_STATE_WRITEBACK = 6,	/* promoted: writing the store back */
	DM_RED_STATE_HELD = 7,		/* copier: read lease expired, I/O held */
};

enum dm_red_event {
	DM_RED_EV_CREATED = 1,		/* device constructed */
	DM_RED_EV_DESTROYED = 2,	/* device destroyed */
	DM_RED_EV_STATE = 3,		/* state changed (DM_RED_A_STATE) */
	DM_RED_EV_EPOCH = 4,		/* new epoch (DM_RED_A_EPOCH) */
	DM_RED_EV_STORE_FULL = 5,	/* copier store overflow: failed */
	DM_RED_EV_LEASE_EXPIRED = 6,	/* writer or copier lease expired */
	DM_RED_EV_GC = 7,		/* copier store dropped, rejoining */
	DM_RED_EV_DAEMON_GONE = 8,	/* registered daemon's socket closed */
	DM_RED_EV_PROMOTED = 9,		/* write-back done: a plain writer */
};

#endif /* _UAPI_LINUX_DM_RED_H */
