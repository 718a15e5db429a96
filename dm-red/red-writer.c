// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-red writer path.
 *
 * Reads and flushes pass through.  A write (also discard and write-zeroes)
 * passes through when every chunk it touches is stable in the current
 * epoch and the write lease is valid; that test is the fast path and takes
 * no lock.  Any other write is held: its unstable chunks are sent to the
 * daemon as batched, coalesced STABILIZE requests, and the bio is routed
 * again when the daemon acks (the epoch may have moved meanwhile).
 *
 * Epochs: a new epoch (a copier joining) drains the writes in flight, then
 * installs a new stable map in which every chunk is unstable.  Writes passed
 * on the fast path hold a reference on w->inflight; killing that reference
 * both makes new writes take the slow path and lets the epoch worker wait
 * for the ones in flight.
 */
#include <linux/blkdev.h>
#include <linux/list_sort.h>
#include <linux/slab.h>

#include "red.h"

#define RED_BITS_PER_PAGE	(PAGE_SIZE * BITS_PER_BYTE)

/* ---- stable map ---------------------------------------------------- */

static struct red_smap *red_smap_alloc(u64 nr_chunks, bool all_stable)
{
	unsigned long nr_pages = DIV_ROUND_UP_ULL(nr_chunks, RED_BITS_PER_PAGE);
	struct red_smap *sm;

	sm = kvzalloc(struct_size(sm, pages, nr_pages), GFP_KERNEL);
	if (!sm)
		return NULL;
	sm->all_stable = all_stable;
	sm->nr_pages = nr_pages;
	return sm;
}

static void red_smap_free(struct red_smap *sm)
{
	unsigned long i;

	if (!sm)
		return;
	for (i = 0; i < sm->nr_pages; i++)
		if (sm->pages[i])
			free_page((unsigned long)sm->pages[i]);
	kvfree(sm);
}

static bool red_smap_test(struct red_smap *sm, u64 chunk)
{
	unsigned long *page;

	if (sm->all_stable)
		return true;
	page = READ_ONCE(sm->pages[chunk / RED_BITS_PER_PAGE]);
	return page && test_bit(chunk % RED_BITS_PER_PAGE, page);
}

static bool red_smap_range_stable(struct red_smap *sm, u64 first, u64 last)
{
	u64 c;

	if (sm->all_stable)
		return true;
	for (c = first; c <= last; c++)
		if (!red_smap_test(sm, c))
			return false;
	return true;
}

/* Make sure the pages for [first, last] exist.  Sleeps. */
static int red_smap_prepare(struct red_smap *sm, u64 first, u64 last)
{
	unsigned long i;
	unsigned long *page;

	if (sm->all_stable)
		return 0;
	for (i = first / RED_BITS_PER_PAGE; i <= last / RED_BITS_PER_PAGE; i++) {
		if (READ_ONCE(sm->pages[i]))
			continue;
		page = (unsigned long *)get_zeroed_page(GFP_KERNEL);
		if (!page)
			return -ENOMEM;
		if (cmpxchg(&sm->pages[i], NULL, page))
			free_page((unsigned long)page);
	}
	return 0;
}

/* Set the bits of a prepared range; returns how many were newly set. */
static u64 red_smap_set(struct red_smap *sm, u64 first, u64 last)
{
	u64 c, n = 0;

	if (sm->all_stable)
		return 0;
	for (c = first; c <= last; c++)
		if (!test_and_set_bit(c % RED_BITS_PER_PAGE,
				      sm->pages[c / RED_BITS_PER_PAGE]))
			n++;
	return n;
}

/* ---- helpers ------------------------------------------------------- */

static bool red_lease_ok(struct red_writer *w)
{
	return READ_ONCE(w->lease_valid) &&
	       time_before(jiffies, READ_ONCE(w->lease_until));
}

u32 red_writer_lease_left_ms(struct red_dev *rd)
{
	struct red_writer *w = &rd->w;
	unsigned long until = READ_ONCE(w->lease_until);

	if (!red_lease_ok(w))
		return 0;
	return jiffies_to_msecs(until - jiffies);
}

static struct red_stab *red_stab_find(struct red_writer *w, u64 chunk)
{
	struct red_stab *st;

	lockdep_assert_held(&w->lock);

	hash_for_each_possible(w->stabs, st, hnode, chunk)
		if (st->chunk == chunk)
			return st;
	return NULL;
}

/*
 * Start stabilizing @chunk with the preallocated entry @st: hash it and put
 * it on @queue (w->unsent or w->unsent_ahead) for the next batch.  Called
 * under w->lock, for a chunk neither stable nor already being stabilized.
 */
