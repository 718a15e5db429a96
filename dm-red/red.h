/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-red: shared-LUN copy-on-write target for replicated databases.
 *
 * Internal definitions shared by the target, the writer path, the copier
 * path and the generic netlink channel.
 */
#ifndef DM_RED_H
#define DM_RED_H

#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/dm-kcopyd.h>
#include <linux/hashtable.h>
#include <linux/list.h>
#include <linux/mempool.h>
#include <linux/percpu-refcount.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/dm-red.h>

#include "red-compat.h"

#define DM_MSG_PREFIX "red"

#define RED_HASH_BITS		10
#define RED_MIN_CHUNK_SECTORS	8
#define RED_MAX_CHUNK_SECTORS	2048
#define RED_BLOCK_SIZE		4096
/*
 * The reserves of the I/O path's pools: what a device can always get to
 * make progress when memory is short (each element is given back when its
 * round trip ends: an ack, a copy).  A write needs one red_stab per chunk
 * it touches, a batch one red_batch, a preserve or copy-on-write one
 * red_pending and one red_waiter at a time.
 */
#define RED_STAB_RESERVE	16
#define RED_BATCH_RESERVE	2
#define RED_PENDING_RESERVE	16
#define RED_WAITER_RESERVE	16
/* Largest discard/write-zeroes bio the writer accepts, in chunks. */
#define RED_MAX_DISCARD_CHUNKS	256
#define RED_MAX_AHEAD_CHUNKS	1024	/* stabilize_ahead's upper bound */

struct red_dev;

/*
 * Writer: the stable map.  One bit per chunk, in pages allocated when the
 * first chunk they cover becomes stable, so that a multi-TiB LUN costs only
 * its page pointer array (8 bytes per 32768 chunks) up front.  Bits are
 * only ever set within an epoch; a new epoch installs a new map with RCU.
 */
struct red_smap {
	bool all_stable;		/* epoch with no copiers */
	unsigned long nr_pages;
	/* installed with cmpxchg, never freed while the map is installed */
	unsigned long *pages[];
};

/* Writer: one chunk waiting to become stable. */
struct red_stab {
	struct hlist_node hnode;	/* in red_writer.stabs, under lock */
	/* in red_writer.unsent or .unsent_ahead until batched */
	struct list_head unsent;
	u64 chunk;
	struct bio_list bios;		/* writes waiting for this chunk */
	struct list_head wbs;		/* struct red_wb waiting for it */
};

/*
 * Promotion: one exception to write back to the LUN.  Once its chunk is
 * stable it is claimed (hashed in red_copier.wb_busy, every bio of its
 * chunk held) until its copy is done; then the exception is dropped and
 * the held bios are routed again.  Its list node is in at most one of
 * red_copier.wb_todo, red_copier.wb_ready, red_writer.wb_ready or
 * red_stab.wbs; while it waits for store I/O to drain or while its copy
 * runs it is in none.
 */
struct red_wb {
	struct list_head list;
	struct hlist_node hnode;	/* in red_copier.wb_busy once claimed */
	struct red_dev *rd;
	u64 chunk;
	u64 store_chunk;
	struct bio_list held;		/* bios of the chunk, while claimed */
	bool claimed;			/* hashed in wb_busy, bios held */
	bool drain_wait;		/* store I/O of the chunk in flight */
};

/* Writer: one STABILIZE request (a batch of coalesced ranges). */
struct red_batch {
	struct list_head list;		/* in red_writer.batches */
	u64 req_id;
	u64 epoch;
	bool sent;			/* delivered to the current daemon */
	unsigned long born;		/* jiffies, for the oldest-age status */
	unsigned int nr_ranges;
	struct dm_red_range ranges[];
};

