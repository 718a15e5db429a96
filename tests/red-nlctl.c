// SPDX-License-Identifier: GPL-2.0
/*
 * red-nlctl: one-shot dm_red generic netlink client for shell tests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/rednl.h"

static struct rednl nl;
static int expect = -1;		/* --expect ERR: positive errno, 0 = success */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: red-nlctl [--expect ERR] COMMAND ...\n"
		"  state [RESOURCE]                 dump (or one device): one line per device\n"
		"  get RESOURCE KEY                 print one state value (e.g. state, epoch)\n"
		"  wait RESOURCE KEY=VALUE [TIMEOUT_S]  poll the state until it matches (default 10 s)\n"
		"  events [--count N] [--timeout S] [--resource R]\n"
		"                                   print events (N of them, 0 = until timeout)\n"
		"  register [HOLD_S]                REGISTER as the daemon, print what arrives for HOLD_S\n"
		"  lease RESOURCE MS\n"
		"  promote RESOURCE EPOCH MEMBERS\n"
		"  new-epoch RESOURCE MEMBERS [REQ_ID]\n"
		"  join-ack RESOURCE EPOCH\n"
		"  preserve RESOURCE EPOCH REQ_ID START+COUNT [START+COUNT ...]\n"
		"  stabilize-ack RESOURCE EPOCH REQ_ID [ERROR]\n"
		"  --expect ERR: exit 0 iff the request fails with ERR (ESTALE, -116, 0 = success)\n"
		"  Lines are key=value; role/state are numbers (role_name/state_name follow).\n"
		"Exit: 0 ok, 1 request failed / timeout / no match, 2 usage.\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || end == s || *end || *s == '-') ? -1 : 0;
}

