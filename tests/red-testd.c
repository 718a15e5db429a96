// SPDX-License-Identifier: GPL-2.0
/*
 * red-testd: plays the dm-red daemon (redd) for tests in which every red
 * device lives on one kernel.  It registers with the dm_red generic netlink
 * family, gives the writer an epoch and keeps its lease, joins copiers
 * (NEW_EPOCH on the writer, then JOIN_ACK), and fans every STABILIZE out as
 * PRESERVE requests to the joined copiers before acking it.
 *
 * One poll() loop: netlink socket, a 100 ms timerfd, a signalfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "lib/rednl.h"

#define MAX_DEVS	128
#define TICK_MS		100
#define JOIN_TIMEOUT_MS	30000
#define RETRY_MS	500

struct dev {
	char name[DM_RED_RESOURCE_MAX];
	bool used;		/* slot in use (also tombstones) */
	bool present;
	uint32_t role;
	uint32_t state;
	uint64_t epoch;
	uint64_t seq;		/* last event seq applied */
	bool joined;
	bool expelled;
};

struct pres {
	int dev;
	uint64_t req_id;
	bool done;
};

struct stab {
	struct stab *next;
	char writer[DM_RED_RESOURCE_MAX];
	uint64_t epoch;
	uint64_t req_id;
	int left;
	int npres;
	struct pres pres[MAX_DEVS];
};

/* A STABILIZE that must wait (state not dumped yet, or a join in progress). */
struct deferred {
	struct deferred *next;
	char writer[DM_RED_RESOURCE_MAX];
	uint64_t epoch;
	uint64_t req_id;
	int nranges;
	struct dm_red_range ranges[];
};

enum req_kind { RK_REGISTER, RK_DUMP, RK_LEASE, RK_NEW_EPOCH, RK_JOIN_ACK,
		RK_PRESERVE, RK_STABILIZE_ACK };

struct req {
	struct req *next;
	uint32_t seq;
	enum req_kind kind;
	int dev;
	uint64_t req_id;
	uint64_t epoch;
	long sent_ms;
};

static struct {
	const char *writer;
	unsigned int lease_ms;
	const char *events_path;
	const char *log_path;
	const char *pidfile;
	bool signal_parent;
} opt = { .lease_ms = 4000 };

static struct rednl nl;
static struct nl_cb *cb;
static FILE *logf;
static FILE *evf;
static struct dev devs[MAX_DEVS];
static struct stab *stabs;
static struct deferred *deferred;
static struct req *reqs;
static uint64_t next_req_id;
static bool registered;
static bool dumped;
static bool ready_done;
static bool lease_paused;
static long next_lease_ms;
static bool quit;
static bool need_resync;

static struct {
	int phase;		/* 0 idle, 1 wait EPOCH_DONE, 2 wait JOIN_ACK ack */
	int dev;		/* copier index or -1: initial writer epoch */
	uint64_t base_epoch;	/* writer epoch when the join started */
	uint64_t req_id;
	uint64_t epoch;
	long started_ms;
	long retry_at_ms;
} join;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(logf, "%02d:%02d:%02d.%03ld red-testd[%d]: ", tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, (int)getpid());
	va_start(ap, fmt);
	vfprintf(logf, fmt, ap);
	va_end(ap);
	fputc('\n', logf);
	fflush(logf);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: red-testd --writer NAME [--lease-ms N (default 4000)] [--events FILE]\n"
		"                 [--log FILE] [--pidfile FILE] [--once-registered-signal]\n"
		"  Plays the dm-red daemon for single-node tests.\n"
		"  SIGUSR1 pauses lease renewal, SIGUSR2 resumes it; SIGTERM/SIGINT exit.\n"
		"  --once-registered-signal: send SIGUSR1 to the parent process once\n"
		"  registered and the first state dump is complete (the pidfile is\n"
		"  written at the same moment).\n");
}

/* ---- device table ------------------------------------------------------ */

static int dev_find(const char *name)
{
	int i;

	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i].used && !strcmp(devs[i].name, name))
			return i;
	return -1;
}

