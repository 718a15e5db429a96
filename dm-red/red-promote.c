// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-red promotion: a copier becomes the writer.
 *
 * The daemon sends PROMOTE only once the old writer is fenced or its write
 * lease has certainly expired.  Then:
 *
 * 1. PROMOTE (state promoting), from active or held (a copier whose read
 *    lease ran out under lease_policy suspend, typically because the
 *    writer is the node that died): new bios are held, and so are the
 *    bios held so far; preserves are refused.
 * 2. promote_work: wait for the copies and preserves in progress, set up
 *    the writer state for the new epoch, list every exception for
 *    write-back (by chunk), and flip the role to writer (status shows
 *    writeback while exceptions remain).
 * 3. The write-back (red_promote_step, in the worker) takes up to
 *    RED_WB_WINDOW exceptions at a time.  Each chunk is made stable with
 *    the remaining copiers like any first write; then it is claimed: every
 *    new bio of it is held, and its store I/O in flight drains; then it is
 *    copied from the store to the LUN under the write lease, holding an
 *    inflight ref (an epoch change waits for it).  Then the exception is
 *    dropped and the held bios are routed again: to the LUN from now on.  Meanwhile I/O to the
 *    other exceptions goes to the store (tracked), any other I/O takes the
 *    writer path, and flushes and FUA writes to the store wait: the node's
 *    earlier writes live in the store until they are written back.
 * 4. The end (red_promote_finish): flush the LUN, wait for the last store
 *    I/O, discard the store so zram frees its memory, release the held
 *    flushes.  The device is a plain writer (event PROMOTED).
 */
#include <linux/blkdev.h>
#include <linux/list_sort.h>
#include <linux/slab.h>

#include "red.h"

#define RED_WB_WINDOW	256

static void red_promote_kick(struct red_dev *rd)
{
	queue_work(rd->wq, &rd->work);
}

/* Locked (c->lock). */
static struct red_wb *red_wb_find(struct red_copier *c, u64 chunk)
{
	struct red_wb *wb;

	lockdep_assert_held(&c->lock);

	hash_for_each_possible(c->wb_busy, wb, hnode, chunk)
		if (wb->chunk == chunk)
			return wb;
	return NULL;
}