static uint64_t arg_u64(const char *s, const char *what)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0) {
		fprintf(stderr, "red-nlctl: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static uint32_t arg_u32(const char *s, const char *what)
{
	uint64_t v = arg_u64(s, what);

	if (v > UINT32_MAX) {
		fprintf(stderr, "red-nlctl: %s out of range: %s\n", what, s);
		exit(2);
	}
	return (uint32_t)v;
}

static const char *arg_res(const char *s)
{
	if (!*s || strlen(s) >= DM_RED_RESOURCE_MAX) {
		fprintf(stderr, "red-nlctl: bad resource name: %s\n", s);
		exit(2);
	}
	return s;
}

static struct nl_msg *new_msg(uint8_t cmd, int flags)
{
	struct nl_msg *m = rednl_msg(&nl, cmd, flags);

	if (!m) {
		fprintf(stderr, "red-nlctl: out of memory\n");
		exit(1);
	}
	return m;
}

static void put_check(int err)
{
	if (err < 0) {
		fprintf(stderr, "red-nlctl: message too big\n");
		exit(1);
	}
}

/* Run a request and turn its result into an exit code. */
static int finish(const char *what, int err, const char *extack)
{
	if (expect >= 0) {
		if (-err == expect) {
			printf("ok %s: %s as expected\n", what, rednl_errname(err));
			return 0;
		}
		fprintf(stderr, "red-nlctl: %s: got %s, expected %s%s%s\n", what,
			rednl_errname(err), rednl_errname(expect),
			extack && *extack ? ": " : "", extack ? extack : "");
		return 1;
	}
	if (err) {
		fprintf(stderr, "red-nlctl: %s: %s (%d)%s%s\n", what,
			rednl_errname(err), err, extack && *extack ? ": " : "",
			extack ? extack : "");
		return 1;
	}
	printf("ok %s\n", what);
	return 0;
}

static int request(struct nl_msg *m, const char *what)
{
	char ext[256];
	int err = rednl_call(&nl, m, NULL, NULL, ext, sizeof(ext));

	return finish(what, err, ext);
}

/* ---- state -------------------------------------------------------------- */

struct state_ctx {
	char lines[256][1024];
	int n;
};

static int state_cb(struct nl_msg *msg, void *arg)
{
	struct state_ctx *c = arg;
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[DM_RED_A_MAX + 1];

	if (nlmsg_hdr(msg)->nlmsg_type != nl.family || rednl_parse(msg, tb) < 0)
		return NL_SKIP;
	if (c->n < 256)
		rednl_format(tb, g->cmd == DM_RED_CMD_GET_STATE ?
			     DM_RED_CMD_STATE : g->cmd, c->lines[c->n++], 1024);
	return NL_OK;
}

static int get_state(const char *res, struct state_ctx *c, char *ext,
		     size_t extlen)
{
	struct nl_msg *m = new_msg(DM_RED_CMD_GET_STATE, res ? 0 : NLM_F_DUMP);

	c->n = 0;
	if (res)
		put_check(nla_put_string(m, DM_RED_A_RESOURCE, res));
	return rednl_call(&nl, m, state_cb, c, ext, extlen);
}

/* Value of "key" in a key=value line, copied to val. */
static bool line_get(const char *line, const char *key, char *val, size_t len)
{
	size_t kl = strlen(key);
	const char *p = line;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1, *e = strchr(v, ' ');
			size_t n = e ? (size_t)(e - v) : strlen(v);

			if (n >= len)
				n = len - 1;
			memcpy(val, v, n);
			val[n] = '\0';
			return true;
		}
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return false;
}

static int cmd_state(int argc, char **argv)
{
	static struct state_ctx c;
	char ext[256];
	int err, i;

	if (argc > 1) {
		usage(stderr);
		return 2;
	}
	err = get_state(argc ? arg_res(argv[0]) : NULL, &c, ext, sizeof(ext));
	if (err)
		return finish("state", err, ext);
	for (i = 0; i < c.n; i++)
		printf("%s\n", c.lines[i]);
	return 0;
}

static int cmd_get(int argc, char **argv)
{
	static struct state_ctx c;
	char ext[256], val[256];
	int err;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	err = get_state(arg_res(argv[0]), &c, ext, sizeof(ext));
	if (err)
		return finish("get", err, ext);
	if (c.n < 1 || !line_get(c.lines[0], argv[1], val, sizeof(val))) {
		fprintf(stderr, "red-nlctl: %s has no %s\n", argv[0], argv[1]);
		return 1;
	}
	printf("%s\n", val);
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int cmd_wait(int argc, char **argv)
{
	static struct state_ctx c;
	char ext[256], key[64], val[256];
	const char *eq, *want;
	double timeout = 10;
	long deadline;
	int err;

	if (argc < 2 || argc > 3 || !(eq = strchr(argv[1], '=')) ||
	    eq == argv[1] || (size_t)(eq - argv[1]) >= sizeof(key)) {
		usage(stderr);
		return 2;
	}
	memcpy(key, argv[1], (size_t)(eq - argv[1]));
	key[eq - argv[1]] = '\0';
	want = eq + 1;
	if (argc == 3)
		timeout = strtod(argv[2], NULL);
	deadline = now_ms() + (long)(timeout * 1000);
	for (;;) {
		err = get_state(arg_res(argv[0]), &c, ext, sizeof(ext));
		if (!err && c.n > 0 && line_get(c.lines[0], key, val, sizeof(val)) &&
		    !strcmp(val, want)) {
			printf("%s\n", c.lines[0]);
			return 0;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "red-nlctl: wait %s %s: timeout; last: %s\n",
				argv[0], argv[1],
				err ? rednl_errname(err) : c.n ? c.lines[0] : "-");
			return 1;
		}
		usleep(100000);
	}
}

/* ---- events / register: receive loop ------------------------------------ */

struct recv_ctx {
	const char *resource;
	long count;
	long printed;
	bool events_only;
};

static int recv_cb(struct nl_msg *msg, void *arg)
{
	struct recv_ctx *c = arg;
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[DM_RED_A_MAX + 1];
	char line[1024];
	const char *r;

	if (nlmsg_hdr(msg)->nlmsg_type != nl.family || rednl_parse(msg, tb) < 0)
		return NL_SKIP;
	if (c->events_only && g->cmd != DM_RED_CMD_EVENT)
		return NL_SKIP;
	if (c->resource) {
		r = rednl_str(tb, DM_RED_A_RESOURCE);
		if (!r || strcmp(r, c->resource))
			return NL_SKIP;
	}
	if (c->count && c->printed >= c->count)
		return NL_SKIP;
	rednl_format(tb, g->cmd, line, sizeof(line));
	printf("%s\n", line);
	fflush(stdout);
	c->printed++;
	return NL_OK;
}

static int recv_loop(struct recv_ctx *c, double timeout)
{
	struct nl_cb *base = nl_socket_get_cb(nl.sk);
	struct nl_cb *cb = nl_cb_clone(base);
	long deadline = now_ms() + (long)(timeout * 1000);
	int ret = 0;

	nl_cb_put(base);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, recv_cb, c);
	while (!c->count || c->printed < c->count) {
		struct pollfd pfd = { .fd = rednl_fd(&nl), .events = POLLIN };
		long left = deadline - now_ms();
		int n;

		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (n <= 0)
			continue;
		n = nl_recvmsgs_report(nl.sk, cb);
		if (n < 0 && n != -NLE_AGAIN) {
			fprintf(stderr, "red-nlctl: receive: %s\n", nl_geterror(n));
			ret = -EIO;
			break;
		}
	}
	nl_cb_put(cb);
	return ret;
}