struct red_writer {
	/*
	 * Fast path state, read without the lock:
	 *   smap         RCU; replaced only while inflight is dead (draining)
	 *   inflight     writes passed through in this epoch; killed to drain
	 *   lease_until  jiffies, READ_ONCE/WRITE_ONCE
	 *   lease_valid  READ_ONCE/WRITE_ONCE
	 *   fenced       set once, under lock (LEASE 0); READ_ONCE in map
	 */
	struct red_smap __rcu *smap;
	struct percpu_ref inflight;
	struct completion drained;	/* inflight released (epoch worker) */
	/*
	 * smap_mutex: held to swap smap (epoch worker) and to set bits in
	 * it (ack), so the ack never writes into a map being freed.
	 */
	struct mutex smap_mutex;
	struct red_smap *next_smap;	/* NEW_EPOCH -> epoch worker, lock */
	unsigned long lease_until;
	bool lease_valid;
	/*
	 * LEASE 0: the daemon ended the write lease for good (the LUN names a
	 * newer writer, or demote).  Every held and every new bio fails with
	 * EIO, reads included, and the state is failed until the device is
	 * removed.  Never cleared.
	 */
	bool fenced;
	/*
	 * table: lease_policy error; set by the constructor, never changed.
	 * On a copier's table it is the policy of the write lease once
	 * promoted: error only when the line says so explicitly.
	 */
	bool lease_error;
	/*
	 * table: stabilize_ahead <chunks>; set by the constructor, never
	 * changed.  0: off.
	 */
	unsigned int ahead_max;

	/*
	 * The writer's allocations on the I/O path (red_stab, red_batch):
	 * set up with the rest of the writer state, locked internally.
	 */
	mempool_t stab_pool;
	mempool_t batch_pool;

	/* Everything below is protected by lock. */
	spinlock_t lock;
	bool blocked;			/* draining for a new epoch */
	bool lease_reported;		/* LEASE_EXPIRED event raised */
	DECLARE_HASHTABLE(stabs, RED_HASH_BITS);	/* red_stab by chunk */
	struct list_head unsent;	/* red_stab not yet in a batch */
	/* red_stab asked for ahead of a sequential stream, not yet batched */
	struct list_head unsent_ahead;
	/*
	 * The sequential stream detector of stabilize_ahead: a held write
	 * starting in [seq_lo, seq_next] continues the stream.
	 */
	u64 seq_lo;
	u64 seq_next;
	struct list_head batches;	/* red_batch outstanding */
	unsigned long nr_batches;
	struct bio_list incoming;	/* to be routed by the worker */
	struct bio_list lease_held;	/* waiting for a lease */
	struct bio_list drain_held;	/* arrived while draining */
	struct list_head wb_ready;	/* red_wb to stabilize or copy */
	unsigned long nr_held;		/* bios held in any of the above */
	u64 next_req_id;
	/* NEW_EPOCH in progress and its EPOCH_DONE still to deliver */
	bool epoch_busy;
	bool epoch_done_unsent;
	u64 epoch_req_id;
	u32 epoch_members;

	atomic64_t nr_stable;		/* bits set in the current smap */
	bool ready;			/* set up (writer table or promoted) */
	struct work_struct epoch_work;
	struct delayed_work lease_work;	/* raises LEASE_EXPIRED on time */
};

/* Copier: a complete exception. */
struct red_exc {
	struct hlist_node hnode;	/* in red_copier.ex_hash, under lock */
	u64 chunk;
	u64 store_chunk;
};

/* Copier: a pending exception (a chunk being filled in the store). */
struct red_pending {
	struct hlist_node hnode;	/* in red_copier.pe_hash */
	struct list_head list;		/* in red_copier.completing */
	struct red_exc *exc;		/* becomes the complete exception */
	struct red_dev *rd;		/* for the kcopyd callback */
	u64 chunk;
	struct bio_list waiting;	/* bios that arrived meanwhile */
	struct list_head waiters;	/* struct red_waiter (preserve requests) */
	int error;
	bool drain_wait;		/* waiting for tracked reads to end */
	/*
	 * The next pending exception filled by the same copy (red_run), or
	 * NULL.  Set by the worker before the copy starts, read by the copy's
	 * callback; no lock: nothing else uses it.
	 */
	struct red_pending *run_next;
};

/* Copier: one PRESERVE request in progress. */
struct red_preq {
	struct list_head list;		/* new_preqs -> preqs -> outbox */
	u64 req_id;
	u64 epoch;
	int error;			/* first error, cmpxchg */
	unsigned long born;
	atomic_t remaining;		/* chunks not yet complete, +1 bias */
	unsigned int nr_ranges;
	struct dm_red_range ranges[];
};

struct red_waiter {
	struct list_head list;		/* in red_pending.waiters */
	struct red_preq *preq;
};

