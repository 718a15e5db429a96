// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-red: the "red" target.  Table parsing, status, messages and the map
 * dispatch to the writer and copier paths.
 *
 * Table line:
 *   <lun_dev> <store_dev|-> <chunk_sectors> <writer|copier> <resource>
 *   [<#features> [lease_policy <suspend|error>] [stabilize_ahead <chunks>]]
 *
 * See Documentation/dm-red.rst.
 */
#include <linux/blkdev.h>
#include <linux/ctype.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "red.h"

#define RED_VERSION_STR "0.1.0"

bool red_test_skip_drain;
module_param_named(test_skip_drain, red_test_skip_drain, bool, 0644);
MODULE_PARM_DESC(test_skip_drain,
		 "TEST ONLY: do not wait for in-flight LUN reads before an exception completes");

bool red_test_copy_kcopyd;
module_param_named(test_copy_kcopyd, red_test_copy_kcopyd, bool, 0644);
MODULE_PARM_DESC(test_copy_kcopyd,
		 "TEST ONLY: copy every preserved run with kcopyd, as when memory is short");

/* Every red device on this node; names are unique. */
DEFINE_MUTEX(red_devices_mutex);
LIST_HEAD(red_devices);

/*
 * The copiers' complete exceptions.  A cache of its own, not merged with
 * others where the kernel allows it: /proc/slabinfo shows what the
 * exceptions take (dm_red_exception), and failslab's cache filter can fail
 * it alone (tests/t14-faults.sh).  Set up at module load.
 */
struct kmem_cache *red_exc_cache;

const char *red_state_name(enum dm_red_state state)
{
	switch (state) {
	case DM_RED_STATE_ACTIVE:
		return "active";
	case DM_RED_STATE_JOINING:
		return "joining";
	case DM_RED_STATE_DRAINING:
		return "draining";
	case DM_RED_STATE_FAILED:
		return "failed";
	case DM_RED_STATE_PROMOTING:
		return "promoting";
	case DM_RED_STATE_WRITEBACK:
		return "writeback";
	case DM_RED_STATE_HELD:
		return "held";
	}
	return "unknown";
}

#define S(x) BIT(DM_RED_STATE_##x)
/*
 * The device's states and the transitions between them, one row per
 * state: the states it may go to.  0 is "not set up yet".  writeback is
 * not a stored state: status shows it for a promoted writer while its
 * write-back runs (state active).
 *
 *   (set-up)  -> active (writer), joining (copier)
 *   active    -> draining (writer: NEW_EPOCH), failed (fenced; store full
 *                or error; read lease out with lease_policy error), held
 *                (read lease out, suspend), joining (gc), promoting
 *   joining   -> active (JOIN_ACK), failed (read lease out, error),
 *                joining (gc again)
 *   draining  -> active (the epoch is in), failed (fenced)
 *   failed    -> joining (gc)
 *   promoting -> active (promoted, or the promotion failed), failed (read
 *                lease out, error)
 *   held      -> active (LEASE), failed (LEASE 0; store error), joining
 *                (gc), promoting
 */
static const u8 red_state_next[] = {
	[0] = S(ACTIVE) | S(JOINING),
	[DM_RED_STATE_ACTIVE] = S(DRAINING) | S(FAILED) | S(HELD) |
				S(JOINING) | S(PROMOTING),
	[DM_RED_STATE_JOINING] = S(ACTIVE) | S(FAILED) | S(JOINING),
	[DM_RED_STATE_DRAINING] = S(ACTIVE) | S(FAILED),
	[DM_RED_STATE_FAILED] = S(JOINING),
	[DM_RED_STATE_PROMOTING] = S(ACTIVE) | S(FAILED),
	[DM_RED_STATE_WRITEBACK] = 0,
	[DM_RED_STATE_HELD] = S(ACTIVE) | S(FAILED) | S(JOINING) |
			      S(PROMOTING),
};

#undef S

/*
 * The one place rd->state changes once the device is set up, under the
 * lock of the role that changes it: c.lock while the device is a copier
 * (promotion included), w.lock once it is a writer.  Returns true if the
 * state changed.  A change the table does not list is a bug: it WARNs
 * (and is made all the same, the caller's bookkeeping having moved on).
 * The callers raise the STATE event, after dropping their lock.
 */
bool red_set_state(struct red_dev *rd, enum dm_red_state to)
{
	enum dm_red_state from = rd->state;

	if (rd->role == DM_RED_ROLE_WRITER)
		lockdep_assert_held(&rd->w.lock);
	else
		lockdep_assert_held(&rd->c.lock);
	if (from == to)
		return false;
	WARN_ONCE(from >= ARRAY_SIZE(red_state_next) ||
		  !(red_state_next[from] & BIT(to)),
		  "dm-red: %s: %s -> %s is not a transition of the state table",
		  rd->name, red_state_name(from), red_state_name(to));
	WRITE_ONCE(rd->state, to);
	return true;
}

static const char *red_role_name(enum dm_red_role role)
{
	return role == DM_RED_ROLE_WRITER ? "writer" : "copier";
}

/* Caller holds red_devices_mutex. */
struct red_dev *red_find_locked(const char *name)
{
	struct red_dev *rd;

	lockdep_assert_held(&red_devices_mutex);

	list_for_each_entry(rd, &red_devices, list)
		if (!strcmp(rd->name, name))
			return rd;
	return NULL;
}

/* A daemon (re)registered: deliver everything outstanding again. */
void red_kick_all_resend(void)
{
	struct red_dev *rd;

	mutex_lock(&red_devices_mutex);
	list_for_each_entry(rd, &red_devices, list) {
		if (red_role(rd) == DM_RED_ROLE_WRITER)
			red_writer_resend(rd);
		else
			red_copier_resend(rd);
	}
	mutex_unlock(&red_devices_mutex);
}

/*
 * The counters of status and of the netlink state attributes.  A promoted
 * copier counts the exceptions still to write back as used.
 */
void red_stats(struct red_dev *rd, u64 *used, u64 *stable, unsigned long *held,
	       unsigned long *outstanding, unsigned int *oldest_ms)
{
	unsigned long c_held = 0, c_out = 0;
	unsigned int c_oldest = 0;

	*used = 0;
	*stable = 0;
	*held = 0;
	*outstanding = 0;
	*oldest_ms = 0;
	if (red_role(rd) == DM_RED_ROLE_WRITER)
		red_writer_stats(rd, stable, held, outstanding, oldest_ms);
	if (!rd->store)
		return;
	red_copier_stats(rd, used, &c_held, &c_out, &c_oldest);
	*held += c_held;
	if (red_role(rd) == DM_RED_ROLE_COPIER) {
		*outstanding = c_out;
		*oldest_ms = c_oldest;
	}
}

/* Is the dm device open (mounted, or held open by a program)? */
bool red_dev_is_open(struct red_dev *rd)
{
	struct mapped_device *md = dm_table_get_md(rd->ti->table);

	return atomic_read(&dm_disk(md)->part0->bd_openers) > 0;
}

/*
 * The device's worker.  A promoted copier runs the writer's worker and the
 * write-back; the copier's own lists are empty by then.
 */
static void red_work(struct work_struct *work)
{
	struct red_dev *rd = container_of(work, struct red_dev, work);

	if (red_role(rd) == DM_RED_ROLE_WRITER) {
		red_writer_work(rd);
		if (rd->store)
			red_promote_step(rd);
	} else {
		red_copier_work(rd);
	}
}

static void red_resend_work(struct work_struct *work)
{
	struct red_dev *rd = container_of(to_delayed_work(work), struct red_dev,
					  resend_work);

	if (red_role(rd) == DM_RED_ROLE_WRITER)
		red_writer_resend(rd);
	else
		red_copier_resend(rd);
}

/*
 * [A-Za-z0-9_.-]: the kernel's isalnum() also takes Latin-1 letters
 * (0xc0-0xff), hence the isascii().
 */
static bool red_valid_name(const char *name)
{
	size_t len = strlen(name);
	size_t i;

	if (!len || len >= DM_RED_RESOURCE_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!(isascii(name[i]) && isalnum(name[i])) &&
		    name[i] != '_' && name[i] != '-' && name[i] != '.')
			return false;
	return true;
}

#define RED_AHEAD_ERROR \
	"stabilize_ahead must be a number of chunks from 0 to 1024"

/*
 * A table number: decimal digits only, from @min to @max.  Not
 * dm_read_arg(): its sscanf("%u") wraps 4294967296 to 0 and takes it.
 */
static bool red_parse_uint(const char *s, unsigned int min, unsigned int max,
			   unsigned int *value)
{
	const char *p;
	unsigned int v;

	if (!s || !*s)
		return false;
	for (p = s; *p; p++)
		if (!isdigit(*p))
			return false;
	if (kstrtouint(s, 10, &v) || v < min || v > max)
		return false;
	*value = v;
	return true;
}

static char *red_join_args(unsigned int argc, char **argv)
{
	size_t len = 1;
	unsigned int i;
	char *s, *p;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = kmalloc(len, GFP_KERNEL);
	if (!s)
		return NULL;
	p = s;
	*p = '\0';
	for (i = 0; i < argc; i++)
		p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
	return s;
}

/*
 * The optional features.  lease_policy is the writer's write lease policy
 * and the copier's read lease policy; *@policy_given says whether the
 * line names one (the defaults differ by role).  stabilize_ahead is how
 * many chunks past a sequential stream of first writes the writer asks to
 * stabilize before they are written (0, the default: none).
 */
static int red_parse_features(struct dm_arg_set *as, bool *policy_given,
			      bool *lease_error, unsigned int *ahead,
			      struct dm_target *ti)
{
	bool ahead_given = false;
	unsigned int argc;
	const char *arg;

	*policy_given = false;
	*lease_error = false;
	*ahead = 0;
	if (!as->argc)
		return 0;

	if (!red_parse_uint(dm_shift_arg(as), 0, 4, &argc) ||
	    argc > as->argc) {
		ti->error = "invalid number of feature arguments";
		return -EINVAL;
	}

	while (argc) {
		arg = dm_shift_arg(as);
		argc--;
		if (!strcasecmp(arg, "lease_policy")) {
			if (!argc) {
				ti->error = "lease_policy needs suspend or error";
				return -EINVAL;
			}
			arg = dm_shift_arg(as);
			argc--;
			if (*policy_given) {
				ti->error = "lease_policy given twice";
				return -EINVAL;
			}
			if (!strcasecmp(arg, "suspend")) {
				*lease_error = false;
			} else if (!strcasecmp(arg, "error")) {
				*lease_error = true;
			} else {
				ti->error = "lease_policy must be suspend or error";
				return -EINVAL;
			}
			*policy_given = true;
			continue;
		}
		if (!strcasecmp(arg, "stabilize_ahead")) {
			if (!argc) {
				ti->error = "stabilize_ahead needs a number of chunks";
				return -EINVAL;
			}
			if (ahead_given) {
				ti->error = "stabilize_ahead given twice";
				return -EINVAL;
			}
			if (!red_parse_uint(dm_shift_arg(as), 0,
					    RED_MAX_AHEAD_CHUNKS, ahead)) {
				ti->error = RED_AHEAD_ERROR;
				return -EINVAL;
			}
			argc--;
			ahead_given = true;
			continue;
		}
		ti->error = "unknown feature argument";
		return -EINVAL;
	}
	if (as->argc) {
		ti->error = "too many arguments";
		return -EINVAL;
	}
	return 0;
}

/*
 * Construct a red device.
 *
 * <lun_dev> <store_dev|-> <chunk_sectors> <writer|copier> <resource>
 * [<#features> <feature>...]
 */
static int red_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct red_dev *rd, *other;
	unsigned int chunk;
	bool policy_given, lease_error;
	unsigned int ahead;
	int r;

	if (argc < 5) {
		ti->error = "not enough arguments";
		return -EINVAL;
	}

	rd = kzalloc(sizeof(*rd), GFP_KERNEL);
	if (!rd) {
		ti->error = "cannot allocate context";
		return -ENOMEM;
	}
	rd->ti = ti;
	INIT_LIST_HEAD(&rd->list);
	atomic64_set(&rd->stat_preserves, 0);
	atomic64_set(&rd->stat_cow, 0);
	atomic64_set(&rd->stat_errors, 0);

	rd->table = red_join_args(argc, argv);
	if (!rd->table) {
		ti->error = "cannot allocate table copy";
		r = -ENOMEM;
		goto bad_free;
	}

	/* argv[3]: role (parsed first: it decides what argv[1] may be) */
	if (!strcasecmp(argv[3], "writer")) {
		rd->role = DM_RED_ROLE_WRITER;
	} else if (!strcasecmp(argv[3], "copier")) {
		rd->role = DM_RED_ROLE_COPIER;
	} else {
		ti->error = "role must be writer or copier";
		r = -EINVAL;
		goto bad_free;
	}

	/* argv[2]: chunk size */
	if (!red_parse_uint(argv[2], RED_MIN_CHUNK_SECTORS,
			    RED_MAX_CHUNK_SECTORS, &chunk) ||
	    !is_power_of_2(chunk)) {
		ti->error = "chunk size must be a power of two between 8 and 2048 sectors";
		r = -EINVAL;
		goto bad_free;
	}
	rd->chunk_sectors = chunk;
	rd->chunk_shift = __ffs(chunk);

	/* argv[4]: resource name */
	if (!red_valid_name(argv[4])) {
		ti->error = "resource name must be 1-63 characters of [A-Za-z0-9_.-]";
		r = -EINVAL;
		goto bad_free;
	}
	strscpy(rd->name, argv[4], sizeof(rd->name));

	/* argv[0]: the LUN */
	r = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &rd->lun);
	if (r) {
		ti->error = "cannot open LUN device";
		goto bad_free;
	}

	/* argv[1]: the store */
	if (rd->role == DM_RED_ROLE_WRITER) {
		if (strcmp(argv[1], "-")) {
			ti->error = "a writer takes no store device (use -)";
			r = -EINVAL;
			goto bad_lun;
		}
	} else {
		if (!strcmp(argv[1], "-")) {
			ti->error = "a copier needs a store device";
			r = -EINVAL;
			goto bad_lun;
		}
		r = dm_get_device(ti, argv[1], dm_table_get_mode(ti->table),
				  &rd->store);
		if (r) {
			ti->error = "cannot open store device";
			goto bad_lun;
		}
		if (rd->store->bdev == rd->lun->bdev) {
			ti->error = "store and LUN must be different devices";
			r = -EINVAL;
			goto bad_store;
		}
	}

	as.argc -= 5;
	as.argv += 5;
	r = red_parse_features(&as, &policy_given, &lease_error, &ahead, ti);
	if (r)
		goto bad_store;

	if (ti->len & (rd->chunk_sectors - 1)) {
		ti->error = "device length must be a multiple of the chunk size";
		r = -EINVAL;
		goto bad_store;
	}
	if (ti->begin || ti->len > bdev_nr_sectors(rd->lun->bdev)) {
		ti->error = "target must start at 0 and fit on the LUN";
		r = -EINVAL;
		goto bad_store;
	}
	rd->nr_chunks = ti->len >> rd->chunk_shift;

	rd->wq = alloc_workqueue("dm-red-%s", WQ_MEM_RECLAIM, 0, rd->name);
	if (!rd->wq) {
		ti->error = "cannot allocate workqueue";
		r = -ENOMEM;
		goto bad_store;
	}
	INIT_DELAYED_WORK(&rd->resend_work, red_resend_work);
	INIT_WORK(&rd->work, red_work);
	INIT_WORK(&rd->promote_work, red_promote_work);

	/*
	 * Writer: suspend unless the line says error.  Copier: its read
	 * lease fails the device (today's behaviour) unless the line says
	 * suspend; once promoted, its write lease follows the writer's rule.
	 */
	rd->w.lease_error = lease_error;
	rd->w.ahead_max = ahead;
	rd->c.lease_hold = policy_given && !lease_error;
	if (rd->role == DM_RED_ROLE_WRITER)
		r = red_writer_init(rd);
	else
		r = red_copier_init(rd);
	if (r) {
		ti->error = "cannot allocate role state";
		goto bad_wq;
	}

	ti->private = rd;
	ti->per_io_data_size = sizeof(struct red_bio);
	ti->num_flush_bios = 1;
	if (rd->role == DM_RED_ROLE_WRITER) {
		ti->num_discard_bios = 1;
		ti->num_write_zeroes_bios = 1;
	} else {
		/* one bio never spans two chunks on a copier */
		r = dm_set_target_max_io_len(ti, rd->chunk_sectors);
		if (r)
			goto bad_role;
	}

	mutex_lock(&red_devices_mutex);
	other = red_find_locked(rd->name);
	if (other) {
		mutex_unlock(&red_devices_mutex);
		if (dm_table_get_md(other->ti->table) ==
		    dm_table_get_md(ti->table))
			ti->error = "cannot reload a red device (remove and create it again)";
		else
			ti->error = "resource name already in use on this node";
		r = -EEXIST;
		goto bad_role;
	}
	list_add_tail(&rd->list, &red_devices);
	mutex_unlock(&red_devices_mutex);

	red_nl_event(rd, DM_RED_EV_CREATED);
	return 0;