static int cmd_events(int argc, char **argv)
{
	struct recv_ctx c = { .count = 1, .events_only = true };
	double timeout = 10;
	int i, err;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			c.count = (long)arg_u64(argv[++i], "count");
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--resource") && i + 1 < argc)
			c.resource = arg_res(argv[++i]);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (rednl_subscribe(&nl) < 0) {
		fprintf(stderr, "red-nlctl: cannot subscribe to \"%s\"\n",
			DM_RED_MCGRP_EVENTS);
		return 1;
	}
	/* Tell a waiting shell that we are subscribed. */
	fprintf(stderr, "red-nlctl: subscribed\n");
	err = recv_loop(&c, timeout);
	if (err == -ETIMEDOUT && c.count) {
		fprintf(stderr, "red-nlctl: events: timeout after %ld of %ld events\n",
			c.printed, c.count);
		return 1;
	}
	return err && err != -ETIMEDOUT ? 1 : 0;
}

static int reg_cb(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[DM_RED_A_MAX + 1];
	char line[1024];

	(void)arg;
	if (rednl_parse(msg, tb) < 0)
		return NL_SKIP;
	rednl_format(tb, DM_RED_CMD_REGISTER, line, sizeof(line));
	printf("%s\n", line);
	return NL_OK;
}

static int cmd_register(int argc, char **argv)
{
	struct recv_ctx c = { .count = 0 };
	struct nl_msg *m;
	char ext[256];
	double hold = 0;
	int err;

	if (argc > 1) {
		usage(stderr);
		return 2;
	}
	if (argc)
		hold = strtod(argv[0], NULL);
	m = new_msg(DM_RED_CMD_REGISTER, 0);
	put_check(nla_put_u32(m, DM_RED_A_PROTO_MIN, DM_RED_PROTO_VERSION_MIN));
	put_check(nla_put_u32(m, DM_RED_A_PROTO_MAX, DM_RED_PROTO_VERSION_MAX));
	put_check(nla_put_u64(m, DM_RED_A_FEATURES, DM_RED_FEATURES_ALL));
	err = rednl_call(&nl, m, reg_cb, NULL, ext, sizeof(ext));
	if (err || hold <= 0)
		return finish("register", err, ext);
	recv_loop(&c, hold);
	return 0;
}

/* ---- simple requests ------------------------------------------------------ */

static int cmd_lease(int argc, char **argv)
{
	struct nl_msg *m;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	m = new_msg(DM_RED_CMD_LEASE, 0);
	put_check(nla_put_string(m, DM_RED_A_RESOURCE, arg_res(argv[0])));
	put_check(nla_put_u32(m, DM_RED_A_LEASE_MS, arg_u32(argv[1], "lease ms")));
	return request(m, "lease");
}

static int cmd_promote(int argc, char **argv)
{
	struct nl_msg *m;

	if (argc != 3) {
		usage(stderr);
		return 2;
	}
	m = new_msg(DM_RED_CMD_PROMOTE, 0);
	put_check(nla_put_string(m, DM_RED_A_RESOURCE, arg_res(argv[0])));
	put_check(nla_put_u64(m, DM_RED_A_EPOCH, arg_u64(argv[1], "epoch")));
	put_check(nla_put_u32(m, DM_RED_A_MEMBERS, arg_u32(argv[2], "members")));
	return request(m, "promote");
}