static int dev_get(const char *name)
{
	int i = dev_find(name);

	if (i >= 0)
		return i;
	for (i = 0; i < MAX_DEVS; i++) {
		if (!devs[i].used) {
			memset(&devs[i], 0, sizeof(devs[i]));
			devs[i].used = true;
			snprintf(devs[i].name, sizeof(devs[i].name), "%s", name);
			return i;
		}
	}
	/* Reuse a tombstone. */
	for (i = 0; i < MAX_DEVS; i++) {
		if (!devs[i].present) {
			memset(&devs[i], 0, sizeof(devs[i]));
			devs[i].used = true;
			snprintf(devs[i].name, sizeof(devs[i].name), "%s", name);
			return i;
		}
	}
	logmsg("ERROR: device table full, ignoring %s", name);
	return -1;
}

static int count_copiers(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i].used && devs[i].present &&
		    devs[i].role == DM_RED_ROLE_COPIER)
			n++;
	return n;
}

/* ---- requests ---------------------------------------------------------- */

static struct req *req_add(uint32_t seq, enum req_kind kind, int dev,
			   uint64_t req_id, uint64_t epoch)
{
	struct req *r = calloc(1, sizeof(*r));

	if (!r) {
		logmsg("FATAL: out of memory");
		exit(1);
	}
	r->seq = seq;
	r->kind = kind;
	r->dev = dev;
	r->req_id = req_id;
	r->epoch = epoch;
	r->sent_ms = now_ms();
	r->next = reqs;
	reqs = r;
	return r;
}

static struct req *req_take(uint32_t seq)
{
	struct req **pp, *r;

	for (pp = &reqs; (r = *pp); pp = &r->next) {
		if (r->seq == seq) {
			*pp = r->next;
			return r;
		}
	}
	return NULL;
}

/* Send; returns seq (>0) or 0 on failure (logged).  Consumes msg. */
static uint32_t send_msg(struct nl_msg *msg, const char *what)
{
	uint32_t seq;
	int err;

	if (!(nlmsg_hdr(msg)->nlmsg_flags & NLM_F_DUMP))
		nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	err = nl_send_auto(nl.sk, msg);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (err < 0) {
		logmsg("ERROR: sending %s: %s", what, nl_geterror(err));
		return 0;
	}
	return seq ? seq : 1;
}

static struct nl_msg *new_msg(uint8_t cmd, int flags)
{
	struct nl_msg *m = rednl_msg(&nl, cmd, flags);

	if (!m) {
		logmsg("FATAL: cannot allocate netlink message");
		exit(1);
	}
	return m;
}

#define PUT(x) do { if ((x) < 0) { logmsg("FATAL: message too big"); exit(1); } } while (0)

static void send_register(void)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_REGISTER, 0);
	uint32_t seq;

	PUT(nla_put_u32(m, DM_RED_A_PROTO_MIN, DM_RED_PROTO_VERSION_MIN));
	PUT(nla_put_u32(m, DM_RED_A_PROTO_MAX, DM_RED_PROTO_VERSION_MAX));
	PUT(nla_put_u64(m, DM_RED_A_FEATURES, DM_RED_FEATURES_ALL));
	seq = send_msg(m, "REGISTER");
	if (!seq) {
		logmsg("FATAL: cannot register");
		exit(1);
	}
	req_add(seq, RK_REGISTER, -1, 0, 0);
	logmsg("REGISTER sent (proto %d..%d features 0x%llx)",
	       DM_RED_PROTO_VERSION_MIN, DM_RED_PROTO_VERSION_MAX,
	       (unsigned long long)DM_RED_FEATURES_ALL);
}

static void send_dump(void)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_GET_STATE, NLM_F_DUMP);
	uint32_t seq = send_msg(m, "GET_STATE dump");

	if (!seq) {
		logmsg("FATAL: cannot dump state");
		exit(1);
	}
	req_add(seq, RK_DUMP, -1, 0, 0);
}

static void send_lease(int w)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_LEASE, 0);
	uint32_t seq;

	PUT(nla_put_string(m, DM_RED_A_RESOURCE, devs[w].name));
	PUT(nla_put_u32(m, DM_RED_A_LEASE_MS, opt.lease_ms));
	seq = send_msg(m, "LEASE");
	if (seq)
		req_add(seq, RK_LEASE, w, 0, 0);
}

static bool send_new_epoch(int w, uint32_t members, uint64_t req_id)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_NEW_EPOCH, 0);
	uint32_t seq;

	PUT(nla_put_string(m, DM_RED_A_RESOURCE, devs[w].name));
	PUT(nla_put_u64(m, DM_RED_A_REQ_ID, req_id));
	PUT(nla_put_u32(m, DM_RED_A_MEMBERS, members));
	seq = send_msg(m, "NEW_EPOCH");
	if (!seq)
		return false;
	req_add(seq, RK_NEW_EPOCH, w, req_id, 0);
	logmsg("NEW_EPOCH %s members=%u req_id=%llu", devs[w].name, members,
	       (unsigned long long)req_id);
	return true;
}