bad_role:
	if (rd->role == DM_RED_ROLE_WRITER)
		red_writer_exit(rd);
	else
		red_copier_exit(rd);
	cancel_work_sync(&rd->work);
bad_wq:
	destroy_workqueue(rd->wq);
bad_store:
	if (rd->store)
		dm_put_device(ti, rd->store);
bad_lun:
	dm_put_device(ti, rd->lun);
bad_free:
	kfree(rd->table);
	kfree(rd);
	return r;
}

static void red_dtr(struct dm_target *ti)
{
	struct red_dev *rd = ti->private;

	/* 1. No netlink handler can find the device after this. */
	mutex_lock(&red_devices_mutex);
	list_del(&rd->list);
	mutex_unlock(&red_devices_mutex);

	/*
	 * 2. Stop the workers, then free the role state: the writer's first
	 *    (it waits for the write-back copies of a promoted copier), then
	 *    the copier's and the write-back's.  A promotion still setting up
	 *    finishes first.
	 */
	flush_work(&rd->promote_work);
	cancel_delayed_work_sync(&rd->resend_work);
	flush_workqueue(rd->wq);
	red_writer_exit(rd);
	if (rd->store) {
		red_copier_exit(rd);
		red_promote_exit(rd);
	}
	cancel_work_sync(&rd->work);
	cancel_delayed_work_sync(&rd->resend_work);
	destroy_workqueue(rd->wq);

	red_nl_event(rd, DM_RED_EV_DESTROYED);

	if (rd->store)
		dm_put_device(ti, rd->store);
	dm_put_device(ti, rd->lun);
	kfree(rd->table);
	kfree(rd);
}

