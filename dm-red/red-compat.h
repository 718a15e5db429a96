/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-red: the differences between the kernels we build for (Debian 6.1 and
 * 6.12), in one place.  Feature tests only, no version numbers: Debian's
 * 6.1.y carries backports.
 *
 * Avoided rather than wrapped: bio_list_merge_init() (6.11+, we have
 * red_bio_list_take()), genl split ops and NLA_UINT (6.2+), module_dm()
 * (6.3+), blk_limits_io_min() (gone in 6.12), strlcpy() (gone in 6.12).
 */
#ifndef DM_RED_COMPAT_H
#define DM_RED_COMPAT_H

#include <linux/slab.h>
#include <net/genetlink.h>

/* A slab cache kept apart from others (6.5+); merged before that. */
#ifdef SLAB_NO_MERGE
#define RED_SLAB_NO_MERGE SLAB_NO_MERGE
#else
#define RED_SLAB_NO_MERGE 0
#endif

/* Multicast groups restricted to CAP_NET_ADMIN listeners, where known. */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define RED_MCGRP_FLAGS GENL_MCAST_CAP_NET_ADMIN
#else
#define RED_MCGRP_FLAGS 0
#endif

#endif /* DM_RED_COMPAT_H */