static struct red_stab *red_stab_add(struct red_writer *w, struct red_stab *st,
				     u64 chunk, struct list_head *queue)
{
	lockdep_assert_held(&w->lock);
	st->chunk = chunk;
	bio_list_init(&st->bios);
	INIT_LIST_HEAD(&st->wbs);
	hash_add(w->stabs, &st->hnode, chunk);
	list_add_tail(&st->unsent, queue);
	return st;
}

static void red_bio_chunks(struct red_dev *rd, struct bio *bio, u64 *first,
			   u64 *last)
{
	*first = red_chunk(rd, bio->bi_iter.bi_sector);
	*last = red_chunk(rd, bio_end_sector(bio) - 1);
}

static void red_writer_kick(struct red_dev *rd)
{
	queue_work(rd->wq, &rd->work);
}

/* ---- map ----------------------------------------------------------- */

/*
 * The fast path.  Holding an inflight reference pins the epoch: the epoch
 * worker swaps the stable map only after the reference has been killed and
 * has dropped to zero.
 */
static bool red_writer_fast(struct red_dev *rd, struct bio *bio)
{
	struct red_writer *w = &rd->w;
	struct red_smap *sm;
	u64 first, last;
	bool ok;

	if (unlikely(!red_lease_ok(w)))
		return false;
	if (unlikely(!percpu_ref_tryget_live(&w->inflight)))
		return false;
	red_bio_chunks(rd, bio, &first, &last);
	rcu_read_lock();
	sm = rcu_dereference(w->smap);
	ok = red_smap_range_stable(sm, first, last);
	rcu_read_unlock();
	if (!ok)
		percpu_ref_put(&w->inflight);
	return ok;
}

int red_writer_map(struct red_dev *rd, struct bio *bio)
{
	struct red_writer *w = &rd->w;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));

	if (unlikely(READ_ONCE(w->fenced)))
		return DM_MAPIO_KILL;
	bio_set_dev(bio, rd->lun->bdev);
	if (!op_is_write(bio_op(bio)) || !bio_sectors(bio))
		return DM_MAPIO_REMAPPED;

	if (likely(red_writer_fast(rd, bio))) {
		pb->flags |= RED_BIO_COUNTED;
		return DM_MAPIO_REMAPPED;
	}

	spin_lock(&w->lock);
	w->nr_held++;
	bio_list_add(&w->incoming, bio);
	spin_unlock(&w->lock);
	red_writer_kick(rd);
	return DM_MAPIO_SUBMITTED;
}

void red_writer_end_io(struct red_dev *rd, struct bio *bio)
{
	percpu_ref_put(&rd->w.inflight);
}

/* ---- the worker ---------------------------------------------------- */

static void red_free_stabs(struct red_writer *w, struct list_head *list)
{
	struct red_stab *st, *tmp;

	list_for_each_entry_safe(st, tmp, list, unsent)
		mempool_free(st, &w->stab_pool);
}

/*
 * Route one held write, in process context.
 *
 * 1. While draining for a new epoch, it waits on drain_held.
 * 2. Without a lease, it waits on lease_held or fails (lease_policy).
 * 3. If every chunk is stable it is issued, holding an inflight ref
 *    (w->blocked is false under the lock, so the ref is live).
 * 4. Otherwise every unstable chunk gets a stabilization entry (new ones
 *    go on w->unsent for the next batch) and the bio waits on the entry
 *    of its first unstable chunk; the ack of that chunk routes it again.
 * 5. With stabilize_ahead, a write that continues a sequential stream
 *    also asks for the unstable chunks after it (red_writer_ahead); those
 *    entries go on w->unsent_ahead, batched after the writes' own, and no
 *    bio waits on them: the stream's next writes find them stable, or
 *    already on the way.
 */
/*
 * The stream detector of stabilize_ahead.  A held write of [first, last]
 * continues the sequential stream when it starts after the first chunk of
 * the previous held write and at most one chunk past what was asked for
 * then; it returns the last chunk to stabilize: beyond @last for a
 * stream, else @last.  A write routed again (after the ack it waited for)
 * is not a new write, and a write in the same chunk as the previous one
 * (4 KiB writes filling a chunk) neither starts nor moves a stream.
 * Called under w->lock.
 */
static u64 red_writer_ahead(struct red_dev *rd, struct red_bio *pb, u64 first,
			    u64 last)
{
	struct red_writer *w = &rd->w;

	lockdep_assert_held(&w->lock);

	if (!w->ahead_max || (pb->flags & RED_BIO_SEEN))
		return last;
	if (first > w->seq_lo && first <= w->seq_next)
		return min_t(u64, last + w->ahead_max, rd->nr_chunks - 1);
	return last;
}