static int red_map(struct dm_target *ti, struct bio *bio)
{
	struct red_dev *rd = ti->private;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));

	pb->flags = 0;
	if (red_role(rd) == DM_RED_ROLE_WRITER) {
		if (unlikely(rd->store && READ_ONCE(rd->c.wb_active)))
			return red_promote_map(rd, bio);
		return red_writer_map(rd, bio);
	}
	return red_copier_map(rd, bio);
}

static int red_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct red_dev *rd = ti->private;
	struct red_bio *pb = dm_per_bio_data(bio, sizeof(struct red_bio));

	/* by what the bio did, not by the role: a copier may be promoted */
	if (pb->flags & RED_BIO_COUNTED)
		red_writer_end_io(rd, bio);
	if (pb->flags & (RED_BIO_TRACKED | RED_BIO_FILLS))
		return red_copier_end_io(rd, bio, error);
	return DM_ENDIO_DONE;
}

static void red_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct red_dev *rd = ti->private;
	enum dm_red_role role = red_role(rd);
	unsigned int sz = 0, oldest_ms = 0;
	unsigned long held = 0, outstanding = 0;
	u64 stable = 0, used = 0;

	red_stats(rd, &used, &stable, &held, &outstanding, &oldest_ms);

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%s %s %llu %llu/%llu %llu/%llu %lu %lu %u %lld %lld %lld %u %s",
		       red_role_name(role),
		       red_state_name(red_dev_state(rd)),
		       READ_ONCE(rd->epoch), used,
		       rd->store ? rd->c.store_total : 0ULL,
		       stable, rd->nr_chunks, held, outstanding, oldest_ms,
		       atomic64_read(&rd->stat_preserves),
		       atomic64_read(&rd->stat_cow),
		       atomic64_read(&rd->stat_errors),
		       role == DM_RED_ROLE_WRITER ?
				red_writer_lease_left_ms(rd) :
				red_copier_lease_left_ms(rd),
		       role == DM_RED_ROLE_COPIER ?
				(rd->c.lease_hold ? "suspend" : "error") :
				(rd->w.lease_error ? "error" : "suspend"));
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", rd->table);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",role=%s,resource=%s,chunk_sectors=%llu,state=%s,epoch=%llu;",
		       red_role_name(role), rd->name,
		       (unsigned long long)rd->chunk_sectors,
		       red_state_name(red_dev_state(rd)),
		       READ_ONCE(rd->epoch));
		break;
	}
}

