// SPDX-License-Identifier: GPL-2.0
/*
 * red-oracle: random concurrent I/O on a dm-red writer and its copiers,
 * checked byte for byte against a model of each device.
 *
 *   writer model = IMAGE + the writer's own writes
 *   copier model = IMAGE + that copier's own writes
 *
 * IMAGE holds the LUN contents as of the copiers' join point.  Every read
 * must equal the model of its device; at the end every device is read
 * completely, and the LUN must equal the writer model.
 *
 * Within one device, operations in flight never overlap (a per-4 KiB-block
 * range lock), so the model is exact; between devices nothing is
 * serialized: the writer overwriting what a copier reads is the point.
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
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define BLK		4096u
#define REC		32u
#define MAGIC		0x21444552u	/* "RED!" */
#define MAX_COPIERS	16
#define MAX_REPORT	20
#define VERIFY_IO	(1u << 20)

enum { SC_SUB, SC_ONE, SC_MULTI, SC_NR };
static const char *const sc_name[SC_NR] = { "sub", "one", "multi" };

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

struct stats {
	uint64_t reads, writes, bytes_read, bytes_written;
	uint64_t rd[SC_NR], wr[SC_NR];
	uint64_t mismatches, io_errors;
};

struct device {
	const char *path;
	char label[16];
	int id;			/* 0 = writer, 1.. = copiers */
	int fd;
	uint64_t size;
	unsigned char *model;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *busy;		/* per 4 KiB block */
	struct stats st;
};

struct worker {
	pthread_t tid;
	struct device *dev;
	int thread;		/* global thread number */
	uint64_t ops;
	uint64_t rng;
	struct stats st;
	unsigned char *buf;
};

static struct {
	const char *writer;
	const char *copiers[MAX_COPIERS];
	int ncopiers;
	const char *lun;
	const char *image;
	uint64_t chunk;
	uint64_t ops;
	uint64_t seed;
	int tpd;
	bool direct;
} opt = { .tpd = 1, .direct = true };

static struct device devs[1 + MAX_COPIERS];
static int ndevs;
static uint64_t size;
static const unsigned char *image;	/* read-only map of IMAGE */
static uint32_t run;
static atomic_int reported;
static atomic_bool isolation_violation;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

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

static uint64_t rec_check(const struct rec *r)
{
	uint64_t s = ((uint64_t)r->run << 32) ^ ((uint64_t)r->dev << 16) ^
		     r->thread;

	s ^= (uint64_t)r->op * 0x9e3779b97f4a7c15ULL;
	s ^= r->off * 0xc2b2ae3d27d4eb4fULL;
	return splitmix(&s);
}

