// SPDX-License-Identifier: GPL-2.0
/*
 * red-xoracle: the byte-exact oracle across machines.  Each node runs it on
 * its own dm-red device, on a region [--offset, --offset + --length) whose
 * contents at the copiers' join point are known to every node because they
 * were written by `fill` before anybody joined:
 *
 *   fill       write PATTERN(seed) over the region (on the writer, before
 *              the copiers join)
 *   run        random reads and writes of this node's device for --seconds
 *              (or until --stop-file exists); model = PATTERN + own writes;
 *              every read is checked, then the whole region; --lun also
 *              compares the LUN's region with the model (the writer)
 *   seq-write  write one 4 KiB block at a time, synchronously, each stamped
 *              with its sequence number 1, 2, ...; block of write s is
 *              hash(seed, s) (--order random) or s-1 (--order stride, one
 *              block per --stride bytes: every write a first write to its
 *              chunk); --log gets "seq block start_ms latency_ms" lines
 *   seq-check  read the region and prove it is exactly the state after the
 *              first S writes of `seq-write` over zeros, for some S (the
 *              largest sequence number found); --expect S also requires S
 *
 * Records are 32 bytes (magic, run, writer node, thread, op, offset,
 * checksum), so a mismatch says whose data was found: a copier finding a
 * record of the writer's node has seen data written after its join point.
 *
 * Exit: 0 pass, 1 fail (mismatch, I/O error), 2 usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define BLK		4096u
#define REC		32u
#define MAGIC		0x58444552u	/* "REDX" */
#define PATTERN_DEV	0xffffu
#define SEQ_THREAD	0xfffeu
#define MAX_THREADS	16
#define MAX_REPORT	20
#define VERIFY_IO	(1u << 20)

struct rec {
	uint32_t magic;
	uint32_t run;
	uint16_t dev;
	uint16_t thread;
	uint32_t op;
	uint64_t off;
	uint64_t check;
};
_Static_assert(sizeof(struct rec) == REC, "record size");

static struct {
	const char *dev, *lun, *stop_file, *log, *role;
	uint64_t offset, length, seed, chunk, seconds, count, stride, expect;
	unsigned node, writer_node, threads;
	bool random_order, have_expect, buffered;
} opt = { .chunk = 32768, .seconds = 30, .node = 1, .writer_node = 1,
	  .threads = 2, .stride = BLK, .random_order = true, .role = "writer" };

static uint32_t run;
static unsigned char *model;	/* the region's expected contents */
static uint8_t *busy;		/* per 4 KiB block of the region */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int reported;
static atomic_bool violation;
static atomic_bool stop;
static int fd = -1;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rec_check(const struct rec *r)
{
	uint64_t s = ((uint64_t)r->run << 32) ^ ((uint64_t)r->dev << 16) ^ r->thread;

	s ^= (uint64_t)r->op * 0x9e3779b97f4a7c15ULL;
	s ^= r->off * 0xc2b2ae3d27d4eb4fULL;
	return splitmix(&s);
}

/* @off is the absolute device offset of buf[0]. */
static void fill(unsigned char *buf, size_t len, unsigned dev, unsigned thread,
		 uint32_t op, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i += REC) {
		struct rec *r = (struct rec *)(buf + i);

		r->magic = MAGIC;
		r->run = run;
		r->dev = (uint16_t)dev;
		r->thread = (uint16_t)thread;
		r->op = op;
		r->off = off + i;
		r->check = rec_check(r);
	}
}

static bool rec_valid(const struct rec *r)
{
	return r->magic == MAGIC && r->check == rec_check(r) && r->run == run;
}

static void describe(const unsigned char *p, uint64_t off, char *buf, size_t len)
{
	struct rec r;
	size_t i;

	memcpy(&r, p, sizeof(r));
	if (r.magic == MAGIC && r.check == rec_check(&r)) {
		const char *who = r.dev == PATTERN_DEV ? "pattern" : "node";

		snprintf(buf, len, "[%s%.0u thread=%u op=%u off=%" PRIu64 "%s%s]",
			 who, r.dev == PATTERN_DEV ? 0 : r.dev, r.thread, r.op,
			 r.off, r.run == run ? "" : " OTHER-RUN",
			 r.off == off ? "" : " MISPLACED");
		return;
	}
	for (i = 0; i < REC && !p[i]; i++)
		;
	if (i == REC) {
		snprintf(buf, len, "[zeros]");
		return;
	}
	snprintf(buf, len, "[raw %016" PRIx64 "%016" PRIx64 "...]",
		 ((const uint64_t *)p)[0], ((const uint64_t *)p)[1]);
}

