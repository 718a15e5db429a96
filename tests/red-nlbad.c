// SPDX-License-Identifier: GPL-2.0
/*
 * red-nlbad: sends malformed or misdirected requests to the dm_red generic
 * netlink family and checks that each is refused with the expected error
 * and changes nothing (role, state, epoch, geometry, store use and preserve
 * count of the two named devices are compared before and after).
 *
 *   red-nlbad --writer NAME --copier NAME [--no-state-check]
 *   red-nlbad --expect-eperm --writer NAME --copier NAME   (run unprivileged)
 *
 * Output is TAP.  Exit 0 iff every test passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rednl.h"

#define NO_SUCH_DEV	"red-nlbad-no-such-device"
#define UNKNOWN_ATTR	(DM_RED_A_MAX + 7)

struct snap {
	bool ok;
	uint32_t role, state, chunk_sectors;
	uint64_t epoch, nr_chunks, store_used, preserves;
};

static struct rednl nl;
static const char *writer, *copier;
static bool state_check = true;
static int ntest, nfail;
static struct snap w0, c0;	/* state at start */

static struct nl_msg *M(uint8_t cmd)
{
	struct nl_msg *m = rednl_msg(&nl, cmd, 0);

	if (!m) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return m;
}

static void P(int err)
{
	if (err < 0) {
		printf("Bail out! cannot build message: %s\n", nl_geterror(err));
		exit(1);
	}
}

static int snap_cb(struct nl_msg *msg, void *arg)
{
	struct snap *s = arg;
	struct nlattr *tb[DM_RED_A_MAX + 1];

	if (rednl_parse(msg, tb) < 0)
		return NL_SKIP;
	s->ok = true;
	s->role = rednl_u32(tb, DM_RED_A_ROLE, 0);
	s->state = rednl_u32(tb, DM_RED_A_STATE, 0);
	s->chunk_sectors = rednl_u32(tb, DM_RED_A_CHUNK_SECTORS, 0);
	s->epoch = rednl_u64(tb, DM_RED_A_EPOCH, 0);
	s->nr_chunks = rednl_u64(tb, DM_RED_A_NR_CHUNKS, 0);
	s->store_used = rednl_u64(tb, DM_RED_A_STORE_USED, 0);
	s->preserves = rednl_u64(tb, DM_RED_A_PRESERVES, 0);
	return NL_OK;
}

static int snapshot(const char *res, struct snap *s)
{
	struct nl_msg *m = M(DM_RED_CMD_GET_STATE);

	memset(s, 0, sizeof(*s));
	P(nla_put_string(m, DM_RED_A_RESOURCE, res));
	return rednl_call(&nl, m, snap_cb, s, NULL, 0);
}

static void snap_diff(const char *name, const struct snap *a,
		      const struct snap *b, char *buf, size_t len)
{
	size_t pos = strlen(buf);

#define D(f, fmt) do { \
	if (a->f != b->f && pos < len) \
		pos += (size_t)snprintf(buf + pos, len - pos, " %s.%s " fmt "->" fmt, \
					name, #f, a->f, b->f); \
} while (0)
	D(role, "%u");
	D(state, "%u");
	D(chunk_sectors, "%u");
	D(epoch, "%" PRIu64);
	D(nr_chunks, "%" PRIu64);
	D(store_used, "%" PRIu64);
	D(preserves, "%" PRIu64);
#undef D
}

/*
 * Send @m, expect one of the errors in @ok (positive errnos, 0-terminated),
 * then check nothing changed.  Prints one TAP line.
 */
static void check(const char *desc, struct nl_msg *m, const int *ok)
{
	char ext[256], diff[512] = "", want[128] = "";
	struct snap w1, c1;
	int err, i;
	bool pass = false;

	err = rednl_call(&nl, m, NULL, NULL, ext, sizeof(ext));
	for (i = 0; ok[i]; i++) {
		size_t l = strlen(want);

		snprintf(want + l, sizeof(want) - l, "%s-%s", i ? "|" : "",
			 rednl_errname(ok[i]));
		if (err == -ok[i])
			pass = true;
	}
	if (state_check) {
		int e1 = snapshot(writer, &w1), e2 = snapshot(copier, &c1);

		if (e1 || e2) {
			snprintf(diff, sizeof(diff), " cannot read state: %s/%s",
				 rednl_errname(e1), rednl_errname(e2));
			pass = false;
		} else {
			snap_diff(writer, &w0, &w1, diff, sizeof(diff));
			snap_diff(copier, &c0, &c1, diff, sizeof(diff));
			if (diff[0]) {
				pass = false;
				/* Report each change once. */
				w0 = w1;
				c0 = c1;
			}
		}
	}
	ntest++;
	if (pass) {
		printf("ok %d - %s\n", ntest, desc);
	} else {
		nfail++;
		printf("not ok %d - %s  # got %s%s expected %s%s%s%s%s\n", ntest,
		       desc, err ? "-" : "", rednl_errname(err), want,
		       diff[0] ? "; state changed:" : "", diff,
		       ext[0] ? "; extack: " : "", ext);
	}
	fflush(stdout);
}