struct red_copier {
	/*
	 * Everything below is protected by lock, which end_io takes, so it
	 * is always taken with interrupts disabled.
	 */
	spinlock_t lock;
	struct hlist_head *ex_hash;	/* complete exceptions */
	unsigned int ex_bits;
	DECLARE_HASHTABLE(pe_hash, RED_HASH_BITS);	/* pending exceptions */
	/*
	 * tracked: LUN reads in flight; on a promoted copier also every
	 * store read and write in flight (the write-back drains them).
	 */
	DECLARE_HASHTABLE(tracked, RED_HASH_BITS);
	unsigned long nr_tracked;
	u64 store_next;			/* bump allocator: chunks used */
	u64 store_total;
	unsigned long nr_pending;
	unsigned long nr_held;		/* bios in any list below, lease_held too */
	unsigned long nr_preqs;		/* PRESERVE requests not finished */
	struct bio_list joining_held;	/* bios held until JOIN_ACK */
	struct bio_list incoming;	/* writes needing a new exception */
	struct bio_list redo;		/* bios to route again */
	struct list_head completing;	/* red_pending to complete */
	struct list_head new_preqs;	/* PRESERVE requests to start */
	struct list_head preqs;		/* PRESERVE requests in progress */
	struct list_head outbox;	/* finished, PRESERVE_DONE unsent */
	/* nr_pending and nr_preqs reach 0; nr_tracked reaches 0 */
	wait_queue_head_t idle_wait;

	/*
	 * Promotion (write-back of the store to the LUN), lock.  wb_active
	 * is also read with READ_ONCE by map to choose the path.
	 */
	bool wb_active;
	struct list_head wb_todo;	/* red_wb not yet claimed, by chunk */
	struct list_head wb_ready;	/* drained or failed: route again */
	DECLARE_HASHTABLE(wb_busy, RED_HASH_BITS);	/* claimed red_wb */
	struct bio_list wb_redo;	/* bios to route on the promoted path */
	struct bio_list wb_flushes;	/* flushes waiting for the end */
	unsigned int wb_inflight;	/* red_wb out of wb_todo, not done */
	u64 wb_total;
	u64 wb_left;
	unsigned long wb_started;	/* jiffies */
	bool wb_finishing;		/* red_promote_finish under way */
	struct red_wb *wb_array;	/* every red_wb, one allocation */
	u64 promote_epoch;		/* PROMOTE -> promote_work */
	u32 promote_members;

	/*
	 * Read lease: armed by the first LEASE, then renewed by the daemon.
	 * Once it has run out the copier may no longer trust the LUN (the
	 * writer stops waiting for it), so it fails, or with lease_hold it
	 * holds every new bio (state held) until LEASE says what to do.
	 * lease_hold is set by the constructor and never changes (no lock);
	 * the others are under lock.  An expired lease stays armed (with
	 * lease_until in the past) until gc, promotion or, on a failed
	 * device, the expiry work disarms it.
	 */
	bool lease_hold;		/* table: lease_policy suspend */
	bool lease_armed;
	bool lease_reported;		/* LEASE_EXPIRED raised for this expiry */
	unsigned long lease_until;	/* jiffies */
	struct bio_list lease_held;	/* bios held in state held */
	struct delayed_work lease_work;	/* acts on and reports the expiry */

	struct dm_kcopyd_client *kc;	/* set up once, no lock */
	/*
	 * red_pending and red_waiter of preserves and copy-on-write: set up
	 * once, locked internally.  The complete exceptions come from
	 * red_exc_cache; an exception that cannot be allocated fails the
	 * device, as dm-snapshot invalidates a snapshot.
	 */
	mempool_t pe_pool;
	mempool_t wt_pool;
	/*
	 * The copies of preserved runs (red_copy): set up once, no lock,
	 * except copy_pages, under lock: the pages of the copies in flight.
	 */
	struct dm_io_client *io;
	struct workqueue_struct *copy_wq;	/* unbound: the write pieces */
	unsigned int copy_pages;
};

struct red_dev {
	struct dm_target *ti;
	struct dm_dev *lun;
	struct dm_dev *store;		/* copier table only */
	/*
	 * role: the table's, until a copier is promoted; it then changes
	 * once, under c.lock, after w is set up (READ_ONCE elsewhere).
	 */
	enum dm_red_role role;
	char name[DM_RED_RESOURCE_MAX];
	char *table;			/* constructor arguments, as given */
	unsigned int chunk_shift;
	sector_t chunk_sectors;
	u64 nr_chunks;

	struct list_head list;		/* red_devices, under red_devices_mutex */