static int cmd_new_epoch(int argc, char **argv)
{
	struct timespec ts;
	struct nl_msg *m;
	uint64_t id;

	if (argc < 2 || argc > 3) {
		usage(stderr);
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	id = argc == 3 ? arg_u64(argv[2], "req id") :
	     ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
	m = new_msg(DM_RED_CMD_NEW_EPOCH, 0);
	put_check(nla_put_string(m, DM_RED_A_RESOURCE, arg_res(argv[0])));
	put_check(nla_put_u64(m, DM_RED_A_REQ_ID, id));
	put_check(nla_put_u32(m, DM_RED_A_MEMBERS, arg_u32(argv[1], "members")));
	printf("req_id=%" PRIu64 "\n", id);
	return request(m, "new-epoch");
}

static int cmd_join_ack(int argc, char **argv)
{
	struct nl_msg *m;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	m = new_msg(DM_RED_CMD_JOIN_ACK, 0);
	put_check(nla_put_string(m, DM_RED_A_RESOURCE, arg_res(argv[0])));
	put_check(nla_put_u64(m, DM_RED_A_EPOCH, arg_u64(argv[1], "epoch")));
	return request(m, "join-ack");
}

static int cmd_preserve(int argc, char **argv)
{
	struct dm_red_range rg[DM_RED_MAX_RANGES + 1];
	struct nl_msg *m;
	int i, n = 0;

	if (argc < 4 || argc - 3 > DM_RED_MAX_RANGES + 1) {
		usage(stderr);
		return 2;
	}
	for (i = 3; i < argc; i++, n++) {
		char *plus = strchr(argv[i], '+');

		if (!plus) {
			fprintf(stderr, "red-nlctl: range must be START+COUNT: %s\n",
				argv[i]);
			return 2;
		}
		*plus = '\0';
		rg[n].start = arg_u64(argv[i], "range start");
		rg[n].count = arg_u64(plus + 1, "range count");
	}
	m = new_msg(DM_RED_CMD_PRESERVE, 0);
	put_check(nla_put_string(m, DM_RED_A_RESOURCE, arg_res(argv[0])));
	put_check(nla_put_u64(m, DM_RED_A_EPOCH, arg_u64(argv[1], "epoch")));
	put_check(nla_put_u64(m, DM_RED_A_REQ_ID, arg_u64(argv[2], "req id")));
	put_check(nla_put(m, DM_RED_A_RANGES, n * (int)sizeof(rg[0]), rg));
	return request(m, "preserve");
}

static int cmd_stabilize_ack(int argc, char **argv)
{
	struct nl_msg *m;
	int e;

	if (argc < 3 || argc > 4) {
		usage(stderr);
		return 2;
	}
	m = new_msg(DM_RED_CMD_STABILIZE_ACK, 0);
	put_check(nla_put_string(m, DM_RED_A_RESOURCE, arg_res(argv[0])));
	put_check(nla_put_u64(m, DM_RED_A_EPOCH, arg_u64(argv[1], "epoch")));
	put_check(nla_put_u64(m, DM_RED_A_REQ_ID, arg_u64(argv[2], "req id")));
	if (argc == 4) {
		e = rednl_parse_errno(argv[3]);
		if (e < 0) {
			fprintf(stderr, "red-nlctl: bad error: %s\n", argv[3]);
			return 2;
		}
		put_check(nla_put_u32(m, DM_RED_A_ERROR, (uint32_t)-e));
	}
	return request(m, "stabilize-ack");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "state", cmd_state },
		{ "get", cmd_get },
		{ "wait", cmd_wait },
		{ "events", cmd_events },
		{ "register", cmd_register },
		{ "lease", cmd_lease },
		{ "promote", cmd_promote },
		{ "new-epoch", cmd_new_epoch },
		{ "join-ack", cmd_join_ack },
		{ "preserve", cmd_preserve },
		{ "stabilize-ack", cmd_stabilize_ack },
	};
	int i = 1, ret;
	size_t k;

	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (i + 1 < argc && !strcmp(argv[i], "--expect")) {
		expect = rednl_parse_errno(argv[i + 1]);
		if (expect < 0) {
			fprintf(stderr, "red-nlctl: bad --expect %s\n", argv[i + 1]);
			return 2;
		}
		i += 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (!strcmp(argv[i], cmds[k].name))
			break;
	if (k == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "red-nlctl: unknown command %s\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (rednl_open(&nl, "red-nlctl") < 0)
		return 1;
	ret = cmds[k].fn(argc - i - 1, argv + i + 1);
	rednl_close(&nl);
	return ret;
}