/* The write has been seen: move the stream to it (see red_writer_ahead). */
static void red_writer_ahead_seen(struct red_dev *rd, struct red_bio *pb,
				  u64 first, u64 ahead)
{
	struct red_writer *w = &rd->w;

	lockdep_assert_held(&w->lock);

	if (!w->ahead_max || (pb->flags & RED_BIO_SEEN))
		return;
	pb->flags |= RED_BIO_SEEN;
	if (first == w->seq_lo)
		return;
	w->seq_lo = first;
	w->seq_next = ahead + 1;
}

static void red_writer_route(struct red_dev *rd, struct bio *bio)
{
	struct red_writer *w = &rd->w;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));
	struct red_stab *st, *wait_on = NULL;
	unsigned int need, must, nr_spare = 0;
	bool report = false, short_of_spares = false;
	LIST_HEAD(spare);
	struct red_smap *sm;
	u64 first, last, ahead, c;

	red_bio_chunks(rd, bio, &first, &last);
again:
	spin_lock(&w->lock);
	if (w->fenced)
		goto fail_unlock;
	if (w->blocked) {
		bio_list_add(&w->drain_held, bio);
		goto out_unlock;
	}
	if (!red_lease_ok(w)) {
		if (!w->lease_reported) {
			w->lease_reported = true;
			report = true;
		}
		if (w->lease_error)
			goto fail_unlock;
		bio_list_add(&w->lease_held, bio);
		goto out_unlock;
	}

	sm = rcu_dereference_protected(w->smap, lockdep_is_held(&w->lock));
	ahead = red_writer_ahead(rd, pb, first, last);
	need = 0;
	must = 0;
	for (c = first; c <= ahead; c++) {
		if (red_smap_test(sm, c) || red_stab_find(w, c))
			continue;
		need++;
		if (c <= last)
			must++;
	}
	if (need > nr_spare && (nr_spare < must || !short_of_spares)) {
		spin_unlock(&w->lock);
		/*
		 * The write's own chunks may wait for the pool's reserve (they
		 * give their entries back on the ack); the chunks ahead take
		 * what comes without waiting, and are skipped when none does.
		 */
		for (; nr_spare < need; nr_spare++) {
			if (nr_spare < must)
				st = mempool_alloc(&w->stab_pool, GFP_NOIO);
			else
				st = kmalloc(sizeof(*st),
					     GFP_NOWAIT | __GFP_NOWARN);
			if (!st) {
				short_of_spares = true;
				break;
			}
			list_add(&st->unsent, &spare);
		}
		goto again;
	}

	for (c = first; c <= last; c++) {
		if (red_smap_test(sm, c))
			continue;
		st = red_stab_find(w, c);
		if (!st) {
			st = list_first_entry(&spare, struct red_stab, unsent);
			list_del(&st->unsent);
			nr_spare--;
			red_stab_add(w, st, c, &w->unsent);
		}
		if (!wait_on)
			wait_on = st;
	}
	/* 5 */
	for (c = last + 1; c <= ahead; c++) {
		if (red_smap_test(sm, c) || red_stab_find(w, c))
			continue;
		if (list_empty(&spare)) {
			ahead = c - 1;
			break;
		}
		st = list_first_entry(&spare, struct red_stab, unsent);
		list_del(&st->unsent);
		nr_spare--;
		red_stab_add(w, st, c, &w->unsent_ahead);
	}
	red_writer_ahead_seen(rd, pb, first, ahead);

	if (!wait_on) {
		/* all stable: w->blocked is false, so the ref is live */
		if (percpu_ref_tryget_live(&w->inflight)) {
			w->nr_held--;
			spin_unlock(&w->lock);
			pb->flags |= RED_BIO_COUNTED;
			dm_submit_bio_remap(bio, NULL);
			goto out;
		}
		bio_list_add(&w->incoming, bio);
		spin_unlock(&w->lock);
		red_writer_kick(rd);
		goto out;
	}
	bio_list_add(&wait_on->bios, bio);
out_unlock:
	spin_unlock(&w->lock);
	goto out;
fail_unlock:
	/* fenced, or no lease with lease_policy error */
	w->nr_held--;
	spin_unlock(&w->lock);
	atomic64_inc(&rd->stat_errors);
	bio_io_error(bio);
out:
	red_free_stabs(w, &spare);
	if (report)
		red_nl_event(rd, DM_RED_EV_LEASE_EXPIRED);
}

