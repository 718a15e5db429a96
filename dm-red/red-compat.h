/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-red: the differences between the kernels we build for (Debian 6.1 and
 * 6.12), in one place.
 */
#ifndef DM_RED_COMPAT_H
#define DM_RED_COMPAT_H

#include <linux/version.h>
#include <linux/bio.h>
#include <net/genetlink.h>

/* bio_list_merge_init() appeared in 6.11. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
static inline void bio_list_merge_init(struct bio_list *bl,
				       struct bio_list *bl2)
{
	bio_list_merge(bl, bl2);
	bio_list_init(bl2);
}
#endif

/* Multicast groups restricted to CAP_NET_ADMIN listeners, where known. */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define RED_MCGRP_FLAGS GENL_MCAST_CAP_NET_ADMIN
#else
#define RED_MCGRP_FLAGS 0
#endif

/* Dump attributes moved into genl_dumpit_info()->info in 6.7. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 7, 0)
#define red_dump_attrs(cb) (genl_dumpit_info(cb)->attrs)
#else
#define red_dump_attrs(cb) (genl_dumpit_info(cb)->info.attrs)
#endif

#endif /* DM_RED_COMPAT_H */