/* Compare @len bytes read at absolute @off with the model. */
static uint64_t compare(const char *what, uint64_t off, const unsigned char *got,
			size_t len, const char *ctx)
{
	const unsigned char *want = model + (off - opt.offset);
	uint64_t bad = 0;
	size_t b;

	if (!memcmp(got, want, len))
		return 0;
	for (b = 0; b < len; b += BLK) {
		size_t n = len - b < BLK ? len - b : BLK, i;
		char e[160], f[160];
		const char *verdict = "";
		const struct rec *r;
		uint64_t at;

		if (!memcmp(got + b, want + b, n))
			continue;
		bad++;
		for (i = 0; i < n && got[b + i] == want[b + i]; i++)
			;
		i &= ~(size_t)(REC - 1);
		at = off + b + i;
		r = (const struct rec *)(got + b + i);
		if (strcmp(opt.role, "copier") == 0 && rec_valid(r) &&
		    r->dev == opt.writer_node) {
			verdict = " ISOLATION VIOLATION: found the writer's data";
			atomic_store(&violation, true);
		}
		if (atomic_fetch_add(&reported, 1) >= MAX_REPORT)
			continue;
		describe(want + b + i, at, e, sizeof(e));
		describe(got + b + i, at, f, sizeof(f));
		out("# MISMATCH %s off=%" PRIu64 " chunk=%" PRIu64 "+%" PRIu64
		    " %s: expected %s found %s%s\n", what, at, at / opt.chunk,
		    at % opt.chunk, ctx, e, f, verdict);
	}
	return bad;
}