static void skip(const char *desc, const char *why)
{
	ntest++;
	printf("ok %d - %s # SKIP %s\n", ntest, desc, why);
}

#define EXPECT(...) ((const int[]){ __VA_ARGS__, 0 })

static void put_res(struct nl_msg *m, const char *r)
{
	P(nla_put_string(m, DM_RED_A_RESOURCE, r));
}

static struct nl_msg *preserve(const char *res, bool epoch, bool req,
			       bool ranges)
{
	struct dm_red_range rg = { 0, 1 };
	struct nl_msg *m = M(DM_RED_CMD_PRESERVE);

	if (res)
		put_res(m, res);
	if (epoch)
		P(nla_put_u64(m, DM_RED_A_EPOCH,
			      !strcmp(res ? res : "", writer) ? w0.epoch : c0.epoch));
	if (req)
		P(nla_put_u64(m, DM_RED_A_REQ_ID, 0x6e6c626164ULL));
	if (ranges)
		P(nla_put(m, DM_RED_A_RANGES, sizeof(rg), &rg));
	return m;
}

static struct nl_msg *preserve_ranges(const void *data, int len)
{
	struct nl_msg *m = preserve(copier, true, true, false);

	P(nla_put(m, DM_RED_A_RANGES, len, data));
	return m;
}

static struct nl_msg *stab_ack(const char *res, uint64_t epoch, bool req)
{
	struct nl_msg *m = M(DM_RED_CMD_STABILIZE_ACK);

	if (res)
		put_res(m, res);
	P(nla_put_u64(m, DM_RED_A_EPOCH, epoch));
	if (req)
		P(nla_put_u64(m, DM_RED_A_REQ_ID, 0x6e6c626164ULL));
	return m;
}

static struct nl_msg *reg(uint32_t min, uint32_t max, bool has_min)
{
	struct nl_msg *m = M(DM_RED_CMD_REGISTER);

	if (has_min)
		P(nla_put_u32(m, DM_RED_A_PROTO_MIN, min));
	P(nla_put_u32(m, DM_RED_A_PROTO_MAX, max));
	P(nla_put_u64(m, DM_RED_A_FEATURES, DM_RED_FEATURES_ALL));
	return m;
}

