// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers for the dm-red test programs (see rednl.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/genetlink.h>

#include "rednl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct nla_policy rednl_policy[DM_RED_A_MAX + 1] = {
	[DM_RED_A_PROTO_MIN]		= { .type = NLA_U32 },
	[DM_RED_A_PROTO_MAX]		= { .type = NLA_U32 },
	[DM_RED_A_PROTO_VERSION]	= { .type = NLA_U32 },
	[DM_RED_A_FEATURES]		= { .type = NLA_U64 },
	[DM_RED_A_RESOURCE]		= { .type = NLA_STRING,
					    .maxlen = DM_RED_RESOURCE_MAX },
	[DM_RED_A_EPOCH]		= { .type = NLA_U64 },
	[DM_RED_A_REQ_ID]		= { .type = NLA_U64 },
	[DM_RED_A_RANGES]		= { .type = NLA_UNSPEC },
	[DM_RED_A_ERROR]		= { .type = NLA_U32 },
	[DM_RED_A_LEASE_MS]		= { .type = NLA_U32 },
	[DM_RED_A_MEMBERS]		= { .type = NLA_U32 },
	[DM_RED_A_SEQ]			= { .type = NLA_U64 },
	[DM_RED_A_EVENT]		= { .type = NLA_U32 },
	[DM_RED_A_ROLE]			= { .type = NLA_U32 },
	[DM_RED_A_STATE]		= { .type = NLA_U32 },
	[DM_RED_A_CHUNK_SECTORS]	= { .type = NLA_U32 },
	[DM_RED_A_NR_CHUNKS]		= { .type = NLA_U64 },
	[DM_RED_A_STORE_USED]		= { .type = NLA_U64 },
	[DM_RED_A_STORE_TOTAL]		= { .type = NLA_U64 },
	[DM_RED_A_STABLE_CHUNKS]	= { .type = NLA_U64 },
	[DM_RED_A_HELD_BIOS]		= { .type = NLA_U64 },
	[DM_RED_A_OUTSTANDING]		= { .type = NLA_U64 },
	[DM_RED_A_PRESERVES]		= { .type = NLA_U64 },
	[DM_RED_A_COW_COPIES]		= { .type = NLA_U64 },
	[DM_RED_A_ERRORS]		= { .type = NLA_U64 },
	[DM_RED_A_DM_NAME]		= { .type = NLA_STRING },
	[DM_RED_A_LEASE_LEFT_MS]	= { .type = NLA_U32 },
};

int rednl_open(struct rednl *r, const char *prog)
{
	int one = 1;
	int err;

	r->family = -1;
	r->mcgrp = -1;
	r->sk = nl_socket_alloc();
	if (!r->sk) {
		fprintf(stderr, "%s: nl_socket_alloc failed\n", prog);
		return -ENOMEM;
	}
	err = genl_connect(r->sk);
	if (err < 0) {
		fprintf(stderr, "%s: genl_connect: %s\n", prog, nl_geterror(err));
		goto fail;
	}
	nl_socket_disable_seq_check(r->sk);
	nl_socket_disable_auto_ack(r->sk);
	err = nl_socket_set_buffer_size(r->sk, REDNL_RCVBUF, 0);
	if (err < 0)
		fprintf(stderr, "%s: warning: cannot set socket buffer: %s\n",
			prog, nl_geterror(err));
	/* Root can exceed rmem_max; best effort. */
	{
		int sz = REDNL_RCVBUF;

		(void)setsockopt(nl_socket_get_fd(r->sk), SOL_SOCKET,
				 SO_RCVBUFFORCE, &sz, sizeof(sz));
	}
	err = nl_socket_set_msg_buf_size(r->sk, REDNL_MSGBUF);
	if (err < 0) {
		fprintf(stderr, "%s: nl_socket_set_msg_buf_size: %s\n", prog,
			nl_geterror(err));
		goto fail;
	}
	/* Extended ack messages and strict checking of our dumps. */
	(void)setsockopt(nl_socket_get_fd(r->sk), SOL_NETLINK, NETLINK_EXT_ACK,
			 &one, sizeof(one));
	(void)setsockopt(nl_socket_get_fd(r->sk), SOL_NETLINK,
			 NETLINK_GET_STRICT_CHK, &one, sizeof(one));

	r->family = genl_ctrl_resolve(r->sk, DM_RED_GENL_NAME);
	if (r->family < 0) {
		err = r->family;
		fprintf(stderr, "%s: cannot resolve generic netlink family \"%s\": %s (is dm-red loaded?)\n",
			prog, DM_RED_GENL_NAME, nl_geterror(err));
		goto fail;
	}
	r->mcgrp = genl_ctrl_resolve_grp(r->sk, DM_RED_GENL_NAME,
					 DM_RED_MCGRP_EVENTS);
	if (r->mcgrp < 0) {
		fprintf(stderr, "%s: warning: no multicast group \"%s\": %s\n",
			prog, DM_RED_MCGRP_EVENTS, nl_geterror(r->mcgrp));
		r->mcgrp = -1;
	}
	err = nl_socket_set_nonblocking(r->sk);
	if (err < 0) {
		fprintf(stderr, "%s: nl_socket_set_nonblocking: %s\n", prog,
			nl_geterror(err));
		goto fail;
	}
	return 0;
fail:
	nl_socket_free(r->sk);
	r->sk = NULL;
	return err == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
}