static int red_message(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct red_dev *rd = ti->private;

	if (argc == 1 && !strcasecmp(argv[0], "gc")) {
		if (red_role(rd) != DM_RED_ROLE_COPIER) {
			DMERR("%s: gc applies to a copier only", rd->name);
			return -EINVAL;
		}
		return red_copier_gc(rd);
	}

	DMERR("%s: unknown message '%s' with %u argument(s)", rd->name,
	      argc ? argv[0] : "", argc ? argc - 1 : 0);
	return -EINVAL;
}

static int red_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct red_dev *rd = ti->private;

	return fn(ti, rd->lun, 0, ti->len, data);
}

static void red_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct red_dev *rd = ti->private;
	unsigned int chunk_bytes = rd->chunk_sectors << SECTOR_SHIFT;
	unsigned int max_discard = rd->chunk_sectors * RED_MAX_DISCARD_CHUNKS;

	/*
	 * The same geometry on every node: zram stores are 4 KiB devices, so
	 * a filesystem made on the writer must mount on every copier.
	 */
	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size,
					   RED_BLOCK_SIZE);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size,
					    RED_BLOCK_SIZE);
	limits->io_min = max_t(unsigned int, limits->io_min,
			       RED_BLOCK_SIZE);
	limits->io_opt = chunk_bytes;

	if (rd->role == DM_RED_ROLE_WRITER) {
		/* bound the stabilization a single discard can need */
		limits->max_hw_discard_sectors =
			min(limits->max_hw_discard_sectors, max_discard);
		limits->max_discard_sectors =
			min(limits->max_discard_sectors, max_discard);
		limits->max_write_zeroes_sectors =
			min(limits->max_write_zeroes_sectors, max_discard);
	}
}

