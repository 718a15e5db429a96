// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-red copier path: a volatile copy-on-write overlay of the LUN.
 *
 * A read of a chunk with a complete exception goes to the store; one with
 * a pending exception waits for it; any other read goes to the LUN and is
 * tracked until it completes.  A write goes to the store; a chunk without
 * an exception gets a pending one first, filled either by the write itself
 * (a full-chunk write) or by a copy from the LUN (kcopyd).
 *
 * The drain rule: a pending exception completes only when no tracked LUN
 * read of its chunk is in flight.  PRESERVE(C) creates (or joins) a pending
 * exception for C, so new reads of C queue behind it; the ack follows its
 * completion, so no read issued before the preserve can still return the
 * data the writer writes after the ack.
 *
 * Flushes and FUA complete at once: the store is volatile by design.
 *
 * The read lease: once armed by LEASE, its expiry means the writer no
 * longer waits for this copier.  With lease_policy error the copier fails;
 * with lease_policy suspend it is held (state held): every new bio waits on
 * lease_held, bios in flight complete, preserves are still served, and
 * LEASE, PROMOTE or gc decide what happens next.
 */
#include <linux/blkdev.h>
#include <linux/log2.h>
#include <linux/slab.h>

#include "red.h"

static void red_copier_kick(struct red_dev *rd)
{
	queue_work(rd->wq, &rd->work);
}

static struct red_pending *red_pending_find(struct red_copier *c, u64 chunk)
{
	struct red_pending *pe;

	lockdep_assert_held(&c->lock);

	hash_for_each_possible(c->pe_hash, pe, hnode, chunk)
		if (pe->chunk == chunk)
			return pe;
	return NULL;
}

/*
 * Store full, store I/O error or no memory for an exception: fail every bio
 * from now on.  Locked.
 */
static bool red_copier_fail_locked(struct red_dev *rd)
{
	lockdep_assert_held(&rd->c.lock);
	if (!red_set_state(rd, DM_RED_STATE_FAILED))
		return false;
	atomic64_inc(&rd->stat_errors);
	return true;
}

enum red_fail_why { RED_FAIL_STORE_FULL, RED_FAIL_STORE_IO, RED_FAIL_NOMEM };

static void red_copier_failed(struct red_dev *rd, enum red_fail_why why)
{
	static const char * const text[] = {
		[RED_FAIL_STORE_FULL] = "exception store full",
		[RED_FAIL_STORE_IO] = "store I/O error",
		[RED_FAIL_NOMEM] = "no memory for an exception",
	};

	DMERR("%s: %s; the device fails all I/O until gc", rd->name,
	      text[why]);
	red_nl_event(rd, why == RED_FAIL_STORE_FULL ? DM_RED_EV_STORE_FULL :
		     DM_RED_EV_STATE);
}

/* Has an armed read lease run out?  Locked. */
static bool red_copier_lease_over_locked(struct red_copier *c)
{
	lockdep_assert_held(&c->lock);
	return c->lease_armed && !time_before(jiffies, c->lease_until);
}

/*
 * The armed read lease has run out: act on it as the table says.  Locked.
 * Returns true if the state changed; the expiry work reports it.
 *
 * - active: held (lease_policy suspend) or failed (error).
 * - joining, promoting: I/O is held already.  With suspend they stay (a
 *   JOIN_ACK then leads to held, a promotion disarms the lease); with
 *   error they fail, as they always did.
 * - held, failed: nothing more to do.
 */
static bool red_copier_expire_locked(struct red_dev *rd)
{
	lockdep_assert_held(&rd->c.lock);
	switch (rd->state) {
	case DM_RED_STATE_ACTIVE:
		if (rd->c.lease_hold)
			return red_set_state(rd, DM_RED_STATE_HELD);
		return red_copier_fail_locked(rd);
	case DM_RED_STATE_JOINING:
	case DM_RED_STATE_PROMOTING:
		if (rd->c.lease_hold)
			return false;
		return red_copier_fail_locked(rd);
	default:
		return false;
	}
}

/*
 * Act on a read lease that has run out, if it has.  Locked.  Returns true
 * when the state changed; the expiry work, queued here, logs it and raises
 * the events.
 */
bool red_copier_lease_check_locked(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;

	lockdep_assert_held(&c->lock);

	if (likely(!red_copier_lease_over_locked(c)) ||
	    !red_copier_expire_locked(rd))
		return false;
	mod_delayed_work(rd->wq, &c->lease_work, 0);
	return true;
}

/*
 * Route a bio.  Returns a DM_MAPIO_* code; with DM_MAPIO_SUBMITTED the bio
 * is held (counted in nr_held) in one of the lists.
 */
static int red_copier_route(struct red_dev *rd, struct bio *bio)
{
	struct red_copier *c = &rd->c;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));
	struct red_pending *pe;
	unsigned long flags;
	struct red_exc *e;
	u64 chunk = red_chunk(rd, bio->bi_iter.bi_sector);

	pb->chunk = chunk;
	spin_lock_irqsave(&c->lock, flags);
	if (unlikely(rd->role == DM_RED_ROLE_WRITER)) {
		/* promoted since red_map looked */
		spin_unlock_irqrestore(&c->lock, flags);
		return red_promote_map(rd, bio);
	}
	red_copier_lease_check_locked(rd);
	switch (rd->state) {
	case DM_RED_STATE_FAILED:
		spin_unlock_irqrestore(&c->lock, flags);
		return DM_MAPIO_KILL;
	case DM_RED_STATE_JOINING:
	case DM_RED_STATE_PROMOTING:
		bio_list_add(&c->joining_held, bio);
		goto held;
	case DM_RED_STATE_HELD:
		bio_list_add(&c->lease_held, bio);
		goto held;
	default:
		break;
	}

	e = red_exc_find(c, chunk);
	if (e) {
		red_remap_store(rd, bio, e);
		spin_unlock_irqrestore(&c->lock, flags);
		return DM_MAPIO_REMAPPED;
	}
	pe = red_pending_find(c, chunk);
	if (pe) {
		bio_list_add(&pe->waiting, bio);
		goto held;
	}
	if (bio_data_dir(bio) == READ) {
		pb->flags |= RED_BIO_TRACKED;
		hash_add(c->tracked, &pb->tnode, chunk);
		c->nr_tracked++;
		spin_unlock_irqrestore(&c->lock, flags);
		bio_set_dev(bio, rd->lun->bdev);
		return DM_MAPIO_REMAPPED;
	}
	bio_list_add(&c->incoming, bio);
	c->nr_held++;
	spin_unlock_irqrestore(&c->lock, flags);
	red_copier_kick(rd);
	return DM_MAPIO_SUBMITTED;

