/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers for the dm-red test programs: generic netlink socket
 * setup, synchronous request/ack, attribute parsing and formatting.
 */
#ifndef REDNL_H
#define REDNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <linux/netlink.h>
#include <linux/dm-red.h>

#define REDNL_RCVBUF		(8 * 1024 * 1024)
#define REDNL_MSGBUF		(64 * 1024)
#define REDNL_TIMEOUT_MS	10000

struct rednl {
	struct nl_sock *sk;
	int family;
	int mcgrp;		/* -1 until resolved */
};

/* Policy used to parse kernel -> user messages (lenient on unknown attrs). */
extern struct nla_policy rednl_policy[DM_RED_A_MAX + 1];

/*
 * Open a generic netlink socket, resolve the dm_red family and its events
 * group.  The socket is non-blocking, seq checking and auto-ack are off
 * (callers set NLM_F_ACK themselves).  Returns 0 or -errno (message printed
 * with @prog as prefix).
 */
int rednl_open(struct rednl *r, const char *prog);
void rednl_close(struct rednl *r);
int rednl_subscribe(struct rednl *r);
int rednl_fd(struct rednl *r);

/* New message for @cmd with the family header; flags: NLM_F_* to add. */
struct nl_msg *rednl_msg(struct rednl *r, uint8_t cmd, int flags);

/*
 * Send @msg (consumed), then receive until its ACK / error / NLMSG_DONE.
 * Replies with the request's sequence number go to @cb (may be NULL);
 * unrelated messages (events, unsolicited unicast) are ignored.
 * Returns 0, the negative errno of the netlink ACK, or -ETIMEDOUT / -EIO.
 * If @extack is not NULL it receives the extended ack message (or "").
 */
int rednl_call(struct rednl *r, struct nl_msg *msg,
	       int (*cb)(struct nl_msg *msg, void *arg), void *arg,
	       char *extack, size_t extack_len);

/* Parse a dm_red genl message into tb[DM_RED_A_MAX + 1]. */
int rednl_parse(struct nl_msg *msg, struct nlattr **tb);

/* Extended ack message of an NLMSG_ERROR, or NULL. */
const char *rednl_extack(const struct nlmsgerr *e);

/* "key=value key=value ..." of every attr in tb, in a fixed order. */
void rednl_format(struct nlattr **tb, uint8_t cmd, char *buf, size_t len);

const char *rednl_event_name(uint32_t ev);
const char *rednl_state_name(uint32_t st);
const char *rednl_role_name(uint32_t role);
const char *rednl_cmd_name(uint8_t cmd);
/* "ESTALE" for -ESTALE or ESTALE; "0" for 0. */
const char *rednl_errname(int err);
/* Parse "ESTALE", "-ESTALE", "-116", "116" -> positive errno; -1 if bad. */
int rednl_parse_errno(const char *s);

/* Common accessors (return @def when the attr is absent). */
uint64_t rednl_u64(struct nlattr **tb, int a, uint64_t def);
uint32_t rednl_u32(struct nlattr **tb, int a, uint32_t def);
const char *rednl_str(struct nlattr **tb, int a);

#endif /* REDNL_H */
