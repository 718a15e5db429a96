// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-red generic netlink channel: the family "dm_red" between the target
 * and its daemon.  include/uapi/linux/dm-red.h is the definition.
 *
 * Doit handlers run under the genl mutex shared by every family, so none
 * of them waits for I/O: they validate, change state under spinlocks and
 * queue work; results go back asynchronously with the request id.
 *
 * The daemon: the socket that registered last.  Its port id is cleared
 * when that socket is released (NETLINK_URELEASE); outstanding messages are
 * kept by the devices and sent again when a daemon registers.
 */
#include <linux/module.h>
#include <linux/netlink.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>

#include "red.h"

/* red_daemon_lock protects red_daemon_portid (0: no daemon). */
static DEFINE_SPINLOCK(red_daemon_lock);
static u32 red_daemon_portid;
static atomic64_t red_event_seq = ATOMIC64_INIT(0);

static struct genl_family red_genl_family;

static struct netlink_range_validation red_lease_range = {
	.min = 0,
	.max = 3600000,	/* one hour */
};

static const struct nla_policy red_nl_policy[DM_RED_A_MAX + 1] = {
	[DM_RED_A_PROTO_MIN]	= { .type = NLA_U32 },
	[DM_RED_A_PROTO_MAX]	= { .type = NLA_U32 },
	[DM_RED_A_FEATURES]	= { .type = NLA_U64 },
	[DM_RED_A_RESOURCE]	= { .type = NLA_NUL_STRING,
				    .len = DM_RED_RESOURCE_MAX - 1 },
	[DM_RED_A_EPOCH]	= { .type = NLA_U64 },
	[DM_RED_A_REQ_ID]	= { .type = NLA_U64 },
	[DM_RED_A_RANGES]	= NLA_POLICY_RANGE(NLA_BINARY,
						   sizeof(struct dm_red_range),
						   DM_RED_MAX_RANGES *
						   sizeof(struct dm_red_range)),
	[DM_RED_A_ERROR]	= NLA_POLICY_RANGE(NLA_S32, -4095, 0),
	[DM_RED_A_LEASE_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32, &red_lease_range),
	[DM_RED_A_MEMBERS]	= NLA_POLICY_MAX(NLA_U32, 4096),
};

static const struct genl_multicast_group red_nl_mcgrps[] = {
	{ .name = DM_RED_MCGRP_EVENTS, .flags = RED_MCGRP_FLAGS },
};

bool red_nl_daemon_present(void)
{
	return READ_ONCE(red_daemon_portid) != 0;
}

/* ---- messages from the kernel -------------------------------------- */

static struct sk_buff *red_nl_msg(struct red_dev *rd, u8 cmd, size_t size)
{
	struct sk_buff *skb;