held:
	c->nr_held++;
	spin_unlock_irqrestore(&c->lock, flags);
	return DM_MAPIO_SUBMITTED;
}

int red_copier_map(struct red_dev *rd, struct bio *bio)
{
	if (!bio_sectors(bio)) {
		/* an empty flush: the store is volatile, the LUN is not ours */
		if (unlikely(READ_ONCE(rd->c.wb_active)))
			return red_promote_map(rd, bio);
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	if (likely(!READ_ONCE(rd->c.wb_active)))
		bio->bi_opf &= ~(REQ_FUA | REQ_PREFLUSH);
	return red_copier_route(rd, bio);
}

/* Queue a pending exception for completion by the worker. Locked. */
static void red_pending_queue_locked(struct red_dev *rd, struct red_pending *pe)
{
	lockdep_assert_held(&rd->c.lock);
	list_add_tail(&pe->list, &rd->c.completing);
}

int red_copier_end_io(struct red_dev *rd, struct bio *bio, blk_status_t *error)
{
	struct red_copier *c = &rd->c;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));
	struct red_pending *pe;
	unsigned long flags;
	bool kick = false;

	if (!(pb->flags & (RED_BIO_TRACKED | RED_BIO_FILLS)))
		return DM_ENDIO_DONE;

	spin_lock_irqsave(&c->lock, flags);
	if (pb->flags & RED_BIO_TRACKED) {
		hash_del(&pb->tnode);
		if (!--c->nr_tracked)
			wake_up(&c->idle_wait);
		pe = red_pending_find(c, pb->chunk);
		if (pe && pe->drain_wait && !red_tracked_busy(c, pb->chunk)) {
			pe->drain_wait = false;
			red_pending_queue_locked(rd, pe);
			kick = true;
		}
		if (c->wb_inflight && red_promote_drained_locked(rd, pb->chunk))
			kick = true;
	} else {
		pe = red_pending_find(c, pb->chunk);
		if (pe) {
			if (*error)
				pe->error = -EIO;
			red_pending_queue_locked(rd, pe);
			kick = true;
		}
	}
	spin_unlock_irqrestore(&c->lock, flags);
	if (kick)
		red_copier_kick(rd);
	return DM_ENDIO_DONE;
}

/* ---- pending exceptions ------------------------------------------- */

/*
 * A pending exception and the complete exception it becomes.  With
 * GFP_NOIO the pending one always comes (from the pool's reserve if need
 * be), and NULL means no memory for the exception: the caller fails the
 * device.  With GFP_NOWAIT NULL means either.
 */
static struct red_pending *red_pending_alloc(struct red_dev *rd, gfp_t gfp)
{
	struct red_pending *pe;

	pe = mempool_alloc(&rd->c.pe_pool, gfp);
	if (!pe)
		return NULL;
	pe->exc = kmem_cache_alloc(red_exc_cache, gfp | __GFP_NOWARN);
	if (!pe->exc) {
		mempool_free(pe, &rd->c.pe_pool);
		return NULL;
	}
	return pe;
}

static void red_pending_free(struct red_dev *rd, struct red_pending *pe)
{
	if (pe) {
		if (pe->exc)
			kmem_cache_free(red_exc_cache, pe->exc);
		mempool_free(pe, &rd->c.pe_pool);
	}
}

/*
 * Start a pending exception for @chunk with the spare *@spare.  Locked.
 * Returns NULL when the store is full.
 */
static struct red_pending *red_pending_start_locked(struct red_dev *rd,
						    u64 chunk,
						    struct red_pending **spare)
{
	struct red_copier *c = &rd->c;
	struct red_pending *pe = *spare;

	lockdep_assert_held(&c->lock);

	if (c->store_next >= c->store_total)
		return NULL;
	*spare = NULL;
	pe->rd = rd;
	pe->chunk = chunk;
	pe->exc->chunk = chunk;
	pe->exc->store_chunk = c->store_next++;
	bio_list_init(&pe->waiting);
	INIT_LIST_HEAD(&pe->waiters);
	INIT_LIST_HEAD(&pe->list);
	pe->error = 0;
	pe->drain_wait = false;
	hash_add(c->pe_hash, &pe->hnode, chunk);
	c->nr_pending++;
	return pe;
}

static void red_preq_put(struct red_dev *rd, struct red_preq *p, int error)
{
	struct red_copier *c = &rd->c;
	unsigned long flags;

	if (error)
		cmpxchg(&p->error, 0, error);
	if (!atomic_dec_and_test(&p->remaining))
		return;
	spin_lock_irqsave(&c->lock, flags);
	list_move_tail(&p->list, &c->outbox);
	c->nr_preqs--;
	if (!c->nr_preqs && !c->nr_pending)
		wake_up(&c->idle_wait);
	spin_unlock_irqrestore(&c->lock, flags);
	red_copier_kick(rd);
}

/*
 * Complete a pending exception, in the worker.
 *
 * 1. If a tracked LUN read of the chunk is still in flight, wait for it:
 *    the end_io of the last one queues us again.
 * 2. Make the exception complete (or, on error, fail the device).
 * 3. Route the bios that waited, and answer the preserve requests.
 */