void rednl_close(struct rednl *r)
{
	if (r->sk)
		nl_socket_free(r->sk);
	r->sk = NULL;
}

int rednl_fd(struct rednl *r)
{
	return nl_socket_get_fd(r->sk);
}

int rednl_subscribe(struct rednl *r)
{
	int err;

	if (r->mcgrp < 0)
		return -ENOENT;
	err = nl_socket_add_membership(r->sk, r->mcgrp);
	if (err < 0)
		return -EIO;
	return 0;
}

struct nl_msg *rednl_msg(struct rednl *r, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc_size(REDNL_MSGBUF);

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, r->family, 0, flags,
			 cmd, DM_RED_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

const char *rednl_extack(const struct nlmsgerr *e)
{
	const struct nlmsghdr *h =
		(const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (off >= h->nlmsg_len)
		return NULL;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)h + NLMSG_ALIGN(off)),
		      (int)(h->nlmsg_len - NLMSG_ALIGN(off)), NULL) < 0)
		return NULL;
	if (!tb[NLMSGERR_ATTR_MSG] || nla_len(tb[NLMSGERR_ATTR_MSG]) < 1)
		return NULL;
	if (((char *)nla_data(tb[NLMSGERR_ATTR_MSG]))[nla_len(tb[NLMSGERR_ATTR_MSG]) - 1])
		return NULL;
	return nla_data(tb[NLMSGERR_ATTR_MSG]);
}

struct call_ctx {
	uint32_t seq;
	bool done;
	int err;
	int (*cb)(struct nl_msg *, void *);
	void *arg;
	char *extack;
	size_t extack_len;
};

static int call_valid(struct nl_msg *msg, void *arg)
{
	struct call_ctx *c = arg;

	if (nlmsg_hdr(msg)->nlmsg_seq != c->seq)
		return NL_SKIP;
	if (c->cb)
		return c->cb(msg, c->arg);
	return NL_OK;
}

static int call_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct call_ctx *c = arg;
	const char *m;

	(void)nla;
	if (e->msg.nlmsg_seq != c->seq)
		return NL_SKIP;
	c->done = true;
	c->err = e->error;
	if (c->extack && (m = rednl_extack(e)))
		snprintf(c->extack, c->extack_len, "%s", m);
	return NL_STOP;
}

static int call_ack(struct nl_msg *msg, void *arg)
{
	struct call_ctx *c = arg;
	struct nlmsgerr *e = nlmsg_data(nlmsg_hdr(msg));

	if (e->msg.nlmsg_seq != c->seq)
		return NL_SKIP;
	c->done = true;
	c->err = 0;
	return NL_STOP;
}

static int call_finish(struct nl_msg *msg, void *arg)
{
	struct call_ctx *c = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (h->nlmsg_seq != c->seq)
		return NL_SKIP;
	c->done = true;
	c->err = 0;
	if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
		c->err = *(int *)nlmsg_data(h);
	return NL_STOP;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int rednl_call(struct rednl *r, struct nl_msg *msg,
	       int (*cb)(struct nl_msg *msg, void *arg), void *arg,
	       char *extack, size_t extack_len)
{
	struct call_ctx c = { .cb = cb, .arg = arg, .extack = extack,
			      .extack_len = extack_len };
	struct nl_cb *nlcb;
	long deadline;
	int err;

	if (extack && extack_len)
		extack[0] = '\0';
	if (!(nlmsg_hdr(msg)->nlmsg_flags & NLM_F_DUMP))
		nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	err = nl_send_auto(r->sk, msg);
	c.seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (err < 0) {
		if (err == -NLE_PERM)
			return -EPERM;
		return -EIO;
	}

	nlcb = nl_cb_clone(nl_socket_get_cb(r->sk));
	if (!nlcb)
		return -ENOMEM;
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, call_valid, &c);
	nl_cb_set(nlcb, NL_CB_ACK, NL_CB_CUSTOM, call_ack, &c);
	nl_cb_set(nlcb, NL_CB_FINISH, NL_CB_CUSTOM, call_finish, &c);
	nl_cb_err(nlcb, NL_CB_CUSTOM, call_err, &c);

	deadline = now_ms() + REDNL_TIMEOUT_MS;
	while (!c.done) {
		struct pollfd pfd = { .fd = nl_socket_get_fd(r->sk),
				      .events = POLLIN };
		long left = deadline - now_ms();
		int n;

		if (left <= 0) {
			c.err = -ETIMEDOUT;
			break;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			c.err = -errno;
			break;
		}
		if (n == 0)
			continue;
		err = nl_recvmsgs(r->sk, nlcb);
		if (err < 0 && err != -NLE_AGAIN && !c.done) {
			fprintf(stderr, "rednl: receive: %s\n", nl_geterror(err));
			c.err = -EIO;
			break;
		}
	}
	nl_cb_put(nlcb);
	return c.err;
}