	/*
	 * state and epoch: written under the role's lock, read with
	 * READ_ONCE for status; state only through red_set_state() once
	 * set up (the constructor sets the first).
	 */
	enum dm_red_state state;
	u64 epoch;

	struct workqueue_struct *wq;
	struct work_struct work;	/* the role's main worker */
	struct work_struct promote_work; /* copier -> writer set-up */
	struct delayed_work resend_work; /* retry delivery to the daemon */

	/* counters, reported in status */
	atomic64_t stat_preserves;	/* writer: chunks stabilized */
	atomic64_t stat_cow;
	atomic64_t stat_errors;

	/* w is set up on a writer or when a copier is promoted */
	struct red_writer w;
	/* c is set up on a copier table (rd->store != NULL) */
	struct red_copier c;
};

/* Per-bio data. */
struct red_bio {
	struct hlist_node tnode;	/* copier: tracked LUN read */
	u64 chunk;
	u8 flags;
};

#define RED_BIO_COUNTED		BIT(0)	/* writer: holds an inflight ref */
#define RED_BIO_TRACKED		BIT(1)	/* copier: tnode is hashed */
/* copier: a full-chunk write filling its pending exception */
#define RED_BIO_FILLS		BIT(2)
/* writer: seen by the stream detector (routed before) */
#define RED_BIO_SEEN		BIT(3)

static inline u64 red_chunk(struct red_dev *rd, sector_t sector)
{
	return sector >> rd->chunk_shift;
}

static inline sector_t red_chunk_sector(struct red_dev *rd, u64 chunk)
{
	return (sector_t)chunk << rd->chunk_shift;
}

/* Move every bio of @from to the end of @to. */
static inline void red_bio_list_take(struct bio_list *to, struct bio_list *from)
{
	bio_list_merge(to, from);
	bio_list_init(from);
}

static inline struct red_exc *red_exc_find(struct red_copier *c, u64 chunk)
{
	struct red_exc *e;

	hlist_for_each_entry(e, &c->ex_hash[hash_64(chunk, c->ex_bits)], hnode)
		if (e->chunk == chunk)
			return e;
	return NULL;
}

static inline bool red_tracked_busy(struct red_copier *c, u64 chunk)
{
	struct red_bio *pb;

	hash_for_each_possible(c->tracked, pb, tnode, chunk)
		if (pb->chunk == chunk)
			return true;
	return false;
}

static inline void red_remap_store(struct red_dev *rd, struct bio *bio,
				   struct red_exc *e)
{
	bio_set_dev(bio, rd->store->bdev);
	bio->bi_iter.bi_sector = red_chunk_sector(rd, e->store_chunk) +
		(bio->bi_iter.bi_sector & (rd->chunk_sectors - 1));
}

/*
 * The role, ordered after the set-up of what it implies (a promoted
 * copier's writer state and write-back): pairs with the release in
 * red_promote_work().
 */
static inline enum dm_red_role red_role(struct red_dev *rd)
{
	/* acquire: pairs with smp_store_release() in red_promote_work() */
	return smp_load_acquire(&rd->role);
}

/* The state to report: a promoted copier writing back shows writeback. */
static inline enum dm_red_state red_dev_state(struct red_dev *rd)
{
	enum dm_red_state st = READ_ONCE(rd->state);

	if (st == DM_RED_STATE_ACTIVE && rd->store &&
	    red_role(rd) == DM_RED_ROLE_WRITER && READ_ONCE(rd->c.wb_active))
		return DM_RED_STATE_WRITEBACK;
	return st;
}

/* Carry out a map decision taken again for a held bio (process context). */
static inline void red_submit_mapped(struct bio *bio, int r)
{
	if (r == DM_MAPIO_REMAPPED)
		dm_submit_bio_remap(bio, NULL);
	else if (r == DM_MAPIO_KILL)
		bio_io_error(bio);
}

/*
 * Copy @nr chunks in a row with kcopyd: one job, which kcopyd splits into
 * sub-jobs of its own size.  The write-back's copies, and the copier's runs
 * that its own run copy (red-copier.c) leaves to kcopyd.
 */
static inline void red_copy_chunks(struct red_dev *rd,
				   struct block_device *from_bdev,
				   u64 from_chunk, struct block_device *to_bdev,
				   u64 to_chunk, unsigned int nr,
				   dm_kcopyd_notify_fn fn, void *context)
{
	struct dm_io_region from = {
		.bdev = from_bdev,
		.sector = red_chunk_sector(rd, from_chunk),
		.count = (sector_t)nr * rd->chunk_sectors,
	};
	struct dm_io_region to = {
		.bdev = to_bdev,
		.sector = red_chunk_sector(rd, to_chunk),
		.count = (sector_t)nr * rd->chunk_sectors,
	};

	dm_kcopyd_copy(rd->c.kc, &from, 1, &to, 0, fn, context);
}