static void run_bad(void)
{
	struct dm_red_range rg[DM_RED_MAX_RANGES + 1];
	char longname[DM_RED_RESOURCE_MAX + 8];
	struct nl_msg *m;
	uint64_t nr = c0.nr_chunks;
	int i;

	/* -- missing required attributes -- */
	check("PRESERVE without RESOURCE", preserve(NULL, false, true, true),
	      EXPECT(EINVAL));
	m = M(DM_RED_CMD_PRESERVE);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	rg[0].start = 0;
	rg[0].count = 1;
	P(nla_put(m, DM_RED_A_RANGES, sizeof(rg[0]), rg));
	check("PRESERVE without EPOCH", m, EXPECT(EINVAL));
	check("PRESERVE without REQ_ID", preserve(copier, true, false, true),
	      EXPECT(EINVAL));
	check("PRESERVE without RANGES", preserve(copier, true, true, false),
	      EXPECT(EINVAL));
	check("STABILIZE_ACK without REQ_ID", stab_ack(writer, w0.epoch, false),
	      EXPECT(EINVAL));
	check("STABILIZE_ACK without RESOURCE", stab_ack(NULL, w0.epoch, true),
	      EXPECT(EINVAL));
	m = M(DM_RED_CMD_NEW_EPOCH);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	check("NEW_EPOCH without MEMBERS", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_NEW_EPOCH);
	put_res(m, writer);
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("NEW_EPOCH without REQ_ID", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, writer);
	check("LEASE without LEASE_MS", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_LEASE);
	P(nla_put_u32(m, DM_RED_A_LEASE_MS, 1000));
	check("LEASE without RESOURCE", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_JOIN_ACK);
	put_res(m, copier);
	check("JOIN_ACK without EPOCH", m, EXPECT(EINVAL));
	check("REGISTER without PROTO_MIN", reg(1, 1, false), EXPECT(EINVAL));
	check("GET_STATE (not dump) without RESOURCE", M(DM_RED_CMD_GET_STATE),
	      EXPECT(EINVAL));

	/* -- RESOURCE -- */
	memset(longname, 'x', sizeof(longname));
	longname[DM_RED_RESOURCE_MAX] = '\0';	/* 64 chars + NUL */
	m = M(DM_RED_CMD_GET_STATE);
	put_res(m, longname);
	check("GET_STATE with RESOURCE of 64 chars", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, longname);
	P(nla_put_u32(m, DM_RED_A_LEASE_MS, 1000));
	check("LEASE with RESOURCE of 64 chars", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_GET_STATE);
	P(nla_put(m, DM_RED_A_RESOURCE, (int)strlen(copier), copier));
	check("GET_STATE with unterminated RESOURCE", m, EXPECT(EINVAL, ERANGE));
	m = preserve(NULL, false, true, true);
	P(nla_put(m, DM_RED_A_RESOURCE, (int)strlen(copier), copier));
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch));
	check("PRESERVE with unterminated RESOURCE", m, EXPECT(EINVAL, ERANGE));
	m = M(DM_RED_CMD_GET_STATE);
	P(nla_put_u32(m, DM_RED_A_RESOURCE, 0x41414141));
	check("GET_STATE with RESOURCE as u32 (no NUL)", m, EXPECT(EINVAL, ERANGE));
	m = M(DM_RED_CMD_GET_STATE);
	put_res(m, "");
	check("GET_STATE with empty RESOURCE", m, EXPECT(EINVAL, ENODEV, ERANGE));

	/* -- wrong types / lengths -- */
	m = preserve(copier, false, true, true);
	P(nla_put_u32(m, DM_RED_A_EPOCH, (uint32_t)c0.epoch));
	check("PRESERVE with EPOCH as 4 bytes", m, EXPECT(ERANGE, EINVAL));
	m = preserve(copier, true, false, true);
	P(nla_put_u32(m, DM_RED_A_REQ_ID, 1));
	check("PRESERVE with REQ_ID as 4 bytes", m, EXPECT(ERANGE, EINVAL));
	m = preserve(copier, true, false, true);
	P(nla_put(m, DM_RED_A_REQ_ID, 12, "123456789012"));
	check("PRESERVE with REQ_ID as 12 bytes", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_LEASE_MS, 1000));
	check("LEASE with LEASE_MS as 8 bytes", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, writer);
	P(nla_put_u16(m, DM_RED_A_LEASE_MS, 1000));
	check("LEASE with LEASE_MS as 2 bytes", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_NEW_EPOCH);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	P(nla_put_u8(m, DM_RED_A_MEMBERS, 1));
	check("NEW_EPOCH with MEMBERS as 1 byte", m, EXPECT(ERANGE, EINVAL));
	m = stab_ack(writer, w0.epoch, true);
	P(nla_put_u64(m, DM_RED_A_ERROR, (uint64_t)-EIO));
	check("STABILIZE_ACK with ERROR as 8 bytes", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_REGISTER);
	P(nla_put_u32(m, DM_RED_A_PROTO_MIN, 1));
	P(nla_put_u32(m, DM_RED_A_PROTO_MAX, 1));
	P(nla_put_u32(m, DM_RED_A_FEATURES, (uint32_t)DM_RED_FEATURES_ALL));
	check("REGISTER with FEATURES as 4 bytes", m, EXPECT(ERANGE, EINVAL));

	/* -- RANGES -- */
	memset(rg, 0, sizeof(rg));
	rg[0].count = 1;
	check("PRESERVE with RANGES of 15 bytes", preserve_ranges(rg, 15),
	      EXPECT(EINVAL, ERANGE));
	check("PRESERVE with RANGES of 17 bytes", preserve_ranges(rg, 17),
	      EXPECT(EINVAL, ERANGE));
	check("PRESERVE with RANGES of 8 bytes", preserve_ranges(rg, 8),
	      EXPECT(EINVAL, ERANGE));
	check("PRESERVE with empty RANGES", preserve_ranges(rg, 0),
	      EXPECT(EINVAL, ERANGE));
	for (i = 0; i <= DM_RED_MAX_RANGES; i++) {
		rg[i].start = (uint64_t)i % (nr ? nr : 1);
		rg[i].count = 1;
	}
	check("PRESERVE with DM_RED_MAX_RANGES+1 ranges",
	      preserve_ranges(rg, (DM_RED_MAX_RANGES + 1) * (int)sizeof(rg[0])),
	      EXPECT(EINVAL, ERANGE, E2BIG));
	rg[0].start = 0;
	rg[0].count = 0;
	check("PRESERVE with a range of count 0", preserve_ranges(rg, 16),
	      EXPECT(EINVAL, ERANGE));
	rg[0].start = 0;
	rg[0].count = 1;
	rg[1].start = 1;
	rg[1].count = 0;
	check("PRESERVE with a second range of count 0", preserve_ranges(rg, 32),
	      EXPECT(EINVAL, ERANGE));
	if (nr) {
		rg[0].start = nr;
		rg[0].count = 1;
		check("PRESERVE with range starting at nr_chunks",
		      preserve_ranges(rg, 16), EXPECT(EINVAL, ERANGE));
		rg[0].start = nr - 1;
		rg[0].count = 2;
		check("PRESERVE with range ending past the device",
		      preserve_ranges(rg, 16), EXPECT(EINVAL, ERANGE));
	} else {
		skip("PRESERVE with range starting at nr_chunks", "nr_chunks unknown");
		skip("PRESERVE with range ending past the device", "nr_chunks unknown");
	}
	rg[0].start = UINT64_MAX - 1;
	rg[0].count = 4;
	check("PRESERVE with range start+count overflowing u64",
	      preserve_ranges(rg, 16), EXPECT(EINVAL, ERANGE));

	/* -- unknown resource, stale epoch -- */
	m = M(DM_RED_CMD_GET_STATE);
	put_res(m, NO_SUCH_DEV);
	check("GET_STATE unknown resource", m, EXPECT(ENODEV));
	m = preserve(NULL, false, true, true);
	put_res(m, NO_SUCH_DEV);
	P(nla_put_u64(m, DM_RED_A_EPOCH, 1));
	check("PRESERVE unknown resource", m, EXPECT(ENODEV));
	check("STABILIZE_ACK unknown resource", stab_ack(NO_SUCH_DEV, 1, true),
	      EXPECT(ENODEV));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, NO_SUCH_DEV);
	P(nla_put_u32(m, DM_RED_A_LEASE_MS, 1000));
	check("LEASE unknown resource", m, EXPECT(ENODEV));
	m = M(DM_RED_CMD_NEW_EPOCH);
	put_res(m, NO_SUCH_DEV);
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 0));
	check("NEW_EPOCH unknown resource", m, EXPECT(ENODEV));
	m = M(DM_RED_CMD_JOIN_ACK);
	put_res(m, NO_SUCH_DEV);
	P(nla_put_u64(m, DM_RED_A_EPOCH, 1));
	check("JOIN_ACK unknown resource", m, EXPECT(ENODEV));

	if (c0.epoch > 0) {
		struct nl_msg *p = M(DM_RED_CMD_PRESERVE);

		rg[0].start = 0;
		rg[0].count = 1;
		put_res(p, copier);
		P(nla_put_u64(p, DM_RED_A_EPOCH, c0.epoch - 1));
		P(nla_put_u64(p, DM_RED_A_REQ_ID, 1));
		P(nla_put(p, DM_RED_A_RANGES, 16, rg));
		check("PRESERVE with stale epoch (copier epoch - 1)", p,
		      EXPECT(ESTALE));
	} else {
		skip("PRESERVE with stale epoch", "copier epoch is 0");
	}
	if (w0.epoch > 0)
		check("STABILIZE_ACK with stale epoch (writer epoch - 1)",
		      stab_ack(writer, w0.epoch - 1, true), EXPECT(ESTALE));
	else
		skip("STABILIZE_ACK with stale epoch", "writer epoch is 0");
	check("STABILIZE_ACK with unknown req id (late/duplicate ack)",
	      stab_ack(writer, w0.epoch, true), EXPECT(ENOENT));

	/* -- wrong role -- */
	check("PRESERVE to the writer", preserve(writer, true, true, true),
	      EXPECT(EINVAL));
	m = M(DM_RED_CMD_JOIN_ACK);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_EPOCH, w0.epoch));
	check("JOIN_ACK to the writer", m, EXPECT(EINVAL));
	check("STABILIZE_ACK to a copier", stab_ack(copier, c0.epoch, true),
	      EXPECT(EINVAL));
	m = M(DM_RED_CMD_NEW_EPOCH);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 0));
	check("NEW_EPOCH to a copier", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, copier);
	P(nla_put_u32(m, DM_RED_A_LEASE_MS, 3600001));
	check("LEASE with LEASE_MS above one hour", m, EXPECT(ERANGE, EINVAL));

	/* -- PROMOTE: every malformed or refused form (a valid one would act) -- */
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch + 1));
	check("PROMOTE without MEMBERS", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE without EPOCH", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_PROMOTE);
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch + 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE without RESOURCE", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, NO_SUCH_DEV);
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch + 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE unknown resource", m, EXPECT(ENODEV));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_EPOCH, w0.epoch + 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE of the writer", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE at the copier's own epoch", m,
	      EXPECT(ESTALE, EBUSY));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch + 1));
	P(nla_put_u64(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE with MEMBERS as 8 bytes", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u32(m, DM_RED_A_EPOCH, 5));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	check("PROMOTE with EPOCH as 4 bytes", m, EXPECT(ERANGE, EINVAL));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_EPOCH, c0.epoch + 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 1));
	P(nla_put_u32(m, UNKNOWN_ATTR, 1));
	check("PROMOTE with an unknown attribute", m, EXPECT(EINVAL));
	if (c0.state == DM_RED_STATE_ACTIVE) {
		m = M(DM_RED_CMD_JOIN_ACK);
		put_res(m, copier);
		P(nla_put_u64(m, DM_RED_A_EPOCH, w0.epoch));
		check("JOIN_ACK to an active copier", m, EXPECT(EINVAL));
	} else {
		skip("JOIN_ACK to an active copier", "copier is not active");
	}

	/* -- protocol version -- */
	check("REGISTER proto 2..5", reg(2, 5, true), EXPECT(EPROTONOSUPPORT));
	check("REGISTER proto 0..0", reg(0, 0, true), EXPECT(EPROTONOSUPPORT));
	check("REGISTER proto 1..0 (min > max)", reg(1, 0, true),
	      EXPECT(EPROTONOSUPPORT, EINVAL));

	/* -- unknown attributes (strict validation) -- */
	m = M(DM_RED_CMD_GET_STATE);
	put_res(m, writer);
	P(nla_put_u32(m, UNKNOWN_ATTR, 1));
	check("GET_STATE with an unknown attribute", m, EXPECT(EINVAL));
	m = preserve(copier, true, true, true);
	P(nla_put_u32(m, UNKNOWN_ATTR, 1));
	check("PRESERVE with an unknown attribute", m, EXPECT(EINVAL));
	m = stab_ack(writer, w0.epoch, true);
	P(nla_put_u64(m, UNKNOWN_ATTR, 1));
	check("STABILIZE_ACK with an unknown attribute", m, EXPECT(EINVAL));
	m = M(DM_RED_CMD_GET_STATE);
	put_res(m, writer);
	P(nla_put_u32(m, DM_RED_A_UNSPEC, 1));
	check("GET_STATE with attribute 0 (UNSPEC)", m, EXPECT(EINVAL));

	/* -- commands the kernel only sends -- */
	check("unknown command 200", M(200), EXPECT(EOPNOTSUPP));
	m = M(DM_RED_CMD_STABILIZE);
	put_res(m, writer);
	check("STABILIZE sent to the kernel", m, EXPECT(EOPNOTSUPP));
	m = M(DM_RED_CMD_EPOCH_DONE);
	put_res(m, writer);
	check("EPOCH_DONE sent to the kernel", m, EXPECT(EOPNOTSUPP));
	m = M(DM_RED_CMD_EVENT);
	check("EVENT sent to the kernel", m, EXPECT(EOPNOTSUPP));
}

static void run_eperm(void)
{
	struct dm_red_range rg = { 0, 1 };
	struct nl_msg *m;

	/*
	 * Every request here would fail with a different, harmless error if
	 * the permission check were missing, so a wrong answer is visible
	 * and changes nothing.
	 */
	m = rednl_msg(&nl, DM_RED_CMD_GET_STATE, NLM_F_DUMP);
	if (!m)
		exit(1);
	check("unprivileged GET_STATE dump", m, EXPECT(EPERM));
	m = M(DM_RED_CMD_GET_STATE);
	put_res(m, writer);
	check("unprivileged GET_STATE", m, EXPECT(EPERM));
	check("unprivileged REGISTER (proto 2..5)", reg(2, 5, true),
	      EXPECT(EPERM));
	m = M(DM_RED_CMD_LEASE);
	put_res(m, copier);
	P(nla_put_u32(m, DM_RED_A_LEASE_MS, 1000));
	check("unprivileged LEASE (to a copier)", m, EXPECT(EPERM));
	m = M(DM_RED_CMD_NEW_EPOCH);
	put_res(m, NO_SUCH_DEV);
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 0));
	check("unprivileged NEW_EPOCH (unknown resource)", m, EXPECT(EPERM));
	m = M(DM_RED_CMD_JOIN_ACK);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_EPOCH, 1));
	check("unprivileged JOIN_ACK (to the writer)", m, EXPECT(EPERM));
	m = M(DM_RED_CMD_PROMOTE);
	put_res(m, copier);
	P(nla_put_u64(m, DM_RED_A_EPOCH, 1000));
	P(nla_put_u32(m, DM_RED_A_MEMBERS, 0));
	check("unprivileged PROMOTE (of the copier)", m, EXPECT(EPERM));
	m = M(DM_RED_CMD_PRESERVE);
	put_res(m, writer);
	P(nla_put_u64(m, DM_RED_A_EPOCH, 1));
	P(nla_put_u64(m, DM_RED_A_REQ_ID, 1));
	P(nla_put(m, DM_RED_A_RANGES, sizeof(rg), &rg));
	check("unprivileged PRESERVE (to the writer)", m, EXPECT(EPERM));
	check("unprivileged STABILIZE_ACK (unknown req id)",
	      stab_ack(NO_SUCH_DEV, 1, true), EXPECT(EPERM));
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: red-nlbad --writer NAME --copier NAME [--no-state-check] [--expect-eperm]\n"
		"  Sends malformed / misdirected dm_red requests; TAP output.\n"
		"  --expect-eperm: run as an unprivileged user; every request must get -EPERM.\n"
		"  --no-state-check: do not compare device state before/after each test.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "writer", required_argument, NULL, 'w' },
		{ "copier", required_argument, NULL, 'c' },
		{ "expect-eperm", no_argument, NULL, 'e' },
		{ "no-state-check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool eperm = false;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w': writer = optarg; break;
		case 'c': copier = optarg; break;
		case 'e': eperm = true; break;
		case 'n': state_check = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !writer || !copier ||
	    strlen(writer) >= DM_RED_RESOURCE_MAX ||
	    strlen(copier) >= DM_RED_RESOURCE_MAX) {
		usage(stderr);
		return 2;
	}
	if (rednl_open(&nl, "red-nlbad") < 0) {
		printf("Bail out! cannot open the dm_red family\n");
		return 1;
	}
	if (eperm) {
		state_check = false;	/* cannot read state unprivileged */
		run_eperm();
	} else {
		err = snapshot(writer, &w0);
		if (err || !w0.ok || w0.role != DM_RED_ROLE_WRITER) {
			printf("Bail out! %s is not a writer (GET_STATE: %s role %u)\n",
			       writer, rednl_errname(err), w0.role);
			return 1;
		}
		err = snapshot(copier, &c0);
		if (err || !c0.ok || c0.role != DM_RED_ROLE_COPIER) {
			printf("Bail out! %s is not a copier (GET_STATE: %s role %u)\n",
			       copier, rednl_errname(err), c0.role);
			return 1;
		}
		printf("# writer %s: epoch=%" PRIu64 " state=%u nr_chunks=%" PRIu64
		       "; copier %s: epoch=%" PRIu64 " state=%u nr_chunks=%" PRIu64 "\n",
		       writer, w0.epoch, w0.state, w0.nr_chunks, copier, c0.epoch,
		       c0.state, c0.nr_chunks);
		run_bad();
	}
	printf("1..%d\n", ntest);
	if (nfail)
		printf("# %d of %d failed\n", nfail, ntest);
	rednl_close(&nl);
	return nfail ? 1 : 0;
}