static int red_stab_cmp(void *priv, const struct list_head *a,
			const struct list_head *b)
{
	const struct red_stab *sa = list_entry(a, struct red_stab, unsent);
	const struct red_stab *sb = list_entry(b, struct red_stab, unsent);

	if (sa->chunk < sb->chunk)
		return -1;
	return sa->chunk > sb->chunk;
}

/*
 * Put the new stabilization entries of @src (w->unsent or w->unsent_ahead)
 * into batches: sorted, coalesced into ranges, at most DM_RED_MAX_RANGES
 * ranges a batch.
 */
static void red_writer_batch_list(struct red_dev *rd, struct list_head *src)
{
	struct red_writer *w = &rd->w;
	struct red_batch *b;
	struct red_stab *st, *tmp;
	struct dm_red_range *r;
	LIST_HEAD(todo);

	for (;;) {
		b = mempool_alloc(&w->batch_pool, GFP_NOIO);
		spin_lock(&w->lock);
		if (list_empty(src)) {
			spin_unlock(&w->lock);
			mempool_free(b, &w->batch_pool);
			return;
		}
		list_splice_init(src, &todo);
		list_sort(NULL, &todo, red_stab_cmp);
		b->nr_ranges = 0;
		r = NULL;
		list_for_each_entry_safe(st, tmp, &todo, unsent) {
			if (r && st->chunk == r->start + r->count) {
				r->count++;
			} else if (b->nr_ranges < DM_RED_MAX_RANGES) {
				r = &b->ranges[b->nr_ranges++];
				r->start = st->chunk;
				r->count = 1;
			} else {
				break;	/* the rest waits for the next batch */
			}
			list_del_init(&st->unsent);
		}
		list_splice(&todo, src);
		INIT_LIST_HEAD(&todo);
		b->req_id = ++w->next_req_id;
		b->epoch = rd->epoch;
		b->sent = false;
		b->born = jiffies;
		list_add_tail(&b->list, &w->batches);
		w->nr_batches++;
		spin_unlock(&w->lock);
	}
}

/*
 * The writes' own entries first: a batch of chunks asked for ahead never
 * delays one that writes are waiting for.
 */
static void red_writer_batch(struct red_dev *rd)
{
	red_writer_batch_list(rd, &rd->w.unsent);
	red_writer_batch_list(rd, &rd->w.unsent_ahead);
}

/* Deliver the batches not yet delivered, and EPOCH_DONE. */
static void red_writer_send(struct red_dev *rd)
{
	struct red_writer *w = &rd->w;
	struct red_batch *b;
	struct sk_buff *skb;
	u64 req_id, epoch;
	int r;

	if (!red_nl_daemon_present())
		return;

	spin_lock(&w->lock);
	if (w->epoch_done_unsent) {
		w->epoch_done_unsent = false;
		req_id = w->epoch_req_id;
		epoch = rd->epoch;
		spin_unlock(&w->lock);
		r = red_nl_send_epoch_done(rd, req_id, epoch);
		spin_lock(&w->lock);
		if (r) {
			w->epoch_done_unsent = true;
			goto retry;
		}
	}

	for (;;) {
		list_for_each_entry(b, &w->batches, list)
			if (!b->sent)
				break;
		if (list_entry_is_head(b, &w->batches, list))
			break;
		spin_unlock(&w->lock);
		skb = red_nl_stabilize_msg(rd);
		if (!skb)
			goto retry_unlocked;
		spin_lock(&w->lock);
		/* the batch may have gone (epoch change, ack): look again */
		list_for_each_entry(b, &w->batches, list)
			if (!b->sent)
				break;
		if (list_entry_is_head(b, &w->batches, list)) {
			spin_unlock(&w->lock);
			nlmsg_free(skb);
			return;
		}
		r = red_nl_fill_ranges(skb, b->epoch, b->req_id, b->ranges,
				       b->nr_ranges);
		if (!r)
			b->sent = true;
		req_id = b->req_id;
		spin_unlock(&w->lock);
		if (!r)
			r = red_nl_send(skb);
		else
			nlmsg_free(skb);
		if (r) {
			spin_lock(&w->lock);
			list_for_each_entry(b, &w->batches, list)
				if (b->req_id == req_id)
					b->sent = false;
			goto retry;
		}
		spin_lock(&w->lock);
	}
	spin_unlock(&w->lock);
	return;

retry:
	spin_unlock(&w->lock);
retry_unlocked:
	if (red_nl_daemon_present())
		queue_delayed_work(rd->wq, &rd->resend_work, HZ / 10);
}