int rednl_parse(struct nl_msg *msg, struct nlattr **tb)
{
	return genlmsg_parse(nlmsg_hdr(msg), 0, tb, DM_RED_A_MAX, rednl_policy);
}

uint64_t rednl_u64(struct nlattr **tb, int a, uint64_t def)
{
	return tb[a] ? nla_get_u64(tb[a]) : def;
}

uint32_t rednl_u32(struct nlattr **tb, int a, uint32_t def)
{
	return tb[a] ? nla_get_u32(tb[a]) : def;
}

const char *rednl_str(struct nlattr **tb, int a)
{
	struct nlattr *n = tb[a];

	if (!n || nla_len(n) < 1 || ((char *)nla_data(n))[nla_len(n) - 1])
		return NULL;
	return nla_data(n);
}

const char *rednl_event_name(uint32_t ev)
{
	static const char *const names[] = {
		[DM_RED_EV_CREATED] = "created",
		[DM_RED_EV_DESTROYED] = "destroyed",
		[DM_RED_EV_STATE] = "state",
		[DM_RED_EV_EPOCH] = "epoch",
		[DM_RED_EV_STORE_FULL] = "store_full",
		[DM_RED_EV_LEASE_EXPIRED] = "lease_expired",
		[DM_RED_EV_GC] = "gc",
		[DM_RED_EV_DAEMON_GONE] = "daemon_gone",
		[DM_RED_EV_PROMOTED] = "promoted",
	};

	if (ev < sizeof(names) / sizeof(names[0]) && names[ev])
		return names[ev];
	return "unknown";
}

const char *rednl_state_name(uint32_t st)
{
	switch (st) {
	case DM_RED_STATE_ACTIVE: return "active";
	case DM_RED_STATE_JOINING: return "joining";
	case DM_RED_STATE_DRAINING: return "draining";
	case DM_RED_STATE_FAILED: return "failed";
	case DM_RED_STATE_PROMOTING: return "promoting";
	case DM_RED_STATE_WRITEBACK: return "writeback";
	case DM_RED_STATE_HELD: return "held";
	}
	return "unknown";
}

const char *rednl_role_name(uint32_t role)
{
	switch (role) {
	case DM_RED_ROLE_WRITER: return "writer";
	case DM_RED_ROLE_COPIER: return "copier";
	}
	return "unknown";
}

const char *rednl_cmd_name(uint8_t cmd)
{
	static const char *const names[] = {
		[DM_RED_CMD_UNSPEC] = "UNSPEC",
		[DM_RED_CMD_REGISTER] = "REGISTER",
		[DM_RED_CMD_GET_STATE] = "GET_STATE",
		[DM_RED_CMD_STATE] = "STATE",
		[DM_RED_CMD_STABILIZE] = "STABILIZE",
		[DM_RED_CMD_STABILIZE_ACK] = "STABILIZE_ACK",
		[DM_RED_CMD_PRESERVE] = "PRESERVE",
		[DM_RED_CMD_PRESERVE_DONE] = "PRESERVE_DONE",
		[DM_RED_CMD_NEW_EPOCH] = "NEW_EPOCH",
		[DM_RED_CMD_EPOCH_DONE] = "EPOCH_DONE",
		[DM_RED_CMD_JOIN_ACK] = "JOIN_ACK",
		[DM_RED_CMD_LEASE] = "LEASE",
		[DM_RED_CMD_EVENT] = "EVENT",
		[DM_RED_CMD_PROMOTE] = "PROMOTE",
	};

	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return "CMD?";
}

const char *rednl_errname(int err)
{
	static __thread char buf[32];
	const char *n;

	if (err == 0)
		return "0";
	if (err < 0)
		err = -err;
	n = strerrorname_np(err);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

int rednl_parse_errno(const char *s)
{
	char *end;
	long v;
	int i;

	if (*s == '-')
		s++;
	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		if (*end || v < 0 || v > 4095)
			return -1;
		return (int)v;
	}
	for (i = 1; i < 4096; i++) {
		const char *n = strerrorname_np(i);

		if (n && !strcmp(n, s))
			return i;
	}
	return -1;
}