static void fill(unsigned char *buf, size_t len, int dev, int thread,
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

static void describe(const unsigned char *p, uint64_t off, char *buf,
		     size_t len)
{
	struct rec r;
	size_t i;

	memcpy(&r, p, sizeof(r));
	if (r.magic == MAGIC && r.check == rec_check(&r)) {
		char who[16];

		if (r.dev == 0)
			snprintf(who, sizeof(who), "writer");
		else
			snprintf(who, sizeof(who), "copier%u", r.dev);
		snprintf(buf, len, "[%s thread=%u op=%u off=%" PRIu64 "%s%s]",
			 who, r.thread, r.op, r.off,
			 r.run == run ? "" : " OTHER-RUN",
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

/*
 * Compare @len bytes read from @d at @off with its model.  Returns the
 * number of mismatching 4 KiB blocks; reports the first few.
 */
static uint64_t compare(struct device *d, uint64_t off, const unsigned char *got,
			size_t len, const char *ctx)
{
	const unsigned char *want = d->model + off;
	uint64_t bad = 0;
	size_t b;

	if (!memcmp(got, want, len))
		return 0;
	for (b = 0; b < len; b += BLK) {
		size_t n = len - b < BLK ? len - b : BLK;
		char e[160], f[160];
		const char *verdict = "";
		uint64_t at;
		size_t i;

		if (!memcmp(got + b, want + b, n))
			continue;
		bad++;
		if (atomic_fetch_add(&reported, 1) >= MAX_REPORT)
			continue;
		for (i = 0; i < n && got[b + i] == want[b + i]; i++)
			;
		i &= ~(size_t)(REC - 1);
		at = off + b + i;
		describe(want + b + i, at, e, sizeof(e));
		describe(got + b + i, at, f, sizeof(f));
		if (d->id != 0) {
			const struct rec *r = (const struct rec *)(got + b + i);

			if ((r->magic == MAGIC && r->check == rec_check(r) &&
			     r->run == run && r->dev == 0) ||
			    !memcmp(got + b + i, devs[0].model + at, REC)) {
				verdict = " ISOLATION VIOLATION: found the writer's data";
				atomic_store(&isolation_violation, true);
			} else if (!memcmp(got + b + i, image + at, REC)) {
				verdict = " (found the join-point image: own write lost)";
			}
		} else if (!memcmp(got + b + i, image + at, REC)) {
			verdict = " (found the join-point image: write lost)";
		}
		out("# MISMATCH %s(%s) off=%" PRIu64 " chunk=%" PRIu64 "+%" PRIu64
		    " %s: expected %s found %s%s\n", d->label, d->path, at,
		    at / opt.chunk, at % opt.chunk, ctx, e, f, verdict);
	}
	return bad;
}

static void range_lock(struct device *d, uint64_t off, uint64_t len)
{
	uint64_t b0 = off / BLK, b1 = (off + len + BLK - 1) / BLK, b;

	pthread_mutex_lock(&d->lock);
retry:
	for (b = b0; b < b1; b++) {
		if (d->busy[b]) {
			pthread_cond_wait(&d->cond, &d->lock);
			goto retry;
		}
	}
	for (b = b0; b < b1; b++)
		d->busy[b] = 1;
	pthread_mutex_unlock(&d->lock);
}

static void range_unlock(struct device *d, uint64_t off, uint64_t len)
{
	uint64_t b0 = off / BLK, b1 = (off + len + BLK - 1) / BLK, b;

	pthread_mutex_lock(&d->lock);
	for (b = b0; b < b1; b++)
		d->busy[b] = 0;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static int full_pread(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

static int full_pwrite(int fd, const unsigned char *buf, size_t len,
		       uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		done += (size_t)n;
	}
	return 0;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct device *d = w->dev;
	uint64_t cblk = opt.chunk / BLK, nblk = size / BLK, op;

	for (op = 0; op < w->ops; op++) {
		uint64_t r = splitmix(&w->rng), len, off;
		bool is_write = r & 1;
		int pct = (int)((r >> 1) % 100), sc;
		char ctx[96];
		int err;

		if (pct < 50)
			sc = cblk > 1 ? SC_SUB : SC_ONE;
		else if (pct < 80)
			sc = SC_ONE;
		else
			sc = SC_MULTI;
		r = splitmix(&w->rng);
		switch (sc) {
		case SC_SUB:
			len = BLK * (1 + r % (cblk - 1));
			break;
		case SC_ONE:
			len = opt.chunk;
			break;
		default:
			len = opt.chunk * (2 + r % 3);
			break;
		}
		if (len > size)
			len = size;
		r = splitmix(&w->rng);
		if (sc != SC_SUB && (r & 1)) {
			/* chunk aligned: the full-chunk paths */
			uint64_t nch = (size - len) / opt.chunk + 1;

			off = ((r >> 1) % nch) * opt.chunk;
		} else {
			off = ((r >> 1) % (nblk - len / BLK + 1)) * BLK;
		}

		range_lock(d, off, len);
		if (is_write) {
			fill(w->buf, len, d->id, w->thread, (uint32_t)op, off);
			err = full_pwrite(d->fd, w->buf, len, off);
			if (!err)
				memcpy(d->model + off, w->buf, len);
		} else {
			err = full_pread(d->fd, w->buf, len, off);
			if (!err) {
				snprintf(ctx, sizeof(ctx),
					 "read op %" PRIu64 " of thread %d (%s, %" PRIu64 " bytes at %" PRIu64 ")",
					 op, w->thread, sc_name[sc], len, off);
				w->st.mismatches += compare(d, off, w->buf, len,
							    ctx);
			}
		}
		range_unlock(d, off, len);
		if (err) {
			w->st.io_errors++;
			out("# IO ERROR %s(%s): %s of %" PRIu64 " bytes at %" PRIu64
			    " (op %" PRIu64 " of thread %d): %s; thread stops\n",
			    d->label, d->path, is_write ? "write" : "read", len,
			    off, op, w->thread, strerror(-err));
			break;
		}
		if (is_write) {
			w->st.writes++;
			w->st.bytes_written += len;
			w->st.wr[sc]++;
		} else {
			w->st.reads++;
			w->st.bytes_read += len;
			w->st.rd[sc]++;
		}
	}
	return NULL;
}

static int get_size(int fd, const char *path, uint64_t *sz)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "red-oracle: fstat %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, sz) < 0) {
			fprintf(stderr, "red-oracle: BLKGETSIZE64 %s: %s\n",
				path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		*sz = (uint64_t)st.st_size;
		return 0;
	}
	fprintf(stderr, "red-oracle: %s: not a block device or file\n", path);
	return -1;
}

/* Read @path completely and compare with @model; returns mismatching blocks or -1. */
static int64_t verify_all(struct device *d, int fd, const char *what)
{
	unsigned char *buf;
	uint64_t off, bad = 0;
	char ctx[64];
	int err;

	if (posix_memalign((void **)&buf, BLK, VERIFY_IO)) {
		out("# cannot allocate verify buffer\n");
		return -1;
	}
	snprintf(ctx, sizeof(ctx), "final read of %s", what);
	for (off = 0; off < size; off += VERIFY_IO) {
		size_t n = size - off < VERIFY_IO ? size - off : VERIFY_IO;

		err = full_pread(fd, buf, n, off);
		if (err) {
			out("# IO ERROR final read of %s at %" PRIu64 ": %s\n",
			    what, off, strerror(-err));
			free(buf);
			return -1;
		}
		bad += compare(d, off, buf, n, ctx);
	}
	free(buf);
	return (int64_t)bad;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: red-oracle --writer DEV --copier DEV [--copier DEV ...] --lun DEV\n"
		"                  --image FILE --chunk-bytes N --ops N --seed S\n"
		"                  [--threads-per-dev N] [--no-direct]\n"
		"  IMAGE: the LUN contents as of the copiers' join point.\n"
		"  Exit 0 if every read and the final comparison matched, 1 if not,\n"
		"  2 on a usage or setup error.\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': *v <<= 10; end++; break;
	case 'm': case 'M': *v <<= 20; end++; break;
	case 'g': case 'G': *v <<= 30; end++; break;
	}
	return *end ? -1 : 0;
}

static int open_dev(struct device *d, const char *path, int id)
{
	int flags = O_RDWR | O_CLOEXEC | (opt.direct ? O_DIRECT : 0);

	d->path = path;
	d->id = id;
	if (id == 0)
		snprintf(d->label, sizeof(d->label), "writer");
	else
		snprintf(d->label, sizeof(d->label), "copier%d", id);
	d->fd = open(path, flags);
	if (d->fd < 0) {
		fprintf(stderr, "red-oracle: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (get_size(d->fd, path, &d->size) < 0)
		return -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "writer", required_argument, NULL, 'w' },
		{ "copier", required_argument, NULL, 'c' },
		{ "lun", required_argument, NULL, 'l' },
		{ "image", required_argument, NULL, 'i' },
		{ "chunk-bytes", required_argument, NULL, 'k' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads-per-dev", required_argument, NULL, 't' },
		{ "no-direct", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker *workers;
	struct stats total = { 0 };
	uint64_t v, imgsize, lunsize;
	int c, i, j, nthreads, imgfd, lunfd, fail = 0;
	int64_t bad;
	bool have_seed = false, have_ops = false;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w': opt.writer = optarg; break;
		case 'c':
			if (opt.ncopiers == MAX_COPIERS) {
				fprintf(stderr, "red-oracle: at most %d copiers\n",
					MAX_COPIERS);
				return 2;
			}
			opt.copiers[opt.ncopiers++] = optarg;
			break;
		case 'l': opt.lun = optarg; break;
		case 'i': opt.image = optarg; break;
		case 'k':
			if (parse_u64(optarg, &opt.chunk) < 0) goto bad;
			break;
		case 'o':
			if (parse_u64(optarg, &opt.ops) < 0) goto bad;
			have_ops = true;
			break;
		case 's':
			if (parse_u64(optarg, &opt.seed) < 0) goto bad;
			have_seed = true;
			break;
		case 't':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 64) goto bad;
			opt.tpd = (int)v;
			break;
		case 'n': opt.direct = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !opt.writer || !opt.ncopiers || !opt.lun ||
	    !opt.image || !opt.chunk || !have_ops || !have_seed) {
		usage(stderr);
		return 2;
	}
	if (opt.chunk < BLK || opt.chunk > (64u << 20) ||
	    (opt.chunk & (opt.chunk - 1))) {
		fprintf(stderr, "red-oracle: --chunk-bytes must be a power of two >= 4096\n");
		return 2;
	}
	run = (uint32_t)(opt.seed ^ (opt.seed >> 32)) | 1;

	imgfd = open(opt.image, O_RDONLY | O_CLOEXEC);
	if (imgfd < 0 || get_size(imgfd, opt.image, &imgsize) < 0) {
		if (imgfd < 0)
			fprintf(stderr, "red-oracle: open %s: %s\n", opt.image,
				strerror(errno));
		return 2;
	}
	size = imgsize;
	if (size < 4 * opt.chunk || size % BLK) {
		fprintf(stderr, "red-oracle: image size %" PRIu64
			" must be a multiple of 4096 and at least 4 chunks\n", size);
		return 2;
	}
	image = mmap(NULL, size, PROT_READ, MAP_SHARED, imgfd, 0);
	if (image == MAP_FAILED) {
		fprintf(stderr, "red-oracle: mmap %s: %s\n", opt.image, strerror(errno));
		return 2;
	}

	ndevs = 1 + opt.ncopiers;
	for (i = 0; i < ndevs; i++) {
		struct device *d = &devs[i];

		if (open_dev(d, i ? opt.copiers[i - 1] : opt.writer, i) < 0)
			return 2;
		if (d->size < size) {
			fprintf(stderr, "red-oracle: %s is smaller (%" PRIu64
				") than the image (%" PRIu64 ")\n", d->path,
				d->size, size);
			return 2;
		}
		if (d->size > size)
			printf("# note: %s is %" PRIu64 " bytes, image %" PRIu64
			       ": only the first %" PRIu64 " are tested\n",
			       d->path, d->size, size, size);
		/* Private copy-on-write map: pages are copied when modified. */
		d->model = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				imgfd, 0);
		d->busy = calloc(size / BLK, 1);
		if (d->model == MAP_FAILED || !d->busy) {
			fprintf(stderr, "red-oracle: cannot allocate the model of %s\n",
				d->path);
			return 2;
		}
	}
	lunfd = open(opt.lun, O_RDONLY | O_CLOEXEC | (opt.direct ? O_DIRECT : 0));
	if (lunfd < 0 || get_size(lunfd, opt.lun, &lunsize) < 0) {
		if (lunfd < 0)
			fprintf(stderr, "red-oracle: open %s: %s\n", opt.lun,
				strerror(errno));
		return 2;
	}
	if (lunsize < size) {
		fprintf(stderr, "red-oracle: LUN %s smaller than the image\n", opt.lun);
		return 2;
	}

	printf("# red-oracle: seed=%" PRIu64 " ops=%" PRIu64 " chunk=%" PRIu64
	       " size=%" PRIu64 " threads-per-dev=%d direct=%d writer=%s lun=%s image=%s\n",
	       opt.seed, opt.ops, opt.chunk, size, opt.tpd, opt.direct,
	       opt.writer, opt.lun, opt.image);
	for (i = 1; i < ndevs; i++)
		printf("# copier%d=%s\n", i, devs[i].path);
	fflush(stdout);

	nthreads = ndevs * opt.tpd;
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers) {
		fprintf(stderr, "red-oracle: out of memory\n");
		return 2;
	}
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];

		w->dev = &devs[i / opt.tpd];
		w->thread = i;
		w->ops = opt.ops / (uint64_t)nthreads +
			 ((uint64_t)i < opt.ops % (uint64_t)nthreads);
		w->rng = opt.seed * 0x100000001b3ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
		if (posix_memalign((void **)&w->buf, BLK, 4 * opt.chunk)) {
			fprintf(stderr, "red-oracle: out of memory\n");
			return 2;
		}
	}
	for (i = 0; i < nthreads; i++) {
		int err = pthread_create(&workers[i].tid, NULL, worker_fn,
					 &workers[i]);

		if (err) {
			fprintf(stderr, "red-oracle: pthread_create: %s\n",
				strerror(err));
			return 2;
		}
	}
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		struct stats *s = &w->dev->st;

		pthread_join(w->tid, NULL);
		s->reads += w->st.reads;
		s->writes += w->st.writes;
		s->bytes_read += w->st.bytes_read;
		s->bytes_written += w->st.bytes_written;
		for (j = 0; j < SC_NR; j++) {
			s->rd[j] += w->st.rd[j];
			s->wr[j] += w->st.wr[j];
		}
		s->mismatches += w->st.mismatches;
		s->io_errors += w->st.io_errors;
		free(w->buf);
	}
	free(workers);

	for (i = 0; i < ndevs; i++) {
		struct device *d = &devs[i];
		struct stats *s = &d->st;

		printf("# %s(%s): reads=%" PRIu64 " writes=%" PRIu64
		       " bytes_read=%" PRIu64 " bytes_written=%" PRIu64,
		       d->label, d->path, s->reads, s->writes, s->bytes_read,
		       s->bytes_written);
		for (j = 0; j < SC_NR; j++)
			printf(" %s=%" PRIu64 "r/%" PRIu64 "w", sc_name[j],
			       s->rd[j], s->wr[j]);
		printf(" mismatched_blocks=%" PRIu64 " io_errors=%" PRIu64 "\n",
		       s->mismatches, s->io_errors);
		total.reads += s->reads;
		total.writes += s->writes;
		if (s->mismatches || s->io_errors)
			fail = 1;
	}
	printf("# total ops done: %" PRIu64 " (reads=%" PRIu64 " writes=%" PRIu64
	       ") of %" PRIu64 "\n", total.reads + total.writes, total.reads,
	       total.writes, opt.ops);
	fflush(stdout);

	/* Final pass: each device completely, then the LUN vs the writer model. */
	for (i = 0; i < ndevs; i++) {
		struct device *d = &devs[i];

		if (fdatasync(d->fd) < 0) {
			printf("# fdatasync %s: %s\n", d->path, strerror(errno));
			fail = 1;
		}
		bad = verify_all(d, d->fd, d->label);
		printf("# final %s(%s): %s%" PRId64 " mismatched blocks\n",
		       d->label, d->path, bad < 0 ? "read failed, " : "",
		       bad < 0 ? (int64_t)0 : bad);
		if (bad)
			fail = 1;
	}
	{
		struct device lun = devs[0];

		snprintf(lun.label, sizeof(lun.label), "lun");
		lun.path = opt.lun;
		bad = verify_all(&lun, lunfd, "the LUN");
		printf("# final lun(%s) vs writer model: %s%" PRId64
		       " mismatched blocks\n", opt.lun,
		       bad < 0 ? "read failed, " : "", bad < 0 ? (int64_t)0 : bad);
		if (bad)
			fail = 1;
	}
	if (atomic_load(&reported) > MAX_REPORT)
		printf("# (%d mismatching blocks found, only the first %d printed)\n",
		       atomic_load(&reported), MAX_REPORT);
	if (atomic_load(&isolation_violation)) {
		printf("# ISOLATION VIOLATION: a copier returned the writer's data\n");
		fail = 1;
	}
	printf("# result: %s\n", fail ? "FAIL" : "PASS");

	for (i = 0; i < ndevs; i++) {
		munmap(devs[i].model, size);
		free(devs[i].busy);
		close(devs[i].fd);
		pthread_mutex_destroy(&devs[i].lock);
		pthread_cond_destroy(&devs[i].cond);
	}
	munmap((void *)image, size);
	close(imgfd);
	close(lunfd);
	return fail;
bad:
	fprintf(stderr, "red-oracle: bad value for --%s: %s\n",
		longopts[c == 'k' ? 4 : c == 'o' ? 5 : c == 's' ? 6 : 7].name,
		optarg);
	return 2;
}