	skb = genlmsg_new(size, GFP_NOIO);
	if (!skb)
		return NULL;
	if (!genlmsg_put(skb, 0, 0, &red_genl_family, 0, cmd) ||
	    (rd && nla_put_string(skb, DM_RED_A_RESOURCE, rd->name))) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

/* Send to the daemon; consumes skb.  -ENOTCONN without a daemon. */
int red_nl_send(struct sk_buff *skb)
{
	u32 portid;
	int r;

	nlmsg_end(skb, nlmsg_hdr(skb));
	portid = READ_ONCE(red_daemon_portid);
	if (!portid) {
		nlmsg_free(skb);
		return -ENOTCONN;
	}
	r = genlmsg_unicast(&init_net, skb, portid);
	if (r == -ECONNREFUSED) {
		spin_lock(&red_daemon_lock);
		if (red_daemon_portid == portid)
			WRITE_ONCE(red_daemon_portid, 0);
		spin_unlock(&red_daemon_lock);
	}
	return r;
}

struct sk_buff *red_nl_stabilize_msg(struct red_dev *rd)
{
	return red_nl_msg(rd, DM_RED_CMD_STABILIZE,
			  DM_RED_MAX_RANGES * sizeof(struct dm_red_range) + 256);
}

int red_nl_fill_ranges(struct sk_buff *skb, u64 epoch, u64 req_id,
		       const struct dm_red_range *ranges, unsigned int nr)
{
	if (nla_put_u64_64bit(skb, DM_RED_A_EPOCH, epoch, DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_REQ_ID, req_id, DM_RED_A_PAD) ||
	    nla_put(skb, DM_RED_A_RANGES, nr * sizeof(*ranges), ranges))
		return -EMSGSIZE;
	return 0;
}

int red_nl_send_preserve_done(struct red_dev *rd, struct red_preq *p)
{
	struct sk_buff *skb = red_nl_msg(rd, DM_RED_CMD_PRESERVE_DONE, 256);

	if (!skb)
		return -ENOMEM;
	if (nla_put_u64_64bit(skb, DM_RED_A_EPOCH, p->epoch, DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_REQ_ID, p->req_id, DM_RED_A_PAD) ||
	    nla_put_s32(skb, DM_RED_A_ERROR, p->error)) {
		nlmsg_free(skb);
		return -EMSGSIZE;
	}
	return red_nl_send(skb);
}

int red_nl_send_epoch_done(struct red_dev *rd, u64 req_id, u64 epoch)
{
	struct sk_buff *skb = red_nl_msg(rd, DM_RED_CMD_EPOCH_DONE, 256);

	if (!skb)
		return -ENOMEM;
	if (nla_put_u64_64bit(skb, DM_RED_A_EPOCH, epoch, DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_REQ_ID, req_id, DM_RED_A_PAD)) {
		nlmsg_free(skb);
		return -EMSGSIZE;
	}
	return red_nl_send(skb);
}

/* The state attributes of a device (STATE replies, dumps and events). */
static int red_nl_fill_state(struct sk_buff *skb, struct red_dev *rd)
{
	struct mapped_device *md = dm_table_get_md(rd->ti->table);
	unsigned long held = 0, outstanding = 0;
	unsigned int oldest_ms = 0;
	u64 stable = 0, used = 0, total = 0;
	u32 lease = 0;

	red_stats(rd, &used, &stable, &held, &outstanding, &oldest_ms);
	if (rd->store)
		total = rd->c.store_total;
	if (red_role(rd) == DM_RED_ROLE_WRITER)
		lease = red_writer_lease_left_ms(rd);
	else
		lease = red_copier_lease_left_ms(rd);
	if (nla_put_string(skb, DM_RED_A_RESOURCE, rd->name) ||
	    nla_put_string(skb, DM_RED_A_DM_NAME, dm_device_name(md)) ||
	    nla_put_u32(skb, DM_RED_A_ROLE, red_role(rd)) ||
	    nla_put_u32(skb, DM_RED_A_STATE, red_dev_state(rd)) ||
	    nla_put_u64_64bit(skb, DM_RED_A_EPOCH, READ_ONCE(rd->epoch),
			      DM_RED_A_PAD) ||
	    nla_put_u32(skb, DM_RED_A_CHUNK_SECTORS, rd->chunk_sectors) ||
	    nla_put_u64_64bit(skb, DM_RED_A_NR_CHUNKS, rd->nr_chunks,
			      DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_STORE_USED, used, DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_STORE_TOTAL, total, DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_STABLE_CHUNKS, stable,
			      DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_HELD_BIOS, held, DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_OUTSTANDING, outstanding,
			      DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_PRESERVES,
			      atomic64_read(&rd->stat_preserves), DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_COW_COPIES,
			      atomic64_read(&rd->stat_cow), DM_RED_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_RED_A_ERRORS,
			      atomic64_read(&rd->stat_errors), DM_RED_A_PAD) ||
	    nla_put_u32(skb, DM_RED_A_LEASE_LEFT_MS, lease))
		return -EMSGSIZE;
	return 0;
}

/*
 * Raise an event on the multicast group.  @rd may be NULL (daemon gone).
 * A destroyed device carries only its name and role.
 */
void red_nl_event(struct red_dev *rd, enum dm_red_event ev)
{
	struct sk_buff *skb;
	u64 seq = atomic64_inc_return(&red_event_seq);
	int r = 0;

	skb = red_nl_msg(NULL, DM_RED_CMD_EVENT, NLMSG_GOODSIZE);
	if (!skb)
		return;
	if (nla_put_u64_64bit(skb, DM_RED_A_SEQ, seq, DM_RED_A_PAD) ||
	    nla_put_u32(skb, DM_RED_A_EVENT, ev))
		r = -EMSGSIZE;
	if (!r && rd) {
		if (ev == DM_RED_EV_DESTROYED)
			r = nla_put_string(skb, DM_RED_A_RESOURCE, rd->name) ?:
			    nla_put_u32(skb, DM_RED_A_ROLE, red_role(rd));
		else
			r = red_nl_fill_state(skb, rd);
	}
	if (r) {
		nlmsg_free(skb);
		return;
	}
	nlmsg_end(skb, nlmsg_hdr(skb));
	genlmsg_multicast(&red_genl_family, skb, 0, 0, GFP_NOIO);
}

/* ---- requests from the daemon -------------------------------------- */

/* Find the device a request names.  Caller holds red_devices_mutex. */
static struct red_dev *red_nl_dev(struct genl_info *info,
				  enum dm_red_role role, int *err)
{
	struct red_dev *rd;