static bool send_join_ack(int c, uint64_t epoch)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_JOIN_ACK, 0);
	uint32_t seq;

	PUT(nla_put_string(m, DM_RED_A_RESOURCE, devs[c].name));
	PUT(nla_put_u64(m, DM_RED_A_EPOCH, epoch));
	seq = send_msg(m, "JOIN_ACK");
	if (!seq)
		return false;
	req_add(seq, RK_JOIN_ACK, c, 0, epoch);
	logmsg("JOIN_ACK %s epoch=%llu", devs[c].name,
	       (unsigned long long)epoch);
	return true;
}

static bool send_preserve(int c, uint64_t epoch, uint64_t req_id,
			  const struct dm_red_range *rg, int nranges)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_PRESERVE, 0);
	uint32_t seq;

	PUT(nla_put_string(m, DM_RED_A_RESOURCE, devs[c].name));
	PUT(nla_put_u64(m, DM_RED_A_EPOCH, epoch));
	PUT(nla_put_u64(m, DM_RED_A_REQ_ID, req_id));
	PUT(nla_put(m, DM_RED_A_RANGES, nranges * (int)sizeof(*rg), rg));
	seq = send_msg(m, "PRESERVE");
	if (!seq)
		return false;
	req_add(seq, RK_PRESERVE, c, req_id, epoch);
	return true;
}

static void send_stabilize_ack(const char *writer, uint64_t epoch,
			       uint64_t req_id)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_STABILIZE_ACK, 0);
	uint32_t seq;

	PUT(nla_put_string(m, DM_RED_A_RESOURCE, writer));
	PUT(nla_put_u64(m, DM_RED_A_EPOCH, epoch));
	PUT(nla_put_u64(m, DM_RED_A_REQ_ID, req_id));
	seq = send_msg(m, "STABILIZE_ACK");
	if (seq)
		req_add(seq, RK_STABILIZE_ACK, dev_find(writer), req_id, epoch);
}

/* ---- stabilization ----------------------------------------------------- */

static void stab_finish_if_done(struct stab *s)
{
	struct stab **pp;

	if (s->left > 0)
		return;
	send_stabilize_ack(s->writer, s->epoch, s->req_id);
	for (pp = &stabs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s);
}

static void expel(int c, const char *why)
{
	if (c < 0 || devs[c].expelled)
		return;
	devs[c].expelled = true;
	logmsg("EXPEL copier %s: %s (no more preserves)", devs[c].name, why);
}

/* Mark preserve @req_id done; returns false if unknown. */
static bool pres_done(uint64_t req_id, int error, const char *src)
{
	struct stab *s;
	int i;

	for (s = stabs; s; s = s->next) {
		for (i = 0; i < s->npres; i++) {
			struct pres *p = &s->pres[i];

			if (p->req_id != req_id || p->done)
				continue;
			if (error && error != -ESTALE)
				expel(p->dev, src);
			else if (error)
				logmsg("preserve %llu to %s: %s (not expelled)",
				       (unsigned long long)req_id,
				       devs[p->dev].name, rednl_errname(error));
			p->done = true;
			s->left--;
			stab_finish_if_done(s);
			return true;
		}
	}
	return false;
}

/* A copier cannot answer any more (gone, failed, rejoining). */
static void pres_drop_dev(int c)
{
	struct stab *s, *next;
	int i;

	for (s = stabs; s; s = next) {
		next = s->next;
		for (i = 0; i < s->npres; i++) {
			if (s->pres[i].dev == c && !s->pres[i].done) {
				s->pres[i].done = true;
				s->left--;
			}
		}
		stab_finish_if_done(s);
	}
}