extern bool red_test_skip_drain;
extern bool red_test_copy_kcopyd;

/* red-target.c */
const char *red_state_name(enum dm_red_state state);
bool red_set_state(struct red_dev *rd, enum dm_red_state to);
bool red_dev_is_open(struct red_dev *rd);
void red_stats(struct red_dev *rd, u64 *used, u64 *stable, unsigned long *held,
	       unsigned long *outstanding, unsigned int *oldest_ms);
struct red_dev *red_find_locked(const char *name);
void red_kick_all_resend(void);
extern struct mutex red_devices_mutex;
extern struct kmem_cache *red_exc_cache;
extern struct list_head red_devices;

/* red-writer.c */
int red_writer_init(struct red_dev *rd);
int red_writer_setup(struct red_dev *rd, u32 members);
void red_writer_wb_route(struct red_dev *rd, struct red_wb *wb);
void red_writer_exit(struct red_dev *rd);
int red_writer_map(struct red_dev *rd, struct bio *bio);
void red_writer_end_io(struct red_dev *rd, struct bio *bio);
void red_writer_work(struct red_dev *rd);
void red_writer_resend(struct red_dev *rd);
int red_writer_ack(struct red_dev *rd, u64 epoch, u64 req_id, int error);
int red_writer_new_epoch(struct red_dev *rd, u64 req_id, u32 members);
int red_writer_lease(struct red_dev *rd, u32 ms);
bool red_writer_fenced(struct red_dev *rd);
u32 red_writer_lease_left_ms(struct red_dev *rd);
void red_writer_stats(struct red_dev *rd, u64 *stable, unsigned long *held,
		      unsigned long *outstanding, unsigned int *oldest_ms);

/* red-copier.c */
int red_copier_init(struct red_dev *rd);
void red_copier_exit(struct red_dev *rd);
int red_copier_map(struct red_dev *rd, struct bio *bio);
int red_copier_end_io(struct red_dev *rd, struct bio *bio, blk_status_t *error);
void red_copier_work(struct red_dev *rd);
void red_copier_resend(struct red_dev *rd);
int red_copier_preserve(struct red_dev *rd, u64 epoch, u64 req_id,
			const struct dm_red_range *ranges, unsigned int nr);
int red_copier_join_ack(struct red_dev *rd, u64 epoch);
int red_copier_gc(struct red_dev *rd);
int red_copier_lease(struct red_dev *rd, u32 ms);
bool red_copier_lease_check_locked(struct red_dev *rd);
u32 red_copier_lease_left_ms(struct red_dev *rd);
void red_copier_stats(struct red_dev *rd, u64 *used, unsigned long *held,
		      unsigned long *outstanding, unsigned int *oldest_ms);

/* red-promote.c */
int red_promote(struct red_dev *rd, u64 epoch, u32 members);
void red_promote_work(struct work_struct *work);
int red_promote_map(struct red_dev *rd, struct bio *bio);
void red_promote_fence(struct red_dev *rd, struct bio_list *bios);
void red_promote_step(struct red_dev *rd);
bool red_promote_drained_locked(struct red_dev *rd, u64 chunk);
void red_promote_copy(struct red_dev *rd, struct red_wb *wb);
void red_promote_claim(struct red_dev *rd, struct red_wb *wb);
void red_promote_exit(struct red_dev *rd);

/* red-nl.c */
int red_nl_init(void);
void red_nl_exit(void);
bool red_nl_daemon_present(void);
struct sk_buff *red_nl_stabilize_msg(struct red_dev *rd);
int red_nl_fill_ranges(struct sk_buff *skb, u64 epoch, u64 req_id,
		       const struct dm_red_range *ranges, unsigned int nr);
int red_nl_send(struct sk_buff *skb);
int red_nl_send_preserve_done(struct red_dev *rd, struct red_preq *p);
int red_nl_send_epoch_done(struct red_dev *rd, u64 req_id, u64 epoch);
void red_nl_event(struct red_dev *rd, enum dm_red_event ev);

#endif /* DM_RED_H */