	lockdep_assert_held(&red_devices_mutex);

	rd = red_find_locked(nla_data(info->attrs[DM_RED_A_RESOURCE]));
	if (!rd) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[DM_RED_A_RESOURCE],
				    "no red device with this resource name");
		*err = -ENODEV;
		return NULL;
	}
	if (role && red_role(rd) != role) {
		if (role == DM_RED_ROLE_WRITER)
			NL_SET_ERR_MSG(info->extack,
				       "request applies to a writer only");
		else
			NL_SET_ERR_MSG(info->extack,
				       "request applies to a copier only");
		*err = -EINVAL;
		return NULL;
	}
	return rd;
}

static int red_nl_register(struct sk_buff *skb, struct genl_info *info)
{
	u32 min, max, version;
	u64 features = 0;
	struct sk_buff *reply;
	void *hdr;
	int r;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_PROTO_MIN) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_PROTO_MAX))
		return -EINVAL;
	min = nla_get_u32(info->attrs[DM_RED_A_PROTO_MIN]);
	max = nla_get_u32(info->attrs[DM_RED_A_PROTO_MAX]);
	if (info->attrs[DM_RED_A_FEATURES])
		features = nla_get_u64(info->attrs[DM_RED_A_FEATURES]);
	if (min > max || max < DM_RED_PROTO_VERSION_MIN ||
	    min > DM_RED_PROTO_VERSION_MAX) {
		NL_SET_ERR_MSG(info->extack, "no common protocol version");
		return -EPROTONOSUPPORT;
	}
	version = min_t(u32, max, DM_RED_PROTO_VERSION_MAX);

	reply = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!reply)
		return -ENOMEM;
	hdr = genlmsg_put_reply(reply, info, &red_genl_family, 0,
				DM_RED_CMD_REGISTER);
	if (!hdr || nla_put_u32(reply, DM_RED_A_PROTO_VERSION, version) ||
	    nla_put_u64_64bit(reply, DM_RED_A_FEATURES,
			      features & DM_RED_FEATURES_ALL, DM_RED_A_PAD)) {
		nlmsg_free(reply);
		return -EMSGSIZE;
	}
	genlmsg_end(reply, hdr);
	r = genlmsg_reply(reply, info);
	if (r)
		return r;

	spin_lock(&red_daemon_lock);
	WRITE_ONCE(red_daemon_portid, info->snd_portid);
	spin_unlock(&red_daemon_lock);
	pr_info("dm-red: daemon registered (port %u, protocol %u)\n",
		info->snd_portid, version);
	red_kick_all_resend();
	return 0;
}

static int red_nl_get_state(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *reply;
	struct red_dev *rd;
	void *hdr;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE))
		return -EINVAL;
	reply = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!reply)
		return -ENOMEM;
	hdr = genlmsg_put_reply(reply, info, &red_genl_family, 0,
				DM_RED_CMD_STATE);
	if (!hdr) {
		nlmsg_free(reply);
		return -EMSGSIZE;
	}
	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, 0, &r);
	if (rd)
		r = red_nl_fill_state(reply, rd) ?:
		    nla_put_u64_64bit(reply, DM_RED_A_SEQ,
				      atomic64_read(&red_event_seq),
				      DM_RED_A_PAD);
	mutex_unlock(&red_devices_mutex);
	if (r) {
		nlmsg_free(reply);
		return r;
	}
	genlmsg_end(reply, hdr);
	return genlmsg_reply(reply, info);
}