/*
 * Route one exception of a promoted copier to its write-back: once its
 * chunk is stable in the current epoch it is claimed (its bios held), and
 * once claimed and still stable its copy starts, under the write lease and
 * holding an inflight ref (so an epoch change waits for it).
 */
void red_writer_wb_route(struct red_dev *rd, struct red_wb *wb)
{
	struct red_writer *w = &rd->w;
	struct red_stab *st, *spare;
	struct red_smap *sm;

	spare = mempool_alloc(&w->stab_pool, GFP_NOIO);
	spin_lock(&w->lock);
	if (w->blocked || !red_lease_ok(w)) {
		/* the epoch worker and LEASE kick the worker again */
		list_add_tail(&wb->list, &w->wb_ready);
		goto out;
	}
	sm = rcu_dereference_protected(w->smap, lockdep_is_held(&w->lock));
	if (red_smap_test(sm, wb->chunk)) {
		if (!wb->claimed) {
			/* hold the chunk's bios first; routed again after */
			spin_unlock(&w->lock);
			mempool_free(spare, &w->stab_pool);
			red_promote_claim(rd, wb);
			return;
		}
		/* not blocked, so the ref is live */
		if (!percpu_ref_tryget_live(&w->inflight)) {
			list_add_tail(&wb->list, &w->wb_ready);
			goto out;
		}
		spin_unlock(&w->lock);
		mempool_free(spare, &w->stab_pool);
		red_promote_copy(rd, wb);
		return;
	}
	st = red_stab_find(w, wb->chunk);
	if (!st) {
		st = red_stab_add(w, spare, wb->chunk, &w->unsent);
		spare = NULL;
	}
	list_add_tail(&wb->list, &st->wbs);
out:
	spin_unlock(&w->lock);
	mempool_free(spare, &w->stab_pool);
}

void red_writer_work(struct red_dev *rd)
{
	struct red_writer *w = &rd->w;
	struct bio_list bios = BIO_EMPTY_LIST;
	struct red_wb *wb, *tmp;
	LIST_HEAD(wbs);
	struct bio *bio;

	spin_lock(&w->lock);
	red_bio_list_take(&bios, &w->incoming);
	list_splice_init(&w->wb_ready, &wbs);
	spin_unlock(&w->lock);

	while ((bio = bio_list_pop(&bios)))
		red_writer_route(rd, bio);
	list_for_each_entry_safe(wb, tmp, &wbs, list) {
		list_del_init(&wb->list);
		red_writer_wb_route(rd, wb);
	}

	red_writer_batch(rd);
	red_writer_send(rd);
}

/* A daemon registered: everything outstanding goes to it again. */
void red_writer_resend(struct red_dev *rd)
{
	struct red_writer *w = &rd->w;
	struct red_batch *b;

	spin_lock(&w->lock);
	list_for_each_entry(b, &w->batches, list)
		b->sent = false;
	spin_unlock(&w->lock);
	red_writer_kick(rd);
}

/* ---- requests from the daemon -------------------------------------- */

/*
 * STABILIZE_ACK.  Process context (genl doit); sleeps only for memory.
 * smap_mutex keeps the stable map from being swapped under us.
 */
