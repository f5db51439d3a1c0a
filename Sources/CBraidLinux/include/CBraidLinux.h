#ifndef BRAID_CBRAIDLINUX_H
#define BRAID_CBRAIDLINUX_H

/// Moves the calling thread into the network namespace open at `descriptor` (setns(2) is a
/// GNU extension that Swift's Glibc module does not export).
int braid_enter_network_namespace(int descriptor);

/// Opens an rtnetlink socket subscribed to link and IPv4 address changes (RTMGRP_LINK,
/// RTMGRP_IPV4_IFADDR), with a large receive buffer; -1 and errno on failure.
int braid_open_link_monitor(void);


/// The nftables ruleset generation: the kernel increments it on every committed nft transaction,
/// by anyone, on any table. -1 and errno on failure.
long long braid_nftables_generation(void);

/// mallopt(M_ARENA_MAX, count): glibc's malloc arenas at most `count` (malloc.h is not in Swift's
/// Glibc module). Returns mallopt's result: 1 on success.
int braid_limit_malloc_arenas(int count);

/// pipe2(2) with O_CLOEXEC, so a pipe never leaks into a program another thread spawns meanwhile.
int braid_pipe_cloexec(int descriptors[2]);

#include <stdint.h>

/// One distinct masked conntrack mark and how many entries carry it.
struct braid_mark_count {
    uint32_t mark;
    uint64_t count;
};

/// Counts every conntrack entry (both families) in ONE ctnetlink dump, grouped by `mark & mask`.
/// Writes up to `capacity` distinct groups to `counts` and returns how many groups were found
/// (which may exceed `capacity`: the caller then retries with more room); -1 and errno on failure.
/// `*entries` receives the total number of entries seen.
int braid_conntrack_count_by_mark(uint32_t mask, struct braid_mark_count *counts, int capacity, uint64_t *entries);

/// One named nftables counter object and its values.
struct braid_counter {
    char name[256];
    uint64_t packets;
    uint64_t bytes;
};

/// Reads every counter object of the inet table `table` in ONE nftables netlink dump
/// (NFT_MSG_GETOBJ, filtered by table and type in the kernel). nft 1.0.6's `list counters`
/// reads the whole table first, every set element included: most of a second with a
/// 100,000-prefix set, on every scrape. Writes up to `capacity` counters and returns how many
/// were found (more than `capacity`: retry with more room); -1 and errno on failure.
int braid_nftables_counters(const char *table, struct braid_counter *counters, int capacity);
#endif