int red_promote(struct red_dev *rd, u64 epoch, u32 members)
{
	struct red_copier *c = &rd->c;
	unsigned long flags;
	int r = 0;

	spin_lock_irqsave(&c->lock, flags);
	if (rd->role != DM_RED_ROLE_COPIER ||
	    (rd->state != DM_RED_STATE_ACTIVE &&
	     rd->state != DM_RED_STATE_HELD)) {
		r = -EBUSY;
	} else if (epoch <= rd->epoch) {
		r = -ESTALE;
	} else {
		red_set_state(rd, DM_RED_STATE_PROMOTING);
		c->promote_epoch = epoch;
		c->promote_members = members;
		/*
		 * From held: the held bios wait for the promotion like any
		 * new bio (both lists count in nr_held); the read lease that
		 * ran out no longer matters once this node is the writer.
		 */
		red_bio_list_take(&c->joining_held, &c->lease_held);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	if (r)
		return r;
	DMINFO("%s: promoting to writer at epoch %llu with %u copier(s)",
	       rd->name, epoch, members);
	red_nl_event(rd, DM_RED_EV_STATE);
	queue_work(system_long_wq, &rd->promote_work);
	return 0;
}

static bool red_promote_quiet(struct red_copier *c)
{
	unsigned long flags;
	bool quiet;

	spin_lock_irqsave(&c->lock, flags);
	quiet = !c->nr_pending && !c->nr_preqs;
	spin_unlock_irqrestore(&c->lock, flags);
	return quiet;
}

static int red_wb_cmp(void *priv, const struct list_head *a,
		      const struct list_head *b)
{
	const struct red_wb *wa = list_entry(a, struct red_wb, list);
	const struct red_wb *wb = list_entry(b, struct red_wb, list);

	if (wa->chunk < wb->chunk)
		return -1;
	return wa->chunk > wb->chunk;
}

/* Step 2 of the comment at the top; runs on system_long_wq. */
void red_promote_work(struct work_struct *work)
{
	struct red_dev *rd = container_of(work, struct red_dev, promote_work);
	struct red_copier *c = &rd->c;
	struct red_wb *arr = NULL, *wb;
	struct red_exc *e;
	unsigned long flags, i;
	LIST_HEAD(wbs);
	u64 n, nr;
	int r;

	/* finish the copies and preserves in progress (new ones wait) */
	flush_workqueue(rd->wq);
	wait_event(c->idle_wait, red_promote_quiet(c));
	flush_workqueue(rd->wq);

	r = red_writer_setup(rd, c->promote_members);
	if (r)
		goto fail;

	/*
	 * The exceptions cannot change now: nothing is pending, preserves
	 * are refused and I/O is held.  Each has its own store chunk, so
	 * there are at most store_next of them.
	 */
	nr = READ_ONCE(c->store_next);
	arr = kvcalloc(max_t(u64, nr, 1), sizeof(*arr), GFP_KERNEL);
	if (!arr) {
		r = -ENOMEM;
		goto fail_writer;
	}
	n = 0;
	for (i = 0; i < (1UL << c->ex_bits); i++) {
		hlist_for_each_entry(e, &c->ex_hash[i], hnode) {
			if (WARN_ON_ONCE(n >= nr))
				break;
			wb = &arr[n++];
			wb->rd = rd;
			wb->chunk = e->chunk;
			wb->store_chunk = e->store_chunk;
			bio_list_init(&wb->held);
			INIT_HLIST_NODE(&wb->hnode);
			list_add_tail(&wb->list, &wbs);
		}
	}
	list_sort(NULL, &wbs, red_wb_cmp);

	/* the read lease no longer matters: this node is the writer */
	spin_lock_irqsave(&c->lock, flags);
	c->lease_armed = false;
	spin_unlock_irqrestore(&c->lock, flags);
	cancel_delayed_work_sync(&c->lease_work);

	spin_lock_irqsave(&c->lock, flags);
	if (rd->state != DM_RED_STATE_PROMOTING) {
		/* failed meanwhile (store error) */
		/* the held bios fail with the device (routed again) */
		red_bio_list_take(&c->redo, &c->joining_held);
		spin_unlock_irqrestore(&c->lock, flags);
		kvfree(arr);
		red_writer_exit(rd);
		rd->w.ready = false;
		DMERR("%s: promotion abandoned: the copier failed", rd->name);
		red_promote_kick(rd);
		return;
	}
	c->wb_array = arr;
	list_splice_init(&wbs, &c->wb_todo);
	c->wb_total = n;
	c->wb_left = n;
	c->wb_inflight = 0;
	c->wb_started = jiffies;
	WRITE_ONCE(c->wb_active, true);
	WRITE_ONCE(rd->epoch, c->promote_epoch);
	red_set_state(rd, DM_RED_STATE_ACTIVE);
	/* pairs with red_role(): w and wb_active are set up before */
	smp_store_release(&rd->role, DM_RED_ROLE_WRITER);
	/* everything held or queued is routed on the promoted path */
	bio_list_merge(&c->wb_redo, &c->joining_held);
	bio_list_merge(&c->wb_redo, &c->redo);
	bio_list_merge(&c->wb_redo, &c->incoming);
	bio_list_init(&c->joining_held);
	bio_list_init(&c->redo);
	bio_list_init(&c->incoming);
	spin_unlock_irqrestore(&c->lock, flags);

	DMINFO("%s: promoted to writer at epoch %llu; writing back %llu chunk(s)",
	       rd->name, rd->epoch, n);
	red_nl_event(rd, DM_RED_EV_STATE);
	red_promote_kick(rd);
	return;

fail_writer:
	red_writer_exit(rd);
	rd->w.ready = false;
fail:
	DMERR("%s: cannot promote (%d); still a copier", rd->name, r);
	spin_lock_irqsave(&c->lock, flags);
	if (rd->state == DM_RED_STATE_PROMOTING) {
		red_set_state(rd, DM_RED_STATE_ACTIVE);
		/* back to held (or failed) if the read lease has run out */
		red_copier_lease_check_locked(rd);
	}
	/* both lists count in nr_held */
	red_bio_list_take(&c->redo, &c->joining_held);
	spin_unlock_irqrestore(&c->lock, flags);
	red_nl_event(rd, DM_RED_EV_STATE);
	red_promote_kick(rd);
}

/*
 * Map on a promoted copier while the write-back runs.  Locked decisions
 * against the claimed chunks and the exceptions; everything else takes
 * the writer path.
 */
int red_promote_map(struct red_dev *rd, struct bio *bio)
{
	struct red_copier *c = &rd->c;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));
	unsigned long flags;
	struct red_exc *e;
	struct red_wb *wb;

	if (unlikely(red_writer_fenced(rd)))
		return DM_MAPIO_KILL;
	spin_lock_irqsave(&c->lock, flags);
	if (!c->wb_active) {
		spin_unlock_irqrestore(&c->lock, flags);
		return red_writer_map(rd, bio);
	}
	if (!bio_sectors(bio)) {
		/* a flush: the node's earlier writes are still in the store */
		bio_list_add(&c->wb_flushes, bio);
		goto held;
	}
	pb->chunk = red_chunk(rd, bio->bi_iter.bi_sector);
	wb = red_wb_find(c, pb->chunk);
	if (wb) {
		bio_list_add(&wb->held, bio);
		goto held;
	}
	e = red_exc_find(c, pb->chunk);
	if (!e) {
		spin_unlock_irqrestore(&c->lock, flags);
		return red_writer_map(rd, bio);
	}
	if (bio->bi_opf & (REQ_FUA | REQ_PREFLUSH)) {
		/* durable only on the LUN: after the write-back */
		bio_list_add(&c->wb_flushes, bio);
		goto held;
	}
	pb->flags |= RED_BIO_TRACKED;
	hash_add(c->tracked, &pb->tnode, pb->chunk);
	c->nr_tracked++;
	red_remap_store(rd, bio, e);
	spin_unlock_irqrestore(&c->lock, flags);
	return DM_MAPIO_REMAPPED;