static void stab_start(const char *w, uint64_t epoch, uint64_t req_id,
		       const struct dm_red_range *rg, int nranges)
{
	struct stab *s;
	int i;

	for (s = stabs; s; s = s->next) {
		if (s->req_id == req_id && !strcmp(s->writer, w)) {
			logmsg("duplicate STABILIZE %s req %llu ignored", w,
			       (unsigned long long)req_id);
			return;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		logmsg("FATAL: out of memory");
		exit(1);
	}
	snprintf(s->writer, sizeof(s->writer), "%s", w);
	s->epoch = epoch;
	s->req_id = req_id;
	s->next = stabs;
	stabs = s;
	for (i = 0; i < MAX_DEVS; i++) {
		struct dev *d = &devs[i];
		uint64_t id;

		if (!d->used || !d->present || d->role != DM_RED_ROLE_COPIER ||
		    !d->joined || d->expelled ||
		    d->state != DM_RED_STATE_ACTIVE)
			continue;
		if (d->epoch > epoch)	/* joined after this epoch began */
			continue;
		id = next_req_id++;
		if (!send_preserve(i, epoch, id, rg, nranges)) {
			expel(i, "cannot send PRESERVE");
			continue;
		}
		s->pres[s->npres].dev = i;
		s->pres[s->npres].req_id = id;
		s->npres++;
		s->left++;
	}
	logmsg("STABILIZE %s epoch=%llu req=%llu ranges=%d first=%llu+%llu -> %d preserve(s)",
	       w, (unsigned long long)epoch, (unsigned long long)req_id,
	       nranges, (unsigned long long)rg[0].start,
	       (unsigned long long)rg[0].count, s->npres);
	stab_finish_if_done(s);
}

/*
 * A stabilization must wait until the state is dumped (else we would not
 * know the members), and while a copier is joining: from the drain on, the
 * joiner must preserve too, but it is a member only once JOIN_ACK is done.
 */
static bool stab_blocked(uint64_t epoch)
{
	if (!registered || !dumped)
		return true;
	if (join.phase == 0 || join.dev < 0)
		return false;
	if (join.phase == 1)
		return epoch > join.base_epoch;
	return epoch >= join.epoch;
}

static void flush_deferred(void)
{
	struct deferred **pp = &deferred, *d;

	while ((d = *pp)) {
		if (stab_blocked(d->epoch)) {
			pp = &d->next;
			continue;
		}
		*pp = d->next;
		stab_start(d->writer, d->epoch, d->req_id, d->ranges,
			   d->nranges);
		free(d);
	}
}

static void handle_stabilize(struct nlattr **tb)
{
	const char *w = rednl_str(tb, DM_RED_A_RESOURCE);
	const struct dm_red_range *rg;
	struct deferred *d, **pp;
	int nranges;
	uint64_t epoch, req_id;

	if (!w || !tb[DM_RED_A_EPOCH] || !tb[DM_RED_A_REQ_ID] ||
	    !tb[DM_RED_A_RANGES]) {
		logmsg("ERROR: malformed STABILIZE ignored");
		return;
	}
	epoch = nla_get_u64(tb[DM_RED_A_EPOCH]);
	req_id = nla_get_u64(tb[DM_RED_A_REQ_ID]);
	rg = nla_data(tb[DM_RED_A_RANGES]);
	nranges = nla_len(tb[DM_RED_A_RANGES]) / (int)sizeof(*rg);
	if (nranges < 1 ||
	    nla_len(tb[DM_RED_A_RANGES]) % (int)sizeof(*rg)) {
		logmsg("ERROR: STABILIZE %s req %llu with bad ranges length %d",
		       w, (unsigned long long)req_id,
		       nla_len(tb[DM_RED_A_RANGES]));
		return;
	}
	if (!stab_blocked(epoch) && !deferred) {
		stab_start(w, epoch, req_id, rg, nranges);
		return;
	}
	for (d = deferred; d; d = d->next) {
		if (d->req_id == req_id && !strcmp(d->writer, w))
			return;		/* re-sent while deferred */
	}
	d = malloc(sizeof(*d) + (size_t)nranges * sizeof(*rg));
	if (!d) {
		logmsg("FATAL: out of memory");
		exit(1);
	}
	d->next = NULL;
	snprintf(d->writer, sizeof(d->writer), "%s", w);
	d->epoch = epoch;
	d->req_id = req_id;
	d->nranges = nranges;
	memcpy(d->ranges, rg, (size_t)nranges * sizeof(*rg));
	for (pp = &deferred; *pp; pp = &(*pp)->next)
		;
	*pp = d;		/* keep arrival order */
	logmsg("STABILIZE %s epoch=%llu req=%llu deferred (%s)", w,
	       (unsigned long long)epoch, (unsigned long long)req_id,
	       !dumped ? "state not dumped yet" : "join in progress");
}

/* ---- state ------------------------------------------------------------- */

static void dev_update(struct nlattr **tb, bool from_event, uint32_t ev)
{
	const char *name = rednl_str(tb, DM_RED_A_RESOURCE);
	uint64_t seq = rednl_u64(tb, DM_RED_A_SEQ, 0);
	uint32_t old_state;
	struct dev *d;
	int i;

	if (!name)
		return;
	i = dev_get(name);
	if (i < 0)
		return;
	d = &devs[i];
	if (seq && d->seq && seq < d->seq)
		return;		/* older than what we know */
	if (from_event && seq && seq == d->seq)
		return;		/* already reflected by the dump */
	if (seq)
		d->seq = seq;
	old_state = d->present ? d->state : 0;

	if (from_event && ev == DM_RED_EV_DESTROYED) {
		if (d->present)
			logmsg("device %s destroyed", d->name);
		d->present = false;
		d->joined = false;
		pres_drop_dev(i);
		if (join.phase && join.dev == i) {
			logmsg("join of %s abandoned: device destroyed", d->name);
			join.phase = 0;
		}
		return;
	}
	if (from_event && ev == DM_RED_EV_CREATED) {
		d->joined = false;
		d->expelled = false;
	}
	if (!d->present)
		logmsg("device %s present", d->name);
	d->present = true;
	d->role = rednl_u32(tb, DM_RED_A_ROLE, d->role);
	d->state = rednl_u32(tb, DM_RED_A_STATE, d->state);
	d->epoch = rednl_u64(tb, DM_RED_A_EPOCH, d->epoch);
	if (from_event && ev == DM_RED_EV_STORE_FULL &&
	    !tb[DM_RED_A_STATE])
		d->state = DM_RED_STATE_FAILED;

	if (d->role != DM_RED_ROLE_COPIER)
		return;
	if (old_state != d->state)
		logmsg("copier %s state %s -> %s epoch=%llu", d->name,
		       rednl_state_name(old_state), rednl_state_name(d->state),
		       (unsigned long long)d->epoch);
	switch (d->state) {
	case DM_RED_STATE_ACTIVE:
		/* After a restart: active copiers count as joined. */
		if (!d->joined) {
			d->joined = true;
			d->expelled = false;
			logmsg("copier %s active at epoch %llu: member",
			       d->name, (unsigned long long)d->epoch);
		}
		if (join.phase && join.dev == i) {
			logmsg("join of %s complete (seen active)", d->name);
			join.phase = 0;
		}
		break;
	case DM_RED_STATE_JOINING:
		if (d->joined)
			logmsg("copier %s rejoining: dropped from members",
			       d->name);
		d->joined = false;
		d->expelled = false;
		pres_drop_dev(i);
		break;
	case DM_RED_STATE_FAILED:
		expel(i, "device failed");
		pres_drop_dev(i);
		break;
	}
}

/* ---- join state machine ------------------------------------------------ */

static void join_retry(const char *why)
{
	logmsg("join step failed (%s), retrying in %d ms", why, RETRY_MS);
	join.phase = 0;
	join.retry_at_ms = now_ms() + RETRY_MS;
}

static void reconcile(void)
{
	long now = now_ms();
	int w, i;

	if (!registered || !dumped)
		return;
	flush_deferred();
	w = dev_find(opt.writer);
	if (w < 0 || !devs[w].present)
		return;

	if (!lease_paused && now >= next_lease_ms) {
		send_lease(w);
		next_lease_ms = now + opt.lease_ms / 3;
	}

	if (join.phase && now - join.started_ms > JOIN_TIMEOUT_MS)
		join_retry("timeout");
	if (join.phase || now < join.retry_at_ms)
		return;

	if (devs[w].epoch == 0) {
		join.dev = -1;
	} else {
		for (i = 0; i < MAX_DEVS; i++)
			if (devs[i].used && devs[i].present &&
			    devs[i].role == DM_RED_ROLE_COPIER &&
			    devs[i].state == DM_RED_STATE_JOINING)
				break;
		if (i == MAX_DEVS)
			return;
		join.dev = i;
		logmsg("joining copier %s", devs[i].name);
	}
	join.req_id = next_req_id++;
	join.base_epoch = devs[w].epoch;
	join.epoch = UINT64_MAX;
	join.started_ms = now;
	join.phase = 1;
	if (!send_new_epoch(w, (uint32_t)count_copiers(), join.req_id))
		join_retry("send");
}

static void handle_epoch_done(struct nlattr **tb)
{
	const char *w = rednl_str(tb, DM_RED_A_RESOURCE);
	uint64_t req_id = rednl_u64(tb, DM_RED_A_REQ_ID, 0);
	uint64_t epoch = rednl_u64(tb, DM_RED_A_EPOCH, 0);
	int i;

	if (!w)
		return;
	i = dev_find(w);
	if (i >= 0 && epoch > devs[i].epoch)
		devs[i].epoch = epoch;
	if (join.phase != 1 || req_id != join.req_id) {
		logmsg("EPOCH_DONE %s req=%llu epoch=%llu: not ours, ignored",
		       w, (unsigned long long)req_id, (unsigned long long)epoch);
		return;
	}
	logmsg("EPOCH_DONE %s epoch=%llu", w, (unsigned long long)epoch);
	join.epoch = epoch;
	if (join.dev < 0) {
		join.phase = 0;
		return;
	}
	if (!devs[join.dev].present ||
	    devs[join.dev].state != DM_RED_STATE_JOINING) {
		logmsg("copier %s no longer joining, join dropped",
		       devs[join.dev].name);
		join.phase = 0;
		return;
	}
	join.phase = 2;
	if (!send_join_ack(join.dev, epoch))
		join_retry("send JOIN_ACK");
}

/* ---- netlink callbacks ------------------------------------------------- */

static void ready(void)
{
	FILE *f;
	char tmp[4096];

	if (ready_done)
		return;
	ready_done = true;
	logmsg("ready (registered, state dumped)");
	if (opt.pidfile) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", opt.pidfile);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 ||
		    fclose(f) != 0 || rename(tmp, opt.pidfile) < 0)
			logmsg("ERROR: cannot write pidfile %s: %s",
			       opt.pidfile, strerror(errno));
	}
	if (opt.signal_parent && kill(getppid(), SIGUSR1) < 0)
		logmsg("ERROR: cannot signal parent: %s", strerror(errno));
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[DM_RED_A_MAX + 1];
	char line[1024];
	int err;

	(void)arg;
	if (nlmsg_hdr(msg)->nlmsg_type != nl.family)
		return NL_SKIP;
	err = rednl_parse(msg, tb);
	if (err < 0) {
		logmsg("ERROR: cannot parse %s message: %s",
		       rednl_cmd_name(g->cmd), nl_geterror(err));
		return NL_SKIP;
	}
	switch (g->cmd) {
	case DM_RED_CMD_REGISTER:
		logmsg("registered: proto_version=%u features=0x%llx",
		       rednl_u32(tb, DM_RED_A_PROTO_VERSION, 0),
		       (unsigned long long)rednl_u64(tb, DM_RED_A_FEATURES, 0));
		break;
	case DM_RED_CMD_STATE:
	case DM_RED_CMD_GET_STATE:
		rednl_format(tb, g->cmd, line, sizeof(line));
		logmsg("state: %s", line);
		dev_update(tb, false, 0);
		break;
	case DM_RED_CMD_EVENT: {
		uint32_t ev = rednl_u32(tb, DM_RED_A_EVENT, 0);

		rednl_format(tb, g->cmd, line, sizeof(line));
		if (evf) {
			fprintf(evf, "%s\n", line);
			fflush(evf);
		}
		logmsg("event: %s", line);
		dev_update(tb, true, ev);
		break;
	}
	case DM_RED_CMD_STABILIZE:
		handle_stabilize(tb);
		break;
	case DM_RED_CMD_PRESERVE_DONE: {
		uint64_t id = rednl_u64(tb, DM_RED_A_REQ_ID, 0);
		int e = (int32_t)rednl_u32(tb, DM_RED_A_ERROR, 0);

		if (!pres_done(id, e, "PRESERVE_DONE error"))
			logmsg("PRESERVE_DONE req=%llu error=%d: unknown, ignored",
			       (unsigned long long)id, e);
		else if (e)
			logmsg("PRESERVE_DONE req=%llu error=%s",
			       (unsigned long long)id, rednl_errname(e));
		break;
	}
	case DM_RED_CMD_EPOCH_DONE:
		handle_epoch_done(tb);
		break;
	default:
		rednl_format(tb, g->cmd, line, sizeof(line));
		logmsg("unexpected message: %s", line);
		break;
	}
	return NL_OK;
}