static struct target_type red_target = {
	.name = "red",
	.version = {0, 1, 0},
	/* the whole device, one target: dm refuses any other in the table */
	.features = DM_TARGET_SINGLETON,
	.module = THIS_MODULE,
	.ctr = red_ctr,
	.dtr = red_dtr,
	.map = red_map,
	.end_io = red_end_io,
	.status = red_status,
	.message = red_message,
	.iterate_devices = red_iterate_devices,
	.io_hints = red_io_hints,
};

static int __init dm_red_init(void)
{
	int r;

	red_exc_cache = kmem_cache_create("dm_red_exception",
					  sizeof(struct red_exc),
					  __alignof__(struct red_exc),
					  RED_SLAB_NO_MERGE, NULL);
	if (!red_exc_cache)
		return -ENOMEM;
	r = red_nl_init();
	if (r) {
		DMERR("cannot register generic netlink family: %d", r);
		goto bad_nl;
	}
	r = dm_register_target(&red_target);
	if (r) {
		DMERR("cannot register target: %d", r);
		goto bad_target;
	}
	DMINFO("version " RED_VERSION_STR " loaded");
	return 0;

bad_target:
	red_nl_exit();
bad_nl:
	kmem_cache_destroy(red_exc_cache);
	return r;
}

static void __exit dm_red_exit(void)
{
	dm_unregister_target(&red_target);
	red_nl_exit();
	kmem_cache_destroy(red_exc_cache);
}

module_init(dm_red_init);
module_exit(dm_red_exit);

MODULE_DESCRIPTION(DM_NAME " shared-LUN copy-on-write target for replicated databases");
MODULE_AUTHOR("dm-red developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(RED_VERSION_STR);
MODULE_ALIAS("dm-red");