held:
	c->nr_held++;
	spin_unlock_irqrestore(&c->lock, flags);
	return DM_MAPIO_SUBMITTED;
}

/*
 * The writer is fenced (LEASE 0) while the write-back runs: take every bio
 * it holds (flushes, the bios of claimed chunks, those to route again) into
 * @bios, to be failed.  The write-back itself stops: it needs the write
 * lease, which never comes back.
 */
void red_promote_fence(struct red_dev *rd, struct bio_list *bios)
{
	struct red_copier *c = &rd->c;
	unsigned long flags;
	struct red_wb *wb;
	unsigned int i;

	spin_lock_irqsave(&c->lock, flags);
	c->nr_held -= bio_list_size(&c->wb_flushes) + bio_list_size(&c->wb_redo);
	red_bio_list_take(bios, &c->wb_flushes);
	red_bio_list_take(bios, &c->wb_redo);
	hash_for_each(c->wb_busy, i, wb, hnode) {
		c->nr_held -= bio_list_size(&wb->held);
		red_bio_list_take(bios, &wb->held);
	}
	spin_unlock_irqrestore(&c->lock, flags);
}

/*
 * The chunk of @wb is stable: hold its bios from now on, and route it again
 * (to its copy) once its store I/O in flight has drained.  Worker.
 */
void red_promote_claim(struct red_dev *rd, struct red_wb *wb)
{
	struct red_copier *c = &rd->c;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	wb->claimed = true;
	hash_add(c->wb_busy, &wb->hnode, wb->chunk);
	if (red_tracked_busy(c, wb->chunk))
		wb->drain_wait = true;
	else
		list_add_tail(&wb->list, &c->wb_ready);
	spin_unlock_irqrestore(&c->lock, flags);
	red_promote_kick(rd);
}

/*
 * A tracked store bio of @chunk completed: if it was the last one a
 * claimed write-back waited for, that one may go on.  Locked.
 */
bool red_promote_drained_locked(struct red_dev *rd, u64 chunk)
{
	struct red_copier *c = &rd->c;
	struct red_wb *wb = red_wb_find(c, chunk);

	if (!wb || !wb->drain_wait || red_tracked_busy(c, chunk))
		return false;
	wb->drain_wait = false;
	list_add_tail(&wb->list, &c->wb_ready);
	return true;
}