int red_writer_ack(struct red_dev *rd, u64 epoch, u64 req_id, int error)
{
	struct red_writer *w = &rd->w;
	struct bio_list failed = BIO_EMPTY_LIST;
	struct red_batch *b;
	struct red_stab *st;
	struct red_smap *sm;
	LIST_HEAD(dead);
	unsigned int i;
	u64 c, n = 0;
	struct bio *bio;
	int r = 0;

	mutex_lock(&w->smap_mutex);
	spin_lock(&w->lock);
	if (epoch != rd->epoch) {
		r = epoch < rd->epoch ? -ESTALE : -EINVAL;
		goto out_unlock;
	}
	list_for_each_entry(b, &w->batches, list)
		if (b->req_id == req_id)
			break;
	if (list_entry_is_head(b, &w->batches, list)) {
		r = -ENOENT;
		goto out_unlock;
	}
	sm = rcu_dereference_protected(w->smap, lockdep_is_held(&w->smap_mutex));
	if (!error) {
		spin_unlock(&w->lock);
		/* the batch cannot go away: removing it needs smap_mutex */
		for (i = 0; i < b->nr_ranges; i++) {
			r = red_smap_prepare(sm, b->ranges[i].start,
					     b->ranges[i].start +
					     b->ranges[i].count - 1);
			if (r)
				goto out;
		}
		spin_lock(&w->lock);
	}

	list_del(&b->list);
	w->nr_batches--;
	for (i = 0; i < b->nr_ranges; i++) {
		u64 first = b->ranges[i].start;
		u64 last = first + b->ranges[i].count - 1;

		if (!error)
			n += red_smap_set(sm, first, last);
		for (c = first; c <= last; c++) {
			st = red_stab_find(w, c);
			if (!st)
				continue;
			hash_del(&st->hnode);
			list_del_init(&st->unsent);
			if (error) {
				w->nr_held -= bio_list_size(&st->bios);
				bio_list_merge(&failed, &st->bios);
			} else {
				bio_list_merge(&w->incoming, &st->bios);
			}
			/* a failed write-back stabilization is tried again */
			list_splice_tail_init(&st->wbs, &w->wb_ready);
			list_add(&st->unsent, &dead);
		}
	}
	atomic64_add(n, &w->nr_stable);
	spin_unlock(&w->lock);
	mutex_unlock(&w->smap_mutex);

	atomic64_add(n, &rd->stat_preserves);
	red_free_stabs(w, &dead);
	mempool_free(b, &w->batch_pool);
	if (error)
		atomic64_inc(&rd->stat_errors);
	while ((bio = bio_list_pop(&failed)))
		bio_io_error(bio);
	red_writer_kick(rd);
	return 0;

out_unlock:
	spin_unlock(&w->lock);
out:
	mutex_unlock(&w->smap_mutex);
	return r;
}

/* The lease ran out with no write to notice it: report it all the same. */
static void red_writer_lease_work(struct work_struct *work)
{
	struct red_writer *w = container_of(to_delayed_work(work),
					    struct red_writer, lease_work);
	struct red_dev *rd = container_of(w, struct red_dev, w);
	bool report = false;

	spin_lock(&w->lock);
	if (!red_lease_ok(w) && !w->lease_reported) {
		w->lease_reported = true;
		report = true;
	}
	spin_unlock(&w->lock);
	if (report)
		red_nl_event(rd, DM_RED_EV_LEASE_EXPIRED);
}

bool red_writer_fenced(struct red_dev *rd)
{
	return READ_ONCE(rd->w.fenced);
}

/*
 * LEASE 0: fenced, for good.  The daemon sends it when the LUN's epoch
 * record names a newer writer, and on demote: this node must never write
 * the LUN again, and what waits to be written never will be.
 *
 * 1. Under the lock: fenced (map fails every new bio from now on, the
 *    worker every bio it routes), state failed, and every held write
 *    taken: incoming, lease_held, drain_held and the writes waiting on a
 *    stabilization (the entries stay, empty: a late ack finds them).
 * 2. A promoted copier still writing back: its held bios too.
 * 3. Fail them all with EIO: the tasks waiting on them (a database in
 *    fsync) wake up, the device can be closed and removed.
 *
 * Writes passed through before (under a valid lease) complete as usual.
 */
static void red_writer_fence(struct red_dev *rd)
{
	struct red_writer *w = &rd->w;
	struct bio_list bios = BIO_EMPTY_LIST;
	struct red_stab *st;
	unsigned long nr;
	struct bio *bio;
	unsigned int i;
	bool first;

	/* 1 */
	spin_lock(&w->lock);
	first = !w->fenced;
	WRITE_ONCE(w->fenced, true);
	WRITE_ONCE(w->lease_valid, false);
	red_set_state(rd, DM_RED_STATE_FAILED);
	red_bio_list_take(&bios, &w->incoming);
	red_bio_list_take(&bios, &w->lease_held);
	red_bio_list_take(&bios, &w->drain_held);
	hash_for_each(w->stabs, i, st, hnode)
		red_bio_list_take(&bios, &st->bios);
	nr = bio_list_size(&bios);
	w->nr_held -= nr;
	spin_unlock(&w->lock);

	/* 2 */
	if (rd->store)
		red_promote_fence(rd, &bios);

	/* 3 */
	nr = bio_list_size(&bios);
	if (first)
		DMERR("%s: fenced (LEASE 0): I/O fails until removal; %lu held bio(s) failed",
		      rd->name, nr);
	atomic64_add(nr, &rd->stat_errors);
	while ((bio = bio_list_pop(&bios)))
		bio_io_error(bio);
	if (first)
		red_nl_event(rd, DM_RED_EV_STATE);
}