static void red_pending_complete(struct red_dev *rd, struct red_pending *pe)
{
	struct red_copier *c = &rd->c;
	struct bio_list bios = BIO_EMPTY_LIST;
	struct red_waiter *wt, *tmp;
	LIST_HEAD(waiters);
	unsigned long flags;
	bool failed = false;
	int error;
	struct bio *bio;

	/* 1 */
	spin_lock_irqsave(&c->lock, flags);
	if (!pe->error && !red_test_skip_drain &&
	    red_tracked_busy(c, pe->chunk)) {
		pe->drain_wait = true;
		spin_unlock_irqrestore(&c->lock, flags);
		return;
	}

	/* 2 */
	hash_del(&pe->hnode);
	c->nr_pending--;
	error = pe->error;
	if (error) {
		failed = red_copier_fail_locked(rd);
	} else {
		hlist_add_head(&pe->exc->hnode,
			       &c->ex_hash[hash_64(pe->chunk, c->ex_bits)]);
		pe->exc = NULL;
	}
	c->nr_held -= bio_list_size(&pe->waiting);
	bio_list_merge(&bios, &pe->waiting);
	list_splice_init(&pe->waiters, &waiters);
	if (!c->nr_preqs && !c->nr_pending)
		wake_up(&c->idle_wait);
	spin_unlock_irqrestore(&c->lock, flags);

	/* 3 */
	if (failed)
		red_copier_failed(rd, RED_FAIL_STORE_IO);
	while ((bio = bio_list_pop(&bios)))
		red_submit_mapped(bio, red_copier_route(rd, bio));
	list_for_each_entry_safe(wt, tmp, &waiters, list) {
		red_preq_put(rd, wt->preq, error);
		mempool_free(wt, &c->wt_pool);
	}
	red_pending_free(rd, pe);
}

/*
 * The copy of a run of pending exceptions (one or more, linked by
 * run_next) is done: queue each for completion.  Locked.  The worker frees
 * them only after taking the completing list under this lock, so run_next
 * is read before each is queued.
 */
static void red_run_done_locked(struct red_dev *rd, struct red_pending *pe,
				bool failed)
{
	struct red_pending *next;

	lockdep_assert_held(&rd->c.lock);

	for (; pe; pe = next) {
		next = pe->run_next;
		if (failed)
			pe->error = -EIO;
		red_pending_queue_locked(rd, pe);
	}
}

static void red_kcopyd_done(int read_err, unsigned long write_err,
			    void *context)
{
	struct red_pending *pe = context;
	struct red_dev *rd = pe->rd;
	struct red_copier *c = &rd->c;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	red_run_done_locked(rd, pe, read_err || write_err);
	spin_unlock_irqrestore(&c->lock, flags);
	red_copier_kick(rd);
}

/*
 * A run: pending exceptions started by preserve requests whose chunks
 * follow each other both on the LUN and in the store (the store is a bump
 * allocator, so the chunks of a range usually do).  One copy fills them
 * all: for a 1 MiB write of 64 KiB chunks, one 1 MiB copy instead of 16
 * of 64 KiB (red_copy_start_fast, or kcopyd).
 * Built and started by the worker only; its pending exceptions cannot
 * complete before the copy starts, so they stay valid meanwhile.  A run
 * is at most RED_RUN_SECTORS long (and at least one chunk): a read of the
 * copier that waits for one chunk waits for the whole run.
 */
#define RED_RUN_SECTORS 2048	/* 1 MiB */

struct red_run {
	struct red_pending *first;
	struct red_pending *last;
	unsigned int nr;
};

/*
 * The copy of a run, when memory allows (else kcopyd does it): one read of
 * the whole run from the LUN into pages of its own, then the writes to the
 * store in pieces of RED_PIECE_SECTORS, each from a work item of an unbound
 * workqueue.  A store of zram compresses in the context that submits the
 * write, and kcopyd submits all of one client's writes from one work item:
 * with pieces, a run's compression runs on as many CPUs as are free.
 *
 * 1. red_copy_start_fast: take the pages (counted in copy_pages, at most
 *    RED_COPY_MAX_PAGES per copier: beyond that, or when an allocation
 *    fails, the run goes to kcopyd and its reserved pages), read the run.
 *    A run of one piece goes to kcopyd too.
 * 2. red_copy_read_done: queue the write pieces (or, on a read error,
 *    finish at once).
 * 3. red_copy_piece: write one piece; red_copy_piece_done counts them.
 * 4. red_copy_finish: free the pages and, under the lock, give back
 *    copy_pages, queue the pending exceptions and kick the worker; nothing
 *    of the device is touched after the unlock, so red_copier_exit, which
 *    waits for copy_pages to reach 0 under the same lock, may then go on.
 */
#define RED_PIECE_SECTORS	64	/* 32 KiB */
#define RED_COPY_MAX_PAGES	2048	/* 8 MiB per copier */
#define RED_PIECES_MAX		(RED_RUN_SECTORS / RED_PIECE_SECTORS)

struct red_copy;

struct red_piece {
	struct work_struct work;
	struct red_copy *cp;
};

struct red_copy {
	struct red_dev *rd;
	struct red_pending *first;	/* the run, linked by run_next */
	sector_t to;			/* in the store */
	unsigned int sectors;
	unsigned int nr_pages;
	unsigned int nr_pieces;
	atomic_t pieces_left;
	int error;			/* cmpxchg */
	struct red_piece piece[RED_PIECES_MAX];
	struct page_list pl[];
};

/* Give back pages of the run copies in flight.  Locked. */
static void red_copy_pages_put_locked(struct red_copier *c,
				      unsigned int nr_pages)
{
	lockdep_assert_held(&c->lock);
	c->copy_pages -= nr_pages;
	if (!c->copy_pages)
		wake_up(&c->idle_wait);
}

static void red_copy_finish(struct red_copy *cp)
{
	struct red_dev *rd = cp->rd;
	struct red_pending *pe = cp->first;
	struct red_copier *c = &rd->c;
	unsigned int i, nr_pages = cp->nr_pages;
	bool failed = cp->error;
	unsigned long flags;

	for (i = 0; i < nr_pages; i++)
		__free_page(cp->pl[i].page);
	kfree(cp);

	/* 4 */
	spin_lock_irqsave(&c->lock, flags);
	red_copy_pages_put_locked(c, nr_pages);
	red_run_done_locked(rd, pe, failed);
	red_copier_kick(rd);
	spin_unlock_irqrestore(&c->lock, flags);
}