static void req_result(struct req *r, int error, const char *extack)
{
	const char *dn = r->dev >= 0 ? devs[r->dev].name : "-";

	if (error)
		logmsg("%s %s: kernel said %s (%d)%s%s",
		       r->kind == RK_REGISTER ? "REGISTER" :
		       r->kind == RK_DUMP ? "GET_STATE" :
		       r->kind == RK_LEASE ? "LEASE" :
		       r->kind == RK_NEW_EPOCH ? "NEW_EPOCH" :
		       r->kind == RK_JOIN_ACK ? "JOIN_ACK" :
		       r->kind == RK_PRESERVE ? "PRESERVE" : "STABILIZE_ACK",
		       dn, rednl_errname(error), error,
		       extack ? ": " : "", extack ? extack : "");
	switch (r->kind) {
	case RK_REGISTER:
		if (error) {
			logmsg("FATAL: registration refused");
			exit(1);
		}
		registered = true;
		dumped = false;
		send_dump();
		break;
	case RK_DUMP:
		if (error) {
			logmsg("FATAL: state dump failed");
			exit(1);
		}
		dumped = true;
		logmsg("state dump complete");
		ready();
		break;
	case RK_LEASE:
	case RK_STABILIZE_ACK:
		break;
	case RK_NEW_EPOCH:
		if (error && join.phase == 1 && join.req_id == r->req_id)
			join_retry("NEW_EPOCH refused");
		break;
	case RK_JOIN_ACK:
		if (join.phase != 2 || join.dev != r->dev)
			break;
		if (error) {
			join_retry("JOIN_ACK refused");
			break;
		}
		devs[r->dev].joined = true;
		devs[r->dev].expelled = false;
		devs[r->dev].state = DM_RED_STATE_ACTIVE;
		devs[r->dev].epoch = r->epoch;
		logmsg("copier %s joined at epoch %llu", dn,
		       (unsigned long long)r->epoch);
		join.phase = 0;
		break;
	case RK_PRESERVE:
		if (error)
			pres_done(r->req_id, error, "PRESERVE refused");
		break;
	}
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct nlmsgerr *e = nlmsg_data(nlmsg_hdr(msg));
	struct req *r = req_take(e->msg.nlmsg_seq);

	(void)arg;
	if (r) {
		req_result(r, 0, NULL);
		free(r);
	}
	return NL_OK;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct req *r = req_take(h->nlmsg_seq);
	int error = 0;

	(void)arg;
	if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
		error = *(int *)nlmsg_data(h);
	if (r) {
		req_result(r, error, NULL);
		free(r);
	}
	return NL_OK;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct req *r = req_take(e->msg.nlmsg_seq);

	(void)nla;
	(void)arg;
	if (r) {
		req_result(r, e->error, rednl_extack(e));
		free(r);
	} else {
		logmsg("error %s for unknown seq %u", rednl_errname(e->error),
		       e->msg.nlmsg_seq);
	}
	return NL_SKIP;
}