static int full_io(bool write, int f, unsigned char *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(f, buf + done, len - done, (off_t)(off + done))
				  : pread(f, buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return write ? -ENOSPC : -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

static int open_dev(const char *path, int flags, uint64_t need)
{
	struct stat st;
	uint64_t sz = 0;
	int f = open(path, flags | O_CLOEXEC | (opt.buffered ? 0 : O_DIRECT));

	if (f < 0) {
		fprintf(stderr, "red-xoracle: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(f, &st) == 0 && S_ISBLK(st.st_mode)) {
		if (ioctl(f, BLKGETSIZE64, &sz) < 0)
			sz = 0;
	} else if (S_ISREG(st.st_mode)) {
		sz = (uint64_t)st.st_size;
	}
	if (sz < need) {
		fprintf(stderr, "red-xoracle: %s: %" PRIu64 " bytes, the region needs %" PRIu64 "\n",
			path, sz, need);
		close(f);
		return -1;
	}
	return f;
}

/* ---- fill / run ---------------------------------------------------------- */

static int make_pattern(void)
{
	model = aligned_alloc(BLK, opt.length);
	if (!model) {
		fprintf(stderr, "red-xoracle: cannot allocate %" PRIu64 " bytes\n", opt.length);
		return -1;
	}
	fill(model, opt.length, PATTERN_DEV, 0, 0, opt.offset);
	return 0;
}

static int do_fill(void)
{
	int err;

	if (make_pattern() < 0)
		return 2;
	err = full_io(true, fd, model, opt.length, opt.offset);
	if (!err && fdatasync(fd) < 0)
		err = -errno;
	if (err) {
		printf("# fill %s: %s\n", opt.dev, strerror(-err));
		return 1;
	}
	printf("# filled %s [%" PRIu64 ", +%" PRIu64 ") with the pattern of seed %" PRIu64 "\n",
	       opt.dev, opt.offset, opt.length, opt.seed);
	return 0;
}

struct worker {
	pthread_t tid;
	unsigned thread;
	uint64_t rng;
	uint64_t reads, writes, mismatches, io_errors;
	double max_ms;
	unsigned char *buf;
};

static void range_lock(uint64_t b0, uint64_t b1, bool on)
{
	uint64_t b;

	pthread_mutex_lock(&lock);
	if (on) {
retry:
		for (b = b0; b < b1; b++) {
			if (busy[b]) {
				pthread_cond_wait(&cond, &lock);
				goto retry;
			}
		}
	}
	for (b = b0; b < b1; b++)
		busy[b] = on;
	if (!on)
		pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	uint64_t cblk = opt.chunk / BLK, nblk = opt.length / BLK, op;
	double deadline = now_ms() + (double)opt.seconds * 1e3;

	for (op = 0; !atomic_load(&stop); op++) {
		uint64_t r = splitmix(&w->rng), len, blk, off;
		bool is_write = r & 1;
		int pct = (int)((r >> 1) % 100), err;
		double t0, dt;
		char ctx[96];

		if (now_ms() > deadline ||
		    (opt.stop_file && (op & 15) == 0 && access(opt.stop_file, F_OK) == 0)) {
			atomic_store(&stop, true);
			break;
		}
		r = splitmix(&w->rng);
		if (pct < 50 && cblk > 1)
			len = BLK * (1 + r % (cblk - 1));	/* part of a chunk */
		else if (pct < 85)
			len = opt.chunk;
		else
			len = opt.chunk * (2 + r % 3);
		if (len > opt.length)
			len = opt.length;
		r = splitmix(&w->rng);
		if (len >= opt.chunk && (r & 1))
			blk = ((r >> 1) % ((opt.length - len) / opt.chunk + 1)) * cblk;
		else
			blk = (r >> 1) % (nblk - len / BLK + 1);
		off = opt.offset + blk * BLK;

		range_lock(blk, blk + len / BLK, true);
		t0 = now_ms();
		if (is_write) {
			fill(w->buf, len, opt.node, w->thread, (uint32_t)op, off);
			err = full_io(true, fd, w->buf, len, off);
			if (!err)
				memcpy(model + (off - opt.offset), w->buf, len);
		} else {
			err = full_io(false, fd, w->buf, len, off);
			if (!err) {
				snprintf(ctx, sizeof(ctx), "read op %" PRIu64 " of thread %u (%" PRIu64 " bytes)",
					 op, w->thread, len);
				w->mismatches += compare(opt.dev, off, w->buf, len, ctx);
			}
		}
		dt = now_ms() - t0;
		range_lock(blk, blk + len / BLK, false);
		if (dt > w->max_ms)
			w->max_ms = dt;
		if (err) {
			w->io_errors++;
			out("# IO ERROR %s: %s of %" PRIu64 " bytes at %" PRIu64 ": %s; thread stops\n",
			    opt.dev, is_write ? "write" : "read", len, off, strerror(-err));
			break;
		}
		if (is_write)
			w->writes++;
		else
			w->reads++;
	}
	return NULL;
}

/* Read the region of @f completely and compare it with the model. */
static int64_t verify_all(int f, const char *what)
{
	unsigned char *buf = aligned_alloc(BLK, VERIFY_IO);
	uint64_t off, bad = 0;
	char ctx[64];
	int err;

	if (!buf)
		return -1;
	snprintf(ctx, sizeof(ctx), "final read of %s", what);
	for (off = 0; off < opt.length; off += VERIFY_IO) {
		size_t n = opt.length - off < VERIFY_IO ? opt.length - off : VERIFY_IO;

		err = full_io(false, f, buf, n, opt.offset + off);
		if (err) {
			out("# IO ERROR final read of %s at %" PRIu64 ": %s\n", what,
			    opt.offset + off, strerror(-err));
			free(buf);
			return -1;
		}
		bad += compare(what, opt.offset + off, buf, n, ctx);
	}
	free(buf);
	return (int64_t)bad;
}

static int do_run(void)
{
	struct worker w[MAX_THREADS];
	uint64_t reads = 0, writes = 0, mism = 0, ioerr = 0;
	double max_ms = 0, t0 = now_ms();
	int64_t bad;
	unsigned i;
	int fail = 0;

	if (make_pattern() < 0)
		return 2;
	busy = calloc(opt.length / BLK, 1);
	if (!busy)
		return 2;
	memset(w, 0, sizeof(w));
	for (i = 0; i < opt.threads; i++) {
		w[i].thread = opt.node * 100 + i;
		w[i].rng = opt.seed * 0x100000001b3ULL + (opt.node * 64 + i) * 0x9e3779b97f4a7c15ULL;
		w[i].buf = aligned_alloc(BLK, 4 * opt.chunk);
		if (!w[i].buf || pthread_create(&w[i].tid, NULL, worker_fn, &w[i])) {
			fprintf(stderr, "red-xoracle: cannot start thread %u\n", i);
			return 2;
		}
	}
	for (i = 0; i < opt.threads; i++) {
		pthread_join(w[i].tid, NULL);
		reads += w[i].reads;
		writes += w[i].writes;
		mism += w[i].mismatches;
		ioerr += w[i].io_errors;
		if (w[i].max_ms > max_ms)
			max_ms = w[i].max_ms;
		free(w[i].buf);
	}
	printf("# %s node %u on %s: %.1f s, reads=%" PRIu64 " writes=%" PRIu64
	       " mismatched_blocks=%" PRIu64 " io_errors=%" PRIu64 " max_op_ms=%.0f\n",
	       opt.role, opt.node, opt.dev, (now_ms() - t0) / 1e3, reads, writes, mism,
	       ioerr, max_ms);
	if (mism || ioerr)
		fail = 1;
	if (fdatasync(fd) < 0) {
		printf("# fdatasync %s: %s\n", opt.dev, strerror(errno));
		fail = 1;
	}
	bad = verify_all(fd, opt.dev);
	printf("# final %s: %s%" PRId64 " mismatched blocks\n", opt.dev,
	       bad < 0 ? "read failed, " : "", bad < 0 ? (int64_t)0 : bad);
	if (bad)
		fail = 1;
	if (opt.lun) {
		int lf = open_dev(opt.lun, O_RDONLY, opt.offset + opt.length);

		if (lf < 0)
			return 2;
		bad = verify_all(lf, opt.lun);
		printf("# final LUN %s vs the model: %s%" PRId64 " mismatched blocks\n", opt.lun,
		       bad < 0 ? "read failed, " : "", bad < 0 ? (int64_t)0 : bad);
		if (bad)
			fail = 1;
		close(lf);
	}
	if (atomic_load(&violation)) {
		printf("# ISOLATION VIOLATION: the copier returned the writer's data\n");
		fail = 1;
	}
	printf("# result: %s reads=%" PRIu64 " writes=%" PRIu64 " max_op_ms=%.0f\n",
	       fail ? "FAIL" : "PASS", reads, writes, max_ms);
	return fail;
}

/* ---- seq-write / seq-check ---------------------------------------------- */

static uint64_t seq_block(uint64_t s, uint64_t nblk)
{
	uint64_t x = opt.seed ^ (s * 0xd1342543de82ef95ULL);

	if (!opt.random_order)
		return (s - 1) * (opt.stride / BLK);
	return splitmix(&x) % nblk;
}

static uint64_t seq_max(void)
{
	return opt.random_order ? UINT32_MAX : opt.length / opt.stride;
}

static int do_seq_write(void)
{
	unsigned char *buf = aligned_alloc(BLK, BLK);
	uint64_t nblk = opt.length / BLK, s, limit = opt.count ? opt.count : seq_max();
	double start = now_ms(), max_ms = 0, max_at = 0, total = 0;
	uint64_t max_seq = 0, over1s = 0;
	FILE *log = NULL;
	int err = 0;

	if (!buf)
		return 2;
	if (limit > seq_max())
		limit = seq_max();
	if (opt.log) {
		log = fopen(opt.log, "w");
		if (!log) {
			fprintf(stderr, "red-xoracle: %s: %s\n", opt.log, strerror(errno));
			return 2;
		}
	}
	for (s = 1; s <= limit; s++) {
		uint64_t off = opt.offset + seq_block(s, nblk) * BLK;
		double t0 = now_ms(), dt;

		if (t0 - start > (double)opt.seconds * 1e3 ||
		    (opt.stop_file && access(opt.stop_file, F_OK) == 0))
			break;
		fill(buf, BLK, opt.node, SEQ_THREAD, (uint32_t)s, off);
		err = full_io(true, fd, buf, BLK, off);
		dt = now_ms() - t0;
		if (err) {
			printf("# IO ERROR seq %" PRIu64 " at %" PRIu64 ": %s\n", s, off, strerror(-err));
			break;
		}
		total += dt;
		if (dt > 1000)
			over1s++;
		if (dt > max_ms) {
			max_ms = dt;
			max_seq = s;
			max_at = t0 - start;
		}
		if (log) {
			fprintf(log, "%" PRIu64 " %" PRIu64 " %.0f %.1f\n", s,
				(off - opt.offset) / BLK, t0 - start, dt);
			fflush(log);
		}
	}
	s--;
	if (log)
		fclose(log);
	printf("# seq-write %s: writes=%" PRIu64 " in %.1f s, mean_ms=%.1f max_ms=%.0f (seq %" PRIu64
	       " at %.1f s) over_1s=%" PRIu64 "%s\n", opt.dev, s, (now_ms() - start) / 1e3,
	       s ? total / (double)s : 0.0, max_ms, max_seq, max_at / 1e3, over1s,
	       err ? " IO-ERROR" : "");
	printf("# result: %s writes=%" PRIu64 " max_ms=%.0f\n", err ? "FAIL" : "PASS", s, max_ms);
	return err ? 1 : 0;
}

static int do_seq_check(void)
{
	uint64_t nblk = opt.length / BLK, b, s, S = 0, bad = 0, written = 0;
	unsigned char *img = aligned_alloc(BLK, opt.length), *want;
	uint32_t *last;
	int err;

	if (!img)
		return 2;
	err = full_io(false, fd, img, opt.length, opt.offset);
	if (err) {
		printf("# IO ERROR reading %s: %s\n", opt.dev, strerror(-err));
		return 1;
	}
	/* S: the largest sequence number on the device. */
	for (b = 0; b < nblk; b++) {
		const struct rec *r = (const struct rec *)(img + b * BLK);

		if (rec_valid(r) && r->thread == SEQ_THREAD && r->op > S)
			S = r->op;
	}
	/* The state after the first S writes, over zeros. */
	last = calloc(nblk, sizeof(*last));
	want = aligned_alloc(BLK, BLK);
	if (!last || !want)
		return 2;
	for (s = 1; s <= S; s++) {
		b = seq_block(s, nblk);
		if (b < nblk)
			last[b] = (uint32_t)s;
	}
	for (b = 0; b < nblk; b++) {
		uint64_t off = opt.offset + b * BLK;

		if (last[b]) {
			written++;
			fill(want, BLK, opt.writer_node, SEQ_THREAD, last[b], off);
		} else {
			memset(want, 0, BLK);
		}
		if (memcmp(want, img + b * BLK, BLK)) {
			char e[160], f[160];

			if (bad++ < MAX_REPORT) {
				describe(want, off, e, sizeof(e));
				describe(img + b * BLK, off, f, sizeof(f));
				printf("# MISMATCH block %" PRIu64 " (state after %" PRIu64
				       " writes): expected %s found %s\n", b, S, e, f);
			}
		}
	}
	printf("# seq-check %s: S=%" PRIu64 " blocks_written=%" PRIu64 " of %" PRIu64
	       " mismatched_blocks=%" PRIu64 "\n", opt.dev, S, written, nblk, bad);
	if (opt.have_expect && S != opt.expect) {
		printf("# expected S=%" PRIu64 ", found S=%" PRIu64 "\n", opt.expect, S);
		bad++;
	}
	printf("# result: %s S=%" PRIu64 "\n", bad ? "FAIL" : "PASS", S);
	return bad ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: red-xoracle fill|run|seq-write|seq-check --dev DEV --offset B --length B\n"
		"                   --seed S [--node N] [--writer-node N] [--chunk-bytes B]\n"
		"  run:       [--role writer|copier] [--seconds T] [--stop-file F] [--threads K]\n"
		"             [--lun LUN]\n"
		"  seq-write: [--order random|stride] [--stride B] [--count N] [--seconds T]\n"
		"             [--stop-file F] [--log FILE]\n"
		"  seq-check: [--order random|stride] [--stride B] [--expect S]\n"
		"  --buffered: no O_DIRECT (for tests on plain files).  Sizes take K/M/G.\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': *v <<= 10; end++; break;
	case 'm': case 'M': *v <<= 20; end++; break;
	case 'g': case 'G': *v <<= 30; end++; break;
	}
	return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "offset", required_argument, NULL, 'O' },
		{ "length", required_argument, NULL, 'L' },
		{ "seed", required_argument, NULL, 's' },
		{ "node", required_argument, NULL, 'n' },
		{ "writer-node", required_argument, NULL, 'W' },
		{ "chunk-bytes", required_argument, NULL, 'k' },
		{ "role", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 'T' },
		{ "stop-file", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "lun", required_argument, NULL, 'l' },
		{ "order", required_argument, NULL, 'o' },
		{ "stride", required_argument, NULL, 'x' },
		{ "count", required_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'g' },
		{ "expect", required_argument, NULL, 'e' },
		{ "buffered", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_seed = false, have_len = false;
	const char *mode;
	uint64_t v;
	int c, rc;

	if (argc < 2 || argv[1][0] == '-') {
		usage(argc > 1 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		uint64_t *dst = NULL;

		switch (c) {
		case 'd': opt.dev = optarg; continue;
		case 'l': opt.lun = optarg; continue;
		case 'S': opt.stop_file = optarg; continue;
		case 'g': opt.log = optarg; continue;
		case 'b': opt.buffered = true; continue;
		case 'h': usage(stdout); return 0;
		case 'r':
			if (strcmp(optarg, "writer") && strcmp(optarg, "copier"))
				goto bad;
			opt.role = optarg;
			continue;
		case 'o':
			if (!strcmp(optarg, "random"))
				opt.random_order = true;
			else if (!strcmp(optarg, "stride"))
				opt.random_order = false;
			else
				goto bad;
			continue;
		case 'O': dst = &opt.offset; break;
		case 'L': dst = &opt.length; have_len = true; break;
		case 's': dst = &opt.seed; have_seed = true; break;
		case 'k': dst = &opt.chunk; break;
		case 'T': dst = &opt.seconds; break;
		case 'x': dst = &opt.stride; break;
		case 'c': dst = &opt.count; break;
		case 'e': dst = &opt.expect; opt.have_expect = true; break;
		case 'n': case 'W': case 't':
			if (parse_u64(optarg, &v) || v < 1 || v > 65000)
				goto bad;
			if (c == 't' && v > MAX_THREADS)
				goto bad;
			*(c == 'n' ? &opt.node : c == 'W' ? &opt.writer_node : &opt.threads) =
				(unsigned)v;
			continue;
		default: usage(stderr); return 2;
		}
		if (parse_u64(optarg, dst))
			goto bad;
	}
	if (optind != argc || !opt.dev || !have_seed || !have_len) {
		usage(stderr);
		return 2;
	}
	if (opt.chunk < BLK || (opt.chunk & (opt.chunk - 1)) || opt.offset % BLK ||
	    !opt.length || opt.length % opt.chunk || opt.length < 4 * opt.chunk ||
	    opt.stride < BLK || opt.stride % BLK) {
		fprintf(stderr, "red-xoracle: --chunk-bytes must be a power of two >= 4096, "
			"--offset a multiple of 4096, --length a multiple of the chunk and "
			">= 4 chunks, --stride a multiple of 4096\n");
		return 2;
	}
	run = (uint32_t)(opt.seed ^ (opt.seed >> 32)) | 1;
	if (strcmp(mode, "fill") && strcmp(mode, "run") && strcmp(mode, "seq-write") &&
	    strcmp(mode, "seq-check")) {
		fprintf(stderr, "red-xoracle: unknown mode '%s'\n", mode);
		usage(stderr);
		return 2;
	}
	fd = open_dev(opt.dev, strcmp(mode, "seq-check") ? O_RDWR : O_RDONLY,
		      opt.offset + opt.length);
	if (fd < 0)
		return 2;
	if (!strcmp(mode, "fill"))
		rc = do_fill();
	else if (!strcmp(mode, "run"))
		rc = do_run();
	else if (!strcmp(mode, "seq-write"))
		rc = do_seq_write();
	else
		rc = do_seq_check();
	close(fd);
	return rc;
bad:
	fprintf(stderr, "red-xoracle: bad option value '%s'\n", optarg);
	return 2;
}