static void red_copy_piece_done(unsigned long error, void *context)
{
	struct red_copy *cp = context;

	if (error)
		cmpxchg(&cp->error, 0, -EIO);
	if (atomic_dec_and_test(&cp->pieces_left))
		red_copy_finish(cp);
}

/* 3 */
static void red_copy_piece(struct work_struct *work)
{
	struct red_piece *pc = container_of(work, struct red_piece, work);
	struct red_copy *cp = pc->cp;
	sector_t off = (sector_t)(pc - cp->piece) * RED_PIECE_SECTORS;
	struct dm_io_region to = {
		.bdev = cp->rd->store->bdev,
		.sector = cp->to + off,
		.count = min_t(sector_t, RED_PIECE_SECTORS, cp->sectors - off),
	};
	struct dm_io_request req = {
		.bi_opf = REQ_OP_WRITE,
		.mem.type = DM_IO_PAGE_LIST,
		.mem.ptr.pl = &cp->pl[off >> (PAGE_SHIFT - SECTOR_SHIFT)],
		.notify.fn = red_copy_piece_done,
		.notify.context = cp,
		.client = cp->rd->c.io,
	};

	/* async: the result comes through notify, whatever dm_io returns */
	dm_io(&req, 1, &to, NULL, IOPRIO_DEFAULT);
}

/* 2 */
static void red_copy_read_done(unsigned long error, void *context)
{
	struct red_copy *cp = context;
	struct workqueue_struct *wq = cp->rd->c.copy_wq;
	unsigned int i, nr = cp->nr_pieces;

	if (error) {
		cp->error = -EIO;
		red_copy_finish(cp);
		return;
	}
	/* the last piece may finish (and free cp) as soon as it is queued */
	atomic_set(&cp->pieces_left, nr);
	for (i = 0; i < nr; i++)
		queue_work(wq, &cp->piece[i].work);
}

/* 1: returns false if the run is left to kcopyd */
static bool red_copy_start_fast(struct red_dev *rd, struct red_run *run)
{
	struct red_copier *c = &rd->c;
	unsigned int sectors = run->nr * rd->chunk_sectors;
	unsigned int nr_pages = DIV_ROUND_UP(sectors, PAGE_SIZE >> SECTOR_SHIFT);
	struct dm_io_region from;
	struct dm_io_request req;
	struct red_copy *cp;
	unsigned long flags;
	unsigned int i;
	bool room;

	BUILD_BUG_ON(RED_MAX_CHUNK_SECTORS > RED_RUN_SECTORS);
	/*
	 * A run of one piece has nothing to spread over CPUs, and kcopyd,
	 * whose write follows the read on the same CPU, copies it faster
	 * (c4 of Documentation/performance.rst: 0.5 against 1.0 ms for a
	 * 4 KiB chunk).
	 */
	if (red_test_copy_kcopyd || sectors <= RED_PIECE_SECTORS)
		return false;
	spin_lock_irqsave(&c->lock, flags);
	room = c->copy_pages + nr_pages <= RED_COPY_MAX_PAGES;
	if (room)
		c->copy_pages += nr_pages;
	spin_unlock_irqrestore(&c->lock, flags);
	if (!room)
		return false;

	cp = kmalloc(struct_size(cp, pl, nr_pages),
		     GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN);
	for (i = 0; cp && i < nr_pages; i++) {
		cp->pl[i].page = alloc_page(GFP_NOIO | __GFP_NORETRY |
					    __GFP_NOWARN);
		if (!cp->pl[i].page)
			break;
		cp->pl[i].next = i + 1 < nr_pages ? &cp->pl[i + 1] : NULL;
	}
	if (!cp || i < nr_pages) {
		while (cp && i--)
			__free_page(cp->pl[i].page);
		kfree(cp);
		spin_lock_irqsave(&c->lock, flags);
		red_copy_pages_put_locked(c, nr_pages);
		spin_unlock_irqrestore(&c->lock, flags);
		return false;
	}

	cp->rd = rd;
	cp->first = run->first;
	cp->to = red_chunk_sector(rd, run->first->exc->store_chunk);
	cp->sectors = sectors;
	cp->nr_pages = nr_pages;
	cp->nr_pieces = DIV_ROUND_UP(sectors, RED_PIECE_SECTORS);
	cp->error = 0;
	for (i = 0; i < cp->nr_pieces; i++) {
		INIT_WORK(&cp->piece[i].work, red_copy_piece);
		cp->piece[i].cp = cp;
	}

	from = (struct dm_io_region) {
		.bdev = rd->lun->bdev,
		.sector = red_chunk_sector(rd, run->first->chunk),
		.count = sectors,
	};
	req = (struct dm_io_request) {
		.bi_opf = REQ_OP_READ,
		.mem.type = DM_IO_PAGE_LIST,
		.mem.ptr.pl = cp->pl,
		.notify.fn = red_copy_read_done,
		.notify.context = cp,
		.client = c->io,
	};
	dm_io(&req, 1, &from, NULL, IOPRIO_DEFAULT);
	return true;
}

static void red_run_start(struct red_dev *rd, struct red_run *run)
{
	if (!run->nr)
		return;
	run->last->run_next = NULL;
	if (!red_copy_start_fast(rd, run))
		red_copy_chunks(rd, rd->lun->bdev, run->first->chunk,
				rd->store->bdev, run->first->exc->store_chunk,
				run->nr, red_kcopyd_done, run->first);
	run->nr = 0;
}

/* Copy one chunk from the LUN into its place in the store: a run of one. */
static void red_copy_start(struct red_dev *rd, struct red_pending *pe)
{
	struct red_run run = { .first = pe, .last = pe, .nr = 1 };

	red_run_start(rd, &run);
}

/* Add a pending exception to the run, starting the run first if it can't. */
static void red_run_add(struct red_dev *rd, struct red_run *run,
			struct red_pending *pe)
{
	if (run->nr &&
	    (run->nr + 1) * rd->chunk_sectors <= RED_RUN_SECTORS &&
	    pe->chunk == run->last->chunk + 1 &&
	    pe->exc->store_chunk == run->last->exc->store_chunk + 1) {
		run->last->run_next = pe;
		run->last = pe;
		run->nr++;
		return;
	}
	red_run_start(rd, run);
	run->first = pe;
	run->last = pe;
	run->nr = 1;
}