static int red_nl_dump_state(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct red_dev *rd;
	long idx = 0;
	void *hdr;

	mutex_lock(&red_devices_mutex);
	list_for_each_entry(rd, &red_devices, list) {
		if (idx++ < cb->args[0])
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &red_genl_family,
				  NLM_F_MULTI, DM_RED_CMD_STATE);
		if (!hdr)
			break;
		if (red_nl_fill_state(skb, rd) ||
		    nla_put_u64_64bit(skb, DM_RED_A_SEQ,
				      atomic64_read(&red_event_seq),
				      DM_RED_A_PAD)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = idx;
	}
	mutex_unlock(&red_devices_mutex);
	return skb->len;
}

static int red_nl_stabilize_ack(struct sk_buff *skb, struct genl_info *info)
{
	struct red_dev *rd;
	int error = 0;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_EPOCH) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_REQ_ID))
		return -EINVAL;
	if (info->attrs[DM_RED_A_ERROR])
		error = nla_get_s32(info->attrs[DM_RED_A_ERROR]);

	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, DM_RED_ROLE_WRITER, &r);
	if (rd)
		r = red_writer_ack(rd, nla_get_u64(info->attrs[DM_RED_A_EPOCH]),
				   nla_get_u64(info->attrs[DM_RED_A_REQ_ID]),
				   error);
	mutex_unlock(&red_devices_mutex);
	if (r == -ESTALE)
		NL_SET_ERR_MSG(info->extack, "stale epoch");
	else if (r == -ENOENT)
		NL_SET_ERR_MSG(info->extack, "no such request (late or duplicate ack)");
	return r;
}

static int red_nl_preserve(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *ra;
	struct red_dev *rd;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_EPOCH) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_REQ_ID) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_RANGES))
		return -EINVAL;
	ra = info->attrs[DM_RED_A_RANGES];
	if (nla_len(ra) % sizeof(struct dm_red_range)) {
		NL_SET_ERR_MSG_ATTR(info->extack, ra,
				    "ranges must be an array of struct dm_red_range");
		return -EINVAL;
	}

	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, DM_RED_ROLE_COPIER, &r);
	if (rd)
		r = red_copier_preserve(rd,
					nla_get_u64(info->attrs[DM_RED_A_EPOCH]),
					nla_get_u64(info->attrs[DM_RED_A_REQ_ID]),
					nla_data(ra),
					nla_len(ra) / sizeof(struct dm_red_range));
	mutex_unlock(&red_devices_mutex);
	if (r == -ERANGE)
		NL_SET_ERR_MSG_ATTR(info->extack, ra,
				    "empty range or range beyond the device");
	else if (r == -ESTALE)
		NL_SET_ERR_MSG(info->extack, "stale epoch");
	else if (r == -EAGAIN)
		NL_SET_ERR_MSG(info->extack, "copier has not joined");
	else if (r == -EIO)
		NL_SET_ERR_MSG(info->extack, "copier has failed");
	return r;
}

static int red_nl_new_epoch(struct sk_buff *skb, struct genl_info *info)
{
	struct red_dev *rd;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_REQ_ID) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_MEMBERS))
		return -EINVAL;

	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, DM_RED_ROLE_WRITER, &r);
	if (rd)
		r = red_writer_new_epoch(rd,
					 nla_get_u64(info->attrs[DM_RED_A_REQ_ID]),
					 nla_get_u32(info->attrs[DM_RED_A_MEMBERS]));
	mutex_unlock(&red_devices_mutex);
	if (r == -EBUSY)
		NL_SET_ERR_MSG(info->extack, "an epoch change is in progress");
	else if (r == -ESTALE)
		NL_SET_ERR_MSG(info->extack,
			       "writer is fenced (LEASE 0): remove the device");
	return r;
}

static int red_nl_join_ack(struct sk_buff *skb, struct genl_info *info)
{
	struct red_dev *rd;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_EPOCH))
		return -EINVAL;

	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, DM_RED_ROLE_COPIER, &r);
	if (rd)
		r = red_copier_join_ack(rd,
					nla_get_u64(info->attrs[DM_RED_A_EPOCH]));
	mutex_unlock(&red_devices_mutex);
	if (r == -EINVAL && rd)
		NL_SET_ERR_MSG(info->extack, "copier is not joining");
	return r;
}