static void resync(void)
{
	struct req *r;

	logmsg("WARNING: netlink receive overrun: re-registering and re-dumping");
	/* Acks may have been lost: forget them. */
	while ((r = reqs)) {
		reqs = r->next;
		free(r);
	}
	if (join.phase)
		join_retry("overrun");
	registered = false;
	dumped = false;
	send_register();
}

static void read_netlink(void)
{
	int n, batches = 0;

	while (batches++ < 1024) {
		n = nl_recvmsgs_report(nl.sk, cb);
		if (n > 0)
			continue;
		if (n == 0 || n == -NLE_AGAIN)
			return;
		if (n == -NLE_NOMEM) {
			need_resync = true;
			return;
		}
		logmsg("ERROR: netlink receive: %s", nl_geterror(n));
		return;
	}
}

static void handle_signals(int sfd)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(sfd, &si, sizeof(si))) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			logmsg("signal %d: exiting", si.ssi_signo);
			quit = true;
			break;
		case SIGUSR1:
			lease_paused = true;
			logmsg("SIGUSR1: lease renewal paused");
			break;
		case SIGUSR2:
			lease_paused = false;
			next_lease_ms = 0;
			logmsg("SIGUSR2: lease renewal resumed");
			break;
		}
	}
	if (n < 0 && errno != EAGAIN)
		logmsg("ERROR: signalfd read: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "writer", required_argument, NULL, 'w' },
		{ "lease-ms", required_argument, NULL, 'l' },
		{ "events", required_argument, NULL, 'e' },
		{ "log", required_argument, NULL, 'L' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "once-registered-signal", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L },
				  .it_value = { 0, TICK_MS * 1000000L } };
	struct timespec ts;
	struct stab *s;
	struct req *r;
	sigset_t mask;
	int c, tfd, sfd;
	char *end;

	logf = stderr;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			opt.writer = optarg;
			break;
		case 'l': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v < 3 || v > 3600000) {
				fprintf(stderr, "red-testd: bad --lease-ms %s\n",
					optarg);
				return 2;
			}
			opt.lease_ms = (unsigned int)v;
			break;
		}
		case 'e':
			opt.events_path = optarg;
			break;
		case 'L':
			opt.log_path = optarg;
			break;
		case 'p':
			opt.pidfile = optarg;
			break;
		case 's':
			opt.signal_parent = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!opt.writer || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(opt.writer) >= DM_RED_RESOURCE_MAX) {
		fprintf(stderr, "red-testd: writer name too long\n");
		return 2;
	}
	if (opt.log_path) {
		logf = fopen(opt.log_path, "a");
		if (!logf) {
			fprintf(stderr, "red-testd: %s: %s\n", opt.log_path,
				strerror(errno));
			return 1;
		}
	}
	if (opt.events_path) {
		evf = fopen(opt.events_path, "a");
		if (!evf) {
			logmsg("FATAL: %s: %s", opt.events_path, strerror(errno));
			return 1;
		}
	}

	/* Request ids unique across restarts: the kernel may re-send old ones. */
	clock_gettime(CLOCK_REALTIME, &ts);
	next_req_id = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(ts.tv_nsec / 1000);
	if (!next_req_id)
		next_req_id = 1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		logmsg("FATAL: sigprocmask: %s", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		logmsg("FATAL: signalfd: %s", strerror(errno));
		return 1;
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) {
		logmsg("FATAL: timerfd: %s", strerror(errno));
		return 1;
	}

	if (rednl_open(&nl, "red-testd") < 0)
		return 1;
	{
		struct nl_cb *base = nl_socket_get_cb(nl.sk);

		/* The clone keeps the disabled sequence check. */
		cb = nl_cb_clone(base);
		nl_cb_put(base);
	}
	if (!cb) {
		logmsg("FATAL: nl_cb_clone");
		return 1;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, NULL);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, NULL);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, NULL);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, NULL);

	/* Subscribe first, then register and dump. */
	if (rednl_subscribe(&nl) < 0) {
		logmsg("FATAL: cannot subscribe to the events group");
		return 1;
	}
	logmsg("started: writer=%s lease_ms=%u", opt.writer, opt.lease_ms);
	send_register();

	while (!quit) {
		struct pollfd pfd[3] = {
			{ .fd = rednl_fd(&nl), .events = POLLIN },
			{ .fd = tfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		int n = poll(pfd, 3, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg("FATAL: poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[2].revents & POLLIN)
			handle_signals(sfd);
		if (pfd[0].revents & (POLLIN | POLLERR))
			read_netlink();
		if (pfd[1].revents & POLLIN) {
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof(ticks)) < 0 &&
			    errno != EAGAIN)
				logmsg("ERROR: timerfd read: %s",
				       strerror(errno));
		}
		if (need_resync) {
			need_resync = false;
			resync();
		}
		reconcile();
	}

	while ((s = stabs)) {
		stabs = s->next;
		logmsg("exit with STABILIZE %s req %llu unacked (%d left)",
		       s->writer, (unsigned long long)s->req_id, s->left);
		free(s);
	}
	while ((r = reqs)) {
		reqs = r->next;
		free(r);
	}
	while (deferred) {
		struct deferred *d = deferred;

		deferred = d->next;
		logmsg("exit with STABILIZE %s req %llu deferred", d->writer,
		       (unsigned long long)d->req_id);
		free(d);
	}
	nl_cb_put(cb);
	rednl_close(&nl);
	close(tfd);
	close(sfd);
	if (opt.pidfile && ready_done)
		unlink(opt.pidfile);
	if (evf)
		fclose(evf);
	logmsg("exited");
	if (logf != stderr)
		fclose(logf);
	return 0;
}