/*
 * A write to a chunk that had no exception when it was mapped.
 * A full-chunk write fills the new exception itself; a partial one waits
 * for a copy of the chunk from the LUN.
 */
static void red_copier_write(struct red_dev *rd, struct bio *bio)
{
	struct red_copier *c = &rd->c;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));
	struct red_pending *spare = red_pending_alloc(rd, GFP_NOIO);
	struct red_pending *pe;
	unsigned long flags;
	bool full, failed;

	if (unlikely(!spare)) {
		spin_lock_irqsave(&c->lock, flags);
		c->nr_held--;
		failed = red_copier_fail_locked(rd);
		spin_unlock_irqrestore(&c->lock, flags);
		if (failed)
			red_copier_failed(rd, RED_FAIL_NOMEM);
		bio_io_error(bio);
		return;
	}
	spin_lock_irqsave(&c->lock, flags);
	c->nr_held--;
	if (rd->state != DM_RED_STATE_ACTIVE ||
	    red_exc_find(c, pb->chunk) || red_pending_find(c, pb->chunk)) {
		/* things moved on since map: route it again */
		bio_list_add(&c->redo, bio);
		c->nr_held++;
		spin_unlock_irqrestore(&c->lock, flags);
		red_pending_free(rd, spare);
		red_copier_kick(rd);
		return;
	}
	pe = red_pending_start_locked(rd, pb->chunk, &spare);
	if (!pe) {
		failed = red_copier_fail_locked(rd);
		spin_unlock_irqrestore(&c->lock, flags);
		red_pending_free(rd, spare);
		if (failed)
			red_copier_failed(rd, RED_FAIL_STORE_FULL);
		bio_io_error(bio);
		return;
	}
	full = !(bio->bi_iter.bi_sector & (rd->chunk_sectors - 1)) &&
	       bio_sectors(bio) == rd->chunk_sectors;
	if (full) {
		pb->flags |= RED_BIO_FILLS;
		red_remap_store(rd, bio, pe->exc);
	} else {
		bio_list_add(&pe->waiting, bio);
		c->nr_held++;
	}
	spin_unlock_irqrestore(&c->lock, flags);

	if (full) {
		dm_submit_bio_remap(bio, NULL);
	} else {
		atomic64_inc(&rd->stat_cow);
		red_copy_start(rd, pe);
	}
}

/* ---- preserve requests -------------------------------------------- */

/*
 * Start a preserve request: every chunk of it without an exception gets a
 * pending one (or joins the one in progress), filled by a copy from the
 * LUN through @run, which the caller starts.
 */
static void red_preq_start(struct red_dev *rd, struct red_preq *p,
			   struct red_run *run)
{
	struct red_copier *c = &rd->c;
	struct red_pending *spare = NULL, *pe;
	struct red_waiter *wt = NULL;
	unsigned long flags;
	enum red_fail_why why = RED_FAIL_STORE_FULL;
	bool failed = false;
	unsigned int i;
	u64 chunk, last;
	int error = 0;

	atomic_set(&p->remaining, 1);
	for (i = 0; i < p->nr_ranges && !error; i++) {
		last = p->ranges[i].start + p->ranges[i].count - 1;
		for (chunk = p->ranges[i].start; chunk <= last; chunk++) {
			bool start = false;

			/*
			 * Waiting for a pool's reserve: the pending exceptions
			 * of our own run first go to the copy, which gives
			 * them back.
			 */
			if (!spare)
				spare = red_pending_alloc(rd, GFP_NOWAIT);
			if (!spare) {
				red_run_start(rd, run);
				spare = red_pending_alloc(rd, GFP_NOIO);
			}
			if (!wt)
				wt = mempool_alloc(&c->wt_pool, GFP_NOWAIT);
			if (!wt) {
				red_run_start(rd, run);
				wt = mempool_alloc(&c->wt_pool, GFP_NOIO);
			}
			if (!spare) {
				spin_lock_irqsave(&c->lock, flags);
				failed = red_copier_fail_locked(rd);
				spin_unlock_irqrestore(&c->lock, flags);
				why = RED_FAIL_NOMEM;
				error = -ENOMEM;
				break;
			}

			spin_lock_irqsave(&c->lock, flags);
			if (rd->state != DM_RED_STATE_ACTIVE &&
			    rd->state != DM_RED_STATE_HELD) {
				spin_unlock_irqrestore(&c->lock, flags);
				error = rd->state == DM_RED_STATE_FAILED ?
					-EIO : -EAGAIN;
				break;
			}
			if (red_exc_find(c, chunk)) {
				spin_unlock_irqrestore(&c->lock, flags);
				continue;
			}
			pe = red_pending_find(c, chunk);
			if (!pe) {
				pe = red_pending_start_locked(rd, chunk, &spare);
				if (!pe) {
					failed = red_copier_fail_locked(rd);
					spin_unlock_irqrestore(&c->lock, flags);
					error = -ENOSPC;
					break;
				}
				start = true;
			}
			wt->preq = p;
			list_add_tail(&wt->list, &pe->waiters);
			wt = NULL;
			atomic_inc(&p->remaining);
			spin_unlock_irqrestore(&c->lock, flags);

			if (start) {
				atomic64_inc(&rd->stat_preserves);
				red_run_add(rd, run, pe);
			}
		}
	}
	red_pending_free(rd, spare);
	mempool_free(wt, &c->wt_pool);
	if (failed)
		red_copier_failed(rd, why);
	red_preq_put(rd, p, error);
}