int red_writer_lease(struct red_dev *rd, u32 ms)
{
	struct red_writer *w = &rd->w;

	if (!ms) {
		red_writer_fence(rd);
		return 0;
	}
	spin_lock(&w->lock);
	if (w->fenced) {
		spin_unlock(&w->lock);
		return -ESTALE;
	}
	WRITE_ONCE(w->lease_until, jiffies + msecs_to_jiffies(ms));
	WRITE_ONCE(w->lease_valid, true);
	w->lease_reported = false;
	red_bio_list_take(&w->incoming, &w->lease_held);
	spin_unlock(&w->lock);
	mod_delayed_work(rd->wq, &w->lease_work, msecs_to_jiffies(ms) + 1);
	red_writer_kick(rd);
	return 0;
}

int red_writer_new_epoch(struct red_dev *rd, u64 req_id, u32 members)
{
	struct red_writer *w = &rd->w;
	struct red_smap *sm;

	sm = red_smap_alloc(rd->nr_chunks, members == 0);
	if (!sm)
		return -ENOMEM;
	spin_lock(&w->lock);
	if (w->epoch_busy) {
		spin_unlock(&w->lock);
		red_smap_free(sm);
		return -EBUSY;
	}
	if (w->fenced) {
		spin_unlock(&w->lock);
		red_smap_free(sm);
		return -ESTALE;
	}
	w->epoch_busy = true;
	w->epoch_req_id = req_id;
	w->next_smap = sm;
	spin_unlock(&w->lock);
	queue_work(rd->wq, &w->epoch_work);
	return 0;
}

static void red_writer_release(struct percpu_ref *ref)
{
	struct red_writer *w = container_of(ref, struct red_writer, inflight);

	complete(&w->drained);
}

/*
 * Move to a new epoch.
 *
 * 1. Block the slow path (new writes wait on drain_held) and kill the
 *    inflight ref (the fast path fails from now on).
 * 2. Wait for every write passed through in the old epoch to complete:
 *    this is the join point.
 * 3. Swap in the new stable map; every outstanding stabilization is
 *    dropped and its writes routed again (their acks would now be stale).
 * 4. Revive the ref, unblock, and tell the daemon the new epoch.
 */
static void red_writer_epoch_work(struct work_struct *work)
{
	struct red_writer *w = container_of(work, struct red_writer, epoch_work);
	struct red_dev *rd = container_of(w, struct red_dev, w);
	struct red_batch *b, *btmp;
	struct red_stab *st;
	struct hlist_node *tmp;
	struct red_smap *old;
	LIST_HEAD(dead_stabs);
	LIST_HEAD(dead_batches);
	unsigned int i;

	/* 1 */
	spin_lock(&w->lock);
	w->blocked = true;
	if (!w->fenced)
		red_set_state(rd, DM_RED_STATE_DRAINING);
	spin_unlock(&w->lock);
	red_nl_event(rd, DM_RED_EV_STATE);
	percpu_ref_kill(&w->inflight);

	/* 2 */
	wait_for_completion(&w->drained);

	/* 3 */
	mutex_lock(&w->smap_mutex);
	spin_lock(&w->lock);
	old = rcu_dereference_protected(w->smap, lockdep_is_held(&w->lock));
	rcu_assign_pointer(w->smap, w->next_smap);
	w->next_smap = NULL;
	atomic64_set(&w->nr_stable, 0);
	WRITE_ONCE(rd->epoch, rd->epoch + 1);
	hash_for_each_safe(w->stabs, i, tmp, st, hnode) {
		hash_del(&st->hnode);
		list_del_init(&st->unsent);
		bio_list_merge(&w->drain_held, &st->bios);
		list_splice_tail_init(&st->wbs, &w->wb_ready);
		list_add(&st->unsent, &dead_stabs);
	}
	list_splice_init(&w->batches, &dead_batches);
	w->nr_batches = 0;
	spin_unlock(&w->lock);
	mutex_unlock(&w->smap_mutex);

	synchronize_rcu();
	red_smap_free(old);
	red_free_stabs(w, &dead_stabs);
	list_for_each_entry_safe(b, btmp, &dead_batches, list)
		mempool_free(b, &w->batch_pool);

	/* 4 */
	reinit_completion(&w->drained);
	percpu_ref_resurrect(&w->inflight);
	spin_lock(&w->lock);
	w->blocked = false;
	if (!w->fenced)
		red_set_state(rd, DM_RED_STATE_ACTIVE);
	red_bio_list_take(&w->incoming, &w->drain_held);
	w->epoch_busy = false;
	w->epoch_done_unsent = true;
	spin_unlock(&w->lock);

	red_nl_event(rd, DM_RED_EV_EPOCH);
	red_writer_kick(rd);
}

/* ---- set-up, status ------------------------------------------------ */