static void appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
	if (*pos >= len)
		*pos = len;
}

void rednl_format(struct nlattr **tb, uint8_t cmd, char *buf, size_t len)
{
	static const struct {
		int attr;
		const char *key;
		int kind;	/* 0 u64, 1 u32, 2 s32, 3 string */
	} keys[] = {
		{ DM_RED_A_SEQ, "seq", 0 },
		{ DM_RED_A_EVENT, "event", 1 },
		{ DM_RED_A_RESOURCE, "resource", 3 },
		{ DM_RED_A_DM_NAME, "dm_name", 3 },
		{ DM_RED_A_ROLE, "role", 1 },
		{ DM_RED_A_STATE, "state", 1 },
		{ DM_RED_A_EPOCH, "epoch", 0 },
		{ DM_RED_A_REQ_ID, "req_id", 0 },
		{ DM_RED_A_ERROR, "error", 2 },
		{ DM_RED_A_MEMBERS, "members", 1 },
		{ DM_RED_A_CHUNK_SECTORS, "chunk_sectors", 1 },
		{ DM_RED_A_NR_CHUNKS, "nr_chunks", 0 },
		{ DM_RED_A_STORE_USED, "store_used", 0 },
		{ DM_RED_A_STORE_TOTAL, "store_total", 0 },
		{ DM_RED_A_STABLE_CHUNKS, "stable_chunks", 0 },
		{ DM_RED_A_HELD_BIOS, "held_bios", 0 },
		{ DM_RED_A_OUTSTANDING, "outstanding", 0 },
		{ DM_RED_A_PRESERVES, "preserves", 0 },
		{ DM_RED_A_COW_COPIES, "cow_copies", 0 },
		{ DM_RED_A_ERRORS, "errors", 0 },
		{ DM_RED_A_LEASE_LEFT_MS, "lease_left_ms", 1 },
		{ DM_RED_A_LEASE_MS, "lease_ms", 1 },
		{ DM_RED_A_PROTO_VERSION, "proto_version", 1 },
		{ DM_RED_A_FEATURES, "features", 0 },
	};
	size_t pos = 0;
	size_t i;

	buf[0] = '\0';
	if (cmd != DM_RED_CMD_EVENT && cmd != DM_RED_CMD_STATE)
		appendf(buf, len, &pos, "cmd=%s", rednl_cmd_name(cmd));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct nlattr *a = tb[keys[i].attr];
		const char *sep = pos ? " " : "";

		if (!a)
			continue;
		if (keys[i].attr == DM_RED_A_EVENT) {
			appendf(buf, len, &pos, "%sevent=%s", sep,
				rednl_event_name(nla_get_u32(a)));
			continue;
		}
		switch (keys[i].kind) {
		case 0:
			appendf(buf, len, &pos, "%s%s=%llu", sep, keys[i].key,
				(unsigned long long)nla_get_u64(a));
			break;
		case 1:
			appendf(buf, len, &pos, "%s%s=%u", sep, keys[i].key,
				nla_get_u32(a));
			break;
		case 2:
			appendf(buf, len, &pos, "%s%s=%d", sep, keys[i].key,
				(int32_t)nla_get_u32(a));
			break;
		case 3: {
			const char *s = rednl_str(tb, keys[i].attr);

			appendf(buf, len, &pos, "%s%s=%s", sep, keys[i].key,
				s ? s : "?");
			break;
		}
		}
	}
	if (tb[DM_RED_A_RANGES]) {
		int n = nla_len(tb[DM_RED_A_RANGES]);
		const struct dm_red_range *rg = nla_data(tb[DM_RED_A_RANGES]);
		int j, cnt = n / (int)sizeof(*rg);

		appendf(buf, len, &pos, "%sranges=", pos ? " " : "");
		for (j = 0; j < cnt && j < 8; j++)
			appendf(buf, len, &pos, "%s%llu+%llu", j ? "," : "",
				(unsigned long long)rg[j].start,
				(unsigned long long)rg[j].count);
		if (cnt > 8)
			appendf(buf, len, &pos, ",...(%d)", cnt);
	}
	if (tb[DM_RED_A_ROLE])
		appendf(buf, len, &pos, " role_name=%s",
			rednl_role_name(nla_get_u32(tb[DM_RED_A_ROLE])));
	if (tb[DM_RED_A_STATE])
		appendf(buf, len, &pos, " state_name=%s",
			rednl_state_name(nla_get_u32(tb[DM_RED_A_STATE])));
}