int red_copier_preserve(struct red_dev *rd, u64 epoch, u64 req_id,
			const struct dm_red_range *ranges, unsigned int nr)
{
	struct red_copier *c = &rd->c;
	struct red_preq *p;
	unsigned long flags;
	bool newer = false;
	unsigned int i;
	int r = 0;

	for (i = 0; i < nr; i++)
		if (!ranges[i].count || ranges[i].start >= rd->nr_chunks ||
		    ranges[i].count > rd->nr_chunks - ranges[i].start)
			return -ERANGE;

	p = kmalloc(struct_size(p, ranges, nr), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->req_id = req_id;
	p->epoch = epoch;
	p->error = 0;
	p->born = jiffies;
	p->nr_ranges = nr;
	memcpy(p->ranges, ranges, nr * sizeof(*ranges));

	spin_lock_irqsave(&c->lock, flags);
	if (rd->state == DM_RED_STATE_JOINING ||
	    rd->state == DM_RED_STATE_PROMOTING)
		r = -EAGAIN;
	else if (rd->state == DM_RED_STATE_FAILED)
		r = -EIO;
	else if (epoch < rd->epoch)
		r = -ESTALE;
	if (!r) {
		/* a newer writer epoch (a new epoch, or a promotion elsewhere) */
		newer = epoch > rd->epoch;
		WRITE_ONCE(rd->epoch, epoch);
		list_add_tail(&p->list, &c->new_preqs);
		c->nr_preqs++;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	if (r) {
		kfree(p);
		return r;
	}
	if (newer)
		red_nl_event(rd, DM_RED_EV_EPOCH);
	red_copier_kick(rd);
	return 0;
}

/* ---- the worker ---------------------------------------------------- */

static void red_copier_send(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	struct red_preq *p;
	unsigned long flags;

	while (red_nl_daemon_present()) {
		spin_lock_irqsave(&c->lock, flags);
		p = list_first_entry_or_null(&c->outbox, struct red_preq, list);
		if (p)
			list_del_init(&p->list);
		spin_unlock_irqrestore(&c->lock, flags);
		if (!p)
			return;
		if (red_nl_send_preserve_done(rd, p)) {
			spin_lock_irqsave(&c->lock, flags);
			list_add(&p->list, &c->outbox);
			spin_unlock_irqrestore(&c->lock, flags);
			queue_delayed_work(rd->wq, &rd->resend_work, HZ / 10);
			return;
		}
		kfree(p);
	}
}

void red_copier_work(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	struct bio_list writes = BIO_EMPTY_LIST, redo = BIO_EMPTY_LIST;
	struct red_run run = { .nr = 0 };
	struct red_pending *pe;
	struct red_preq *p;
	unsigned long flags;
	LIST_HEAD(completing);
	LIST_HEAD(preqs);
	struct bio *bio;

	spin_lock_irqsave(&c->lock, flags);
	red_bio_list_take(&writes, &c->incoming);
	c->nr_held -= bio_list_size(&c->redo);
	red_bio_list_take(&redo, &c->redo);
	list_splice_init(&c->completing, &completing);
	list_splice_tail_init(&c->new_preqs, &preqs);
	spin_unlock_irqrestore(&c->lock, flags);

	while ((bio = bio_list_pop(&redo)))
		red_submit_mapped(bio, red_copier_route(rd, bio));
	while ((bio = bio_list_pop(&writes)))
		red_copier_write(rd, bio);
	while (!list_empty(&preqs)) {
		p = list_first_entry(&preqs, struct red_preq, list);
		spin_lock_irqsave(&c->lock, flags);
		list_move_tail(&p->list, &c->preqs);
		spin_unlock_irqrestore(&c->lock, flags);
		red_preq_start(rd, p, &run);
	}
	/* the requests of this pass may continue each other's runs */
	red_run_start(rd, &run);
	while (!list_empty(&completing)) {
		pe = list_first_entry(&completing, struct red_pending, list);
		list_del_init(&pe->list);
		red_pending_complete(rd, pe);
	}
	red_copier_send(rd);
}

void red_copier_resend(struct red_dev *rd)
{
	red_copier_kick(rd);
}

/* ---- membership ---------------------------------------------------- */

int red_copier_join_ack(struct red_dev *rd, u64 epoch)
{
	struct red_copier *c = &rd->c;
	unsigned long flags;

	if (!epoch)
		return -EINVAL;	/* epoch 0 is the writer's "no epoch yet" */
	spin_lock_irqsave(&c->lock, flags);
	if (rd->state != DM_RED_STATE_JOINING) {
		spin_unlock_irqrestore(&c->lock, flags);
		return -EINVAL;
	}
	WRITE_ONCE(rd->epoch, epoch);
	red_set_state(rd, DM_RED_STATE_ACTIVE);
	/* a read lease that ran out while joining (lease_policy suspend) */
	red_copier_lease_check_locked(rd);
	red_bio_list_take(&c->redo, &c->joining_held);
	spin_unlock_irqrestore(&c->lock, flags);
	DMINFO("%s: joined at epoch %llu", rd->name, epoch);
	red_nl_event(rd, DM_RED_EV_STATE);
	red_copier_kick(rd);
	return 0;
}

/*
 * The read lease ran out: the writer no longer waits for this copier, so
 * the LUN may hold data written after its join point.  Act on it as the
 * table says (red_copier_expire_locked: fail, or hold the I/O), once per
 * expiry report it, and on a failed device fail the bios still held.
 * Queued for the expiry time by LEASE, and at once by the map path when
 * it notices the expiry first.
 */
static void red_copier_lease_work(struct work_struct *work)
{
	struct red_copier *c = container_of(to_delayed_work(work),
					    struct red_copier, lease_work);
	struct red_dev *rd = container_of(c, struct red_dev, c);
	struct bio_list bios = BIO_EMPTY_LIST;
	enum dm_red_state state;
	unsigned long flags;
	bool report = false;
	struct bio *bio;

	spin_lock_irqsave(&c->lock, flags);
	if (red_copier_lease_over_locked(c)) {
		red_copier_expire_locked(rd);
		if (!c->lease_reported) {
			c->lease_reported = true;
			report = true;
		}
		if (rd->state == DM_RED_STATE_FAILED) {
			/* nothing is held on a failed device */
			c->lease_armed = false;
			c->nr_held -= bio_list_size(&c->joining_held);
			red_bio_list_take(&bios, &c->joining_held);
		}
	}
	state = rd->state;
	spin_unlock_irqrestore(&c->lock, flags);
	if (report) {
		if (state == DM_RED_STATE_FAILED)
			DMERR("%s: read lease expired; the device fails all I/O until gc",
			      rd->name);
		else
			DMWARN("%s: read lease expired; I/O is held until LEASE, PROMOTE or gc",
			       rd->name);
		red_nl_event(rd, DM_RED_EV_LEASE_EXPIRED);
		if (state == DM_RED_STATE_HELD)
			red_nl_event(rd, DM_RED_EV_STATE);
	}
	while ((bio = bio_list_pop(&bios)))
		bio_io_error(bio);
}

/* Milliseconds left on an armed read lease (0: none or run out). */
u32 red_copier_lease_left_ms(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	unsigned long flags, until;
	bool armed;

	spin_lock_irqsave(&c->lock, flags);
	armed = c->lease_armed;
	until = c->lease_until;
	spin_unlock_irqrestore(&c->lock, flags);
	if (!armed || !time_before(jiffies, until))
		return 0;
	return jiffies_to_msecs(until - jiffies);
}

/*
 * LEASE on a copier: arm or renew the read lease.  On a held copier, a
 * lease makes it active again and re-dispatches the held bios in order
 * (the worker routes redo first).  0 ends the lease and fails an active
 * or held copier at once, whatever its lease_policy: the daemon sends it
 * when it knows the writer no longer waits for this copier (an orderly
 * leave, an expulsion), so holding would only hang its users; the held
 * bios get EIO.  On a joining copier, 0 is an expiry like any other.
 */
int red_copier_lease(struct red_dev *rd, u32 ms)
{
	struct red_copier *c = &rd->c;
	struct bio_list bios = BIO_EMPTY_LIST;
	unsigned long flags;
	bool resumed = false, failed = false;
	struct bio *bio;

	spin_lock_irqsave(&c->lock, flags);
	c->lease_armed = true;
	c->lease_until = jiffies + msecs_to_jiffies(ms);
	if (ms)
		c->lease_reported = false;
	if (!ms && (rd->state == DM_RED_STATE_HELD ||
		    rd->state == DM_RED_STATE_ACTIVE)) {
		red_copier_fail_locked(rd);
		c->lease_armed = false;
		c->nr_held -= bio_list_size(&c->lease_held);
		red_bio_list_take(&bios, &c->lease_held);
		failed = true;
	} else if (ms && rd->state == DM_RED_STATE_HELD) {
		red_set_state(rd, DM_RED_STATE_ACTIVE);
		/* both lists count in nr_held */
		red_bio_list_take(&c->redo, &c->lease_held);
		resumed = true;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	if (!failed)
		mod_delayed_work(rd->wq, &c->lease_work, msecs_to_jiffies(ms));
	if (resumed) {
		DMINFO("%s: read lease granted; held I/O resumes", rd->name);
		red_nl_event(rd, DM_RED_EV_STATE);
		red_copier_kick(rd);
	} else if (failed) {
		DMERR("%s: read lease ended by the daemon; the device fails all I/O until gc",
		      rd->name);
		red_nl_event(rd, DM_RED_EV_STATE);
		while ((bio = bio_list_pop(&bios)))
			bio_io_error(bio);
	}
	return 0;
}

static bool red_copier_idle(struct red_copier *c)
{
	unsigned long flags;
	bool idle;

	spin_lock_irqsave(&c->lock, flags);
	idle = !c->nr_pending && !c->nr_preqs;
	spin_unlock_irqrestore(&c->lock, flags);
	return idle;
}

/*
 * gc: drop every exception and free the store's memory, then join again.
 *
 * 1. Refuse while the device is open: the DBMS must be stopped and the
 *    filesystem unmounted first.
 * 2. Go to joining: new bios are held, new preserves refused (-EAGAIN).
 *    The read lease is disarmed (a held copier's held bios, if any, now
 *    wait for the join like any other).
 * 3. Wait for the copies and preserves in progress to finish.
 * 4. Drop the exceptions and discard the store, so zram frees its pages.
 */
int red_copier_gc(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	struct red_exc *e;
	struct hlist_node *tmp;
	unsigned long flags, i;
	u64 dropped;
	int r;

	/* 1 */
	if (red_dev_is_open(rd)) {
		DMERR("%s: gc refused: the device is open", rd->name);
		return -EBUSY;
	}

	/* 2 */
	spin_lock_irqsave(&c->lock, flags);
	if (rd->state == DM_RED_STATE_PROMOTING) {
		spin_unlock_irqrestore(&c->lock, flags);
		DMERR("%s: gc refused: the copier is being promoted", rd->name);
		return -EBUSY;
	}
	red_set_state(rd, DM_RED_STATE_JOINING);
	c->lease_armed = false;
	c->lease_reported = false;
	red_bio_list_take(&c->joining_held, &c->lease_held);
	spin_unlock_irqrestore(&c->lock, flags);
	cancel_delayed_work_sync(&c->lease_work);

	/* 3 */
	flush_workqueue(rd->wq);
	wait_event(c->idle_wait, red_copier_idle(c));
	flush_workqueue(rd->wq);

	/* 4 */
	spin_lock_irqsave(&c->lock, flags);
	dropped = c->store_next;
	for (i = 0; i < (1UL << c->ex_bits); i++) {
		hlist_for_each_entry_safe(e, tmp, &c->ex_hash[i], hnode) {
			hlist_del(&e->hnode);
			kmem_cache_free(red_exc_cache, e);
		}
	}
	c->store_next = 0;
	WRITE_ONCE(rd->epoch, 0);
	spin_unlock_irqrestore(&c->lock, flags);

	r = blkdev_issue_discard(rd->store->bdev, 0,
				 bdev_nr_sectors(rd->store->bdev), GFP_KERNEL);
	if (r && r != -EOPNOTSUPP)
		DMWARN("%s: discarding the store failed: %d", rd->name, r);
	DMINFO("%s: gc dropped %llu exceptions; rejoining", rd->name, dropped);
	red_nl_event(rd, DM_RED_EV_GC);
	return 0;
}

/* ---- set-up, status ------------------------------------------------ */

int red_copier_init(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	int r;

	spin_lock_init(&c->lock);
	c->store_total = bdev_nr_sectors(rd->store->bdev) >> rd->chunk_shift;
	c->ex_bits = clamp_t(unsigned int,
			     order_base_2(max_t(u64, c->store_total, 1)),
			     RED_HASH_BITS, 20);
	c->ex_hash = kvcalloc(1UL << c->ex_bits, sizeof(*c->ex_hash),
			      GFP_KERNEL);
	if (!c->ex_hash)
		return -ENOMEM;
	hash_init(c->pe_hash);
	hash_init(c->tracked);
	bio_list_init(&c->joining_held);
	bio_list_init(&c->lease_held);
	bio_list_init(&c->incoming);
	bio_list_init(&c->redo);
	INIT_LIST_HEAD(&c->completing);
	INIT_LIST_HEAD(&c->new_preqs);
	INIT_LIST_HEAD(&c->preqs);
	INIT_LIST_HEAD(&c->outbox);
	init_waitqueue_head(&c->idle_wait);
	INIT_LIST_HEAD(&c->wb_todo);
	INIT_LIST_HEAD(&c->wb_ready);
	hash_init(c->wb_busy);
	bio_list_init(&c->wb_redo);
	bio_list_init(&c->wb_flushes);
	INIT_DELAYED_WORK(&c->lease_work, red_copier_lease_work);

	r = mempool_init_kmalloc_pool(&c->pe_pool, RED_PENDING_RESERVE,
				      sizeof(struct red_pending));
	if (r)
		goto bad_pe_pool;
	r = mempool_init_kmalloc_pool(&c->wt_pool, RED_WAITER_RESERVE,
				      sizeof(struct red_waiter));
	if (r)
		goto bad_wt_pool;
	c->kc = dm_kcopyd_client_create(NULL);
	if (IS_ERR(c->kc)) {
		r = PTR_ERR(c->kc);
		goto bad_kc;
	}
	c->io = dm_io_client_create();
	if (IS_ERR(c->io)) {
		r = PTR_ERR(c->io);
		goto bad_io;
	}
	c->copy_wq = alloc_workqueue("dm-red-copy-%s",
				     WQ_UNBOUND | WQ_MEM_RECLAIM, 0, rd->name);
	if (!c->copy_wq) {
		r = -ENOMEM;
		goto bad_wq;
	}
	/* no I/O until the join is acknowledged */
	rd->state = DM_RED_STATE_JOINING;
	rd->epoch = 0;
	return 0;

bad_wq:
	dm_io_client_destroy(c->io);
bad_io:
	dm_kcopyd_client_destroy(c->kc);
bad_kc:
	mempool_exit(&c->wt_pool);
bad_wt_pool:
	mempool_exit(&c->pe_pool);
bad_pe_pool:
	kvfree(c->ex_hash);
	return r;
}

static bool red_copier_no_copies(struct red_copier *c)
{
	unsigned long flags;
	bool none;

	spin_lock_irqsave(&c->lock, flags);
	none = !c->copy_pages;
	spin_unlock_irqrestore(&c->lock, flags);
	return none;
}

/*
 * Tear down, from red_dtr (or a failed constructor).
 *
 * 1. No bio is in flight or held.  dm suspends a device before its table
 *    is destroyed, and a suspend waits for every bio the target holds: a
 *    held copier's held bios keep a suspend waiting, interruptibly, until
 *    LEASE, LEASE 0 or PROMOTE releases them, exactly like a writer's
 *    writes held for its lease.  A remove is refused while the device is
 *    open, and a held copier that is not open holds no bio, so removing it
 *    does not wait.  Should dm destroy a device without that wait, any bio
 *    still held is failed below rather than leaked.
 * 2. Wait for the run copies in flight (red_copy_finish), then destroy
 *    their workqueue and dm-io client, and the kcopyd client: its copies
 *    in progress finish first.
 * 3. Stop the expiry work: no state change after this.
 * 4. Stop the worker, then free the exceptions and the requests.
 */
void red_copier_exit(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	struct bio_list bios = BIO_EMPTY_LIST;
	struct red_preq *p, *ptmp;
	struct red_exc *e;
	struct hlist_node *tmp;
	unsigned long i;
	struct bio *bio;

	/* 2 */
	wait_event(c->idle_wait, red_copier_no_copies(c));
	destroy_workqueue(c->copy_wq);
	dm_io_client_destroy(c->io);
	dm_kcopyd_client_destroy(c->kc);
	/* 3 */
	cancel_delayed_work_sync(&c->lease_work);
	/* 4 */
	cancel_work_sync(&rd->work);
	/* 1: nothing, normally */
	red_bio_list_take(&bios, &c->lease_held);
	bio_list_merge(&bios, &c->joining_held);
	bio_list_init(&c->joining_held);
	if (!bio_list_empty(&bios))
		DMWARN("%s: removed with %u held bio(s); they fail", rd->name,
		       bio_list_size(&bios));
	while ((bio = bio_list_pop(&bios)))
		bio_io_error(bio);
	for (i = 0; i < (1UL << c->ex_bits); i++) {
		hlist_for_each_entry_safe(e, tmp, &c->ex_hash[i], hnode) {
			hlist_del(&e->hnode);
			kmem_cache_free(red_exc_cache, e);
		}
	}
	kvfree(c->ex_hash);
	mempool_exit(&c->wt_pool);
	mempool_exit(&c->pe_pool);
	list_splice_init(&c->new_preqs, &c->outbox);
	list_splice_init(&c->preqs, &c->outbox);
	list_for_each_entry_safe(p, ptmp, &c->outbox, list)
		kfree(p);
}

void red_copier_stats(struct red_dev *rd, u64 *used, unsigned long *held,
		      unsigned long *outstanding, unsigned int *oldest_ms)
{
	struct red_copier *c = &rd->c;
	struct red_preq *p;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	*used = rd->role == DM_RED_ROLE_WRITER ? c->wb_left : c->store_next;
	*held = c->nr_held;
	*outstanding = c->nr_preqs;
	p = list_first_entry_or_null(&c->preqs, struct red_preq, list);
	*oldest_ms = p ? jiffies_to_msecs(jiffies - p->born) : 0;
	spin_unlock_irqrestore(&c->lock, flags);
}