static void red_wb_copied(int read_err, unsigned long write_err,
			  void *context)
{
	struct red_wb *wb = context;
	struct red_dev *rd = wb->rd;
	struct red_copier *c = &rd->c;
	struct red_exc *e = NULL;
	unsigned long flags;
	bool failed = read_err || write_err;

	spin_lock_irqsave(&c->lock, flags);
	if (failed) {
		/* still claimed, its bios still held: tried again */
		list_add_tail(&wb->list, &c->wb_ready);
	} else {
		e = red_exc_find(c, wb->chunk);
		if (e)
			hlist_del(&e->hnode);
		hash_del(&wb->hnode);
		c->wb_inflight--;
		c->wb_left--;
		red_bio_list_take(&c->wb_redo, &wb->held);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	/* after the exception is gone: a new epoch's join point follows it */
	percpu_ref_put(&rd->w.inflight);
	if (e)
		kmem_cache_free(red_exc_cache, e);

	if (failed) {
		atomic64_inc(&rd->stat_errors);
		DMERR_LIMIT("%s: write-back of chunk %llu failed (read %d, write %lu); retrying",
			    rd->name, wb->chunk, read_err, write_err);
		queue_delayed_work(rd->wq, &rd->resend_work, HZ);
		return;
	}
	red_promote_kick(rd);
}

/* Called by the writer path with an inflight ref held for the copy. */
void red_promote_copy(struct red_dev *rd, struct red_wb *wb)
{
	red_copy_chunks(rd, rd->store->bdev, wb->store_chunk, rd->lun->bdev,
			wb->chunk, 1, red_wb_copied, wb);
}

static bool red_promote_no_store_io(struct red_copier *c)
{
	unsigned long flags;
	bool none;

	spin_lock_irqsave(&c->lock, flags);
	none = !c->nr_tracked;
	spin_unlock_irqrestore(&c->lock, flags);
	return none;
}

/* Step 4 of the comment at the top. */
static void red_promote_finish(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	struct bio_list held = BIO_EMPTY_LIST;
	unsigned long flags;
	struct bio *bio;
	int r, d;

	r = blkdev_issue_flush(rd->lun->bdev);
	/* no exception is left, so no new store I/O can start */
	wait_event(c->idle_wait, red_promote_no_store_io(c));
	d = blkdev_issue_discard(rd->store->bdev, 0,
				 bdev_nr_sectors(rd->store->bdev), GFP_KERNEL);
	if (d && d != -EOPNOTSUPP)
		DMWARN("%s: discarding the store failed: %d", rd->name, d);

	spin_lock_irqsave(&c->lock, flags);
	WRITE_ONCE(c->wb_active, false);
	c->nr_held -= bio_list_size(&c->wb_flushes);
	red_bio_list_take(&held, &c->wb_flushes);
	c->store_next = 0;
	spin_unlock_irqrestore(&c->lock, flags);

	if (r)
		DMERR("%s: flushing the LUN after the write-back failed: %d",
		      rd->name, r);
	else
		DMINFO("%s: write-back done: %llu chunk(s) in %u ms; a plain writer now",
		       rd->name, c->wb_total,
		       jiffies_to_msecs(jiffies - c->wb_started));
	while ((bio = bio_list_pop(&held))) {
		if (r)
			bio_io_error(bio);
		else
			red_submit_mapped(bio, red_writer_map(rd, bio));
	}
	red_nl_event(rd, DM_RED_EV_PROMOTED);
}

/* Step 3 of the comment at the top: one pass of the worker. */
void red_promote_step(struct red_dev *rd)
{
	struct red_copier *c = &rd->c;
	struct bio_list bios = BIO_EMPTY_LIST;
	struct red_wb *wb, *tmp;
	unsigned long flags;
	LIST_HEAD(ready);
	bool finish;
	struct bio *bio;

	spin_lock_irqsave(&c->lock, flags);
	if (!c->wb_active || c->wb_finishing) {
		spin_unlock_irqrestore(&c->lock, flags);
		return;
	}
	c->nr_held -= bio_list_size(&c->wb_redo);
	red_bio_list_take(&bios, &c->wb_redo);
	list_splice_init(&c->wb_ready, &ready);
	while (c->wb_inflight < RED_WB_WINDOW && !list_empty(&c->wb_todo)) {
		wb = list_first_entry(&c->wb_todo, struct red_wb, list);
		list_move_tail(&wb->list, &ready);
		c->wb_inflight++;
	}
	finish = !c->wb_left;
	if (finish)
		c->wb_finishing = true;
	spin_unlock_irqrestore(&c->lock, flags);

	while ((bio = bio_list_pop(&bios)))
		red_submit_mapped(bio, red_promote_map(rd, bio));
	list_for_each_entry_safe(wb, tmp, &ready, list) {
		list_del_init(&wb->list);
		red_writer_wb_route(rd, wb);
	}
	if (finish)
		red_promote_finish(rd);
}

/* Tear down (the device is suspended, the workers stopped). */
void red_promote_exit(struct red_dev *rd)
{
	kvfree(rd->c.wb_array);
	rd->c.wb_array = NULL;
}