/*
 * Set up the writer state with every chunk unstable, or every chunk stable
 * (an epoch without copiers).  The caller sets the epoch and the state.
 */
static int red_writer_alloc(struct red_dev *rd, bool all_stable)
{
	struct red_writer *w = &rd->w;
	struct red_smap *sm;
	int r;

	spin_lock_init(&w->lock);
	mutex_init(&w->smap_mutex);
	hash_init(w->stabs);
	INIT_LIST_HEAD(&w->unsent);
	INIT_LIST_HEAD(&w->unsent_ahead);
	w->seq_lo = 0;
	w->seq_next = 0;
	INIT_LIST_HEAD(&w->batches);
	bio_list_init(&w->incoming);
	bio_list_init(&w->lease_held);
	bio_list_init(&w->drain_held);
	INIT_LIST_HEAD(&w->wb_ready);
	init_completion(&w->drained);
	atomic64_set(&w->nr_stable, 0);
	INIT_WORK(&w->epoch_work, red_writer_epoch_work);
	INIT_DELAYED_WORK(&w->lease_work, red_writer_lease_work);

	r = mempool_init_kmalloc_pool(&w->stab_pool, RED_STAB_RESERVE,
				      sizeof(struct red_stab));
	if (r)
		return r;
	r = mempool_init_kmalloc_pool(&w->batch_pool, RED_BATCH_RESERVE,
				      struct_size_t(struct red_batch, ranges,
						    DM_RED_MAX_RANGES));
	if (r)
		goto out_stab_pool;
	r = -ENOMEM;
	sm = red_smap_alloc(rd->nr_chunks, all_stable);
	if (!sm)
		goto out_batch_pool;
	r = percpu_ref_init(&w->inflight, red_writer_release,
			    PERCPU_REF_ALLOW_REINIT, GFP_KERNEL);
	if (r)
		goto out_smap;
	RCU_INIT_POINTER(w->smap, sm);
	w->ready = true;
	return 0;

out_smap:
	red_smap_free(sm);
out_batch_pool:
	mempool_exit(&w->batch_pool);
out_stab_pool:
	mempool_exit(&w->stab_pool);
	return r;
}

int red_writer_init(struct red_dev *rd)
{
	int r;

	/* epoch 0: every chunk unstable until the daemon sets an epoch */
	r = red_writer_alloc(rd, false);
	if (r)
		return r;
	rd->epoch = 0;
	rd->state = DM_RED_STATE_ACTIVE;
	return 0;
}

/* A copier being promoted: the writer state for @members copiers. */
int red_writer_setup(struct red_dev *rd, u32 members)
{
	return red_writer_alloc(rd, members == 0);
}

/*
 * Tear down.  The device is suspended: no bio is in flight or held (dm
 * waits for held bios too), and the netlink side can no longer find us.
 */
void red_writer_exit(struct red_dev *rd)
{
	struct red_writer *w = &rd->w;
	struct red_batch *b, *btmp;
	struct red_stab *st;
	struct hlist_node *tmp;
	unsigned int i;

	if (!w->ready)
		return;
	cancel_work_sync(&w->epoch_work);
	cancel_delayed_work_sync(&w->lease_work);
	percpu_ref_kill(&w->inflight);
	wait_for_completion(&w->drained);
	percpu_ref_exit(&w->inflight);

	hash_for_each_safe(w->stabs, i, tmp, st, hnode) {
		hash_del(&st->hnode);
		mempool_free(st, &w->stab_pool);
	}
	list_for_each_entry_safe(b, btmp, &w->batches, list)
		mempool_free(b, &w->batch_pool);
	red_smap_free(w->next_smap);
	red_smap_free(rcu_dereference_protected(w->smap, true));
	mempool_exit(&w->batch_pool);
	mempool_exit(&w->stab_pool);
}

void red_writer_stats(struct red_dev *rd, u64 *stable, unsigned long *held,
		      unsigned long *outstanding, unsigned int *oldest_ms)
{
	struct red_writer *w = &rd->w;
	struct red_smap *sm;
	struct red_batch *b;

	rcu_read_lock();
	sm = rcu_dereference(w->smap);
	*stable = sm->all_stable ? rd->nr_chunks : atomic64_read(&w->nr_stable);
	rcu_read_unlock();

	spin_lock(&w->lock);
	*held = w->nr_held;
	*outstanding = w->nr_batches;
	b = list_first_entry_or_null(&w->batches, struct red_batch, list);
	*oldest_ms = b ? jiffies_to_msecs(jiffies - b->born) : 0;
	spin_unlock(&w->lock);
}