static int red_nl_lease(struct sk_buff *skb, struct genl_info *info)
{
	struct red_dev *rd;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_LEASE_MS))
		return -EINVAL;

	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, 0, &r);
	if (rd && red_role(rd) == DM_RED_ROLE_WRITER) {
		r = red_writer_lease(rd,
				     nla_get_u32(info->attrs[DM_RED_A_LEASE_MS]));
		if (r == -ESTALE)
			NL_SET_ERR_MSG(info->extack,
				       "writer is fenced (LEASE 0): remove the device");
	} else if (rd)
		r = red_copier_lease(rd,
				     nla_get_u32(info->attrs[DM_RED_A_LEASE_MS]));
	mutex_unlock(&red_devices_mutex);
	return r;
}

static int red_nl_promote(struct sk_buff *skb, struct genl_info *info)
{
	struct red_dev *rd;
	int r = 0;

	if (GENL_REQ_ATTR_CHECK(info, DM_RED_A_RESOURCE) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_EPOCH) ||
	    GENL_REQ_ATTR_CHECK(info, DM_RED_A_MEMBERS))
		return -EINVAL;

	mutex_lock(&red_devices_mutex);
	rd = red_nl_dev(info, DM_RED_ROLE_COPIER, &r);
	if (rd)
		r = red_promote(rd, nla_get_u64(info->attrs[DM_RED_A_EPOCH]),
				nla_get_u32(info->attrs[DM_RED_A_MEMBERS]));
	mutex_unlock(&red_devices_mutex);
	if (r == -ESTALE)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DM_RED_A_EPOCH],
				    "the new writer epoch must be above the device's");
	else if (r == -EBUSY)
		NL_SET_ERR_MSG(info->extack, "copier is not active or held");
	return r;
}

static const struct genl_small_ops red_nl_ops[] = {
	{
		.cmd = DM_RED_CMD_REGISTER,
		.doit = red_nl_register,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_GET_STATE,
		.doit = red_nl_get_state,
		.dumpit = red_nl_dump_state,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_STABILIZE_ACK,
		.doit = red_nl_stabilize_ack,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_PRESERVE,
		.doit = red_nl_preserve,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_NEW_EPOCH,
		.doit = red_nl_new_epoch,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_JOIN_ACK,
		.doit = red_nl_join_ack,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_LEASE,
		.doit = red_nl_lease,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = DM_RED_CMD_PROMOTE,
		.doit = red_nl_promote,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family red_genl_family __ro_after_init = {
	.name = DM_RED_GENL_NAME,
	.version = DM_RED_GENL_VERSION,
	.maxattr = DM_RED_A_MAX,
	.policy = red_nl_policy,
	.module = THIS_MODULE,
	.small_ops = red_nl_ops,
	.n_small_ops = ARRAY_SIZE(red_nl_ops),
	.resv_start_op = DM_RED_CMD_REGISTER,
	.mcgrps = red_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(red_nl_mcgrps),
};

/* ---- the daemon going away ------------------------------------------ */

static void red_daemon_gone(struct work_struct *work)
{
	pr_info("dm-red: daemon gone; held writes stay held until one registers\n");
	red_nl_event(NULL, DM_RED_EV_DAEMON_GONE);
}

static DECLARE_WORK(red_daemon_gone_work, red_daemon_gone);

static int red_nl_notify(struct notifier_block *nb, unsigned long event,
			 void *ptr)
{
	struct netlink_notify *n = ptr;
	bool gone = false;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !net_eq(n->net, &init_net))
		return NOTIFY_DONE;
	spin_lock(&red_daemon_lock);
	if (red_daemon_portid && n->portid == red_daemon_portid) {
		WRITE_ONCE(red_daemon_portid, 0);
		gone = true;
	}
	spin_unlock(&red_daemon_lock);
	if (gone)
		schedule_work(&red_daemon_gone_work);
	return NOTIFY_DONE;
}

static struct notifier_block red_nl_notifier = {
	.notifier_call = red_nl_notify,
};

int red_nl_init(void)
{
	int r;

	r = genl_register_family(&red_genl_family);
	if (r)
		return r;
	r = netlink_register_notifier(&red_nl_notifier);
	if (r)
		genl_unregister_family(&red_genl_family);
	return r;
}

void red_nl_exit(void)
{
	netlink_unregister_notifier(&red_nl_notifier);
	genl_unregister_family(&red_genl_family);
	flush_work(&red_daemon_gone_work);
}
