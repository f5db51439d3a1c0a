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

/// madvise(MADV_DONTNEED) over this process's own code: the read-only executable mappings of
/// /proc/self/exe as /proc/self/maps lists them. The pages leave this process's RSS but stay in
/// the page cache, so using one again is a minor fault, never a disk read. Returns the bytes
/// advised, or -errno of the call that failed.
long braid_release_code_pages(void);

/// pipe2(2) with O_CLOEXEC, so a pipe never leaks into a program another thread spawns meanwhile.
int braid_pipe_cloexec(int descriptors[2]);

#include <stddef.h>
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
/// One link of an RTM_GETLINK dump.
struct braid_link {
    int32_t index;
    uint32_t flags;  // IFF_* (IFF_LOWER_UP included)
    char name[16];   // IFNAMSIZ
};

/// One address of an RTM_GETADDR dump. `local` is IFA_LOCAL, else IFA_ADDRESS; `peer` is
/// IFA_ADDRESS when both are there and differ (a point-to-point peer), as `ip` shows them.
struct braid_address {
    uint8_t family;
    uint8_t prefix_length;
    uint8_t has_peer;
    int32_t index;
    uint8_t local[16];
    uint8_t peer[16];
};

/// One route of an RTM_GETROUTE dump (every table). Only RTA_GATEWAY counts as a gateway (an
/// RTA_VIA of the other family does not); `multipath` marks RTA_MULTIPATH, whose hops name the
/// devices, so `oif` is 0.
struct braid_route {
    uint8_t family;
    uint8_t destination_length;
    uint8_t protocol;
    uint8_t unicast;  // rtm_type RTN_UNICAST (not blackhole, unreachable, local …)
    uint8_t has_destination;
    uint8_t has_gateway;
    uint8_t multipath;
    uint32_t table;
    int32_t oif;
    uint32_t metric;
    uint8_t destination[16];
    uint8_t gateway[16];
};

/// One policy rule of an RTM_GETRULE dump. `suppress_prefix_length` is -1 when not set.
struct braid_rule {
    uint8_t family;
    uint8_t action;
    uint8_t protocol;
    uint8_t has_fwmark;
    uint8_t has_fwmask;
    uint32_t priority;
    uint32_t table;
    uint32_t fwmark;
    uint32_t fwmask;
    int32_t suppress_prefix_length;
};

/// What `braid_rtnetlink_read` reads.
enum braid_rtnetlink_kind { BRAID_LINKS = 0, BRAID_ADDRESSES = 1, BRAID_ROUTES = 2, BRAID_RULES = 3 };

/// One rtnetlink dump of `kind` for `family` (AF_UNSPEC, AF_INET, AF_INET6), in the calling
/// thread's network namespace, taken again (with a growing pause) when a change interrupts it.
/// `*records` receives a malloc'd array of the kind's struct (free() it) and `*count` its length.
/// 0 on success; -1 and errno on failure (EAFNOSUPPORT: this kernel has no such family).
int braid_rtnetlink_read(enum braid_rtnetlink_kind kind, uint8_t family, void **records, int *count);
/// What `braid_rtnetlink_change_rule` and `braid_rtnetlink_change_route` do.
enum braid_rtnetlink_verb { BRAID_ADD = 0, BRAID_DELETE = 1, BRAID_REPLACE = 2 };

/// Adds or deletes one policy rule in the calling thread's network namespace, as `ip rule add` /
/// `ip rule del` would: priority, fwmark and mask when `has_…`, table, suppress_prefixlength when
/// not -1, and protocol (`action` is ignored: the rule looks up its table). 0, or minus the
/// errno of the kernel's answer, with its reason in `message` (up to `size` bytes; empty when it
/// gave none).
int braid_rtnetlink_change_rule(enum braid_rtnetlink_verb verb, const struct braid_rule *rule, char *message, size_t size);

/// Adds, replaces or deletes one unicast route in the calling thread's network namespace, as
/// `ip route add|replace|del` would: destination when `has_destination`, gateway when
/// `has_gateway`, device `oif`, table and protocol (`unicast`, `multipath` and `metric` are
/// ignored). 0, or minus the errno of the kernel's answer, with its reason in `message`.
int braid_rtnetlink_change_route(enum braid_rtnetlink_verb verb, const struct braid_route *route, char *message, size_t size);

/// One chain of an nftables table: its name and kernel handle.
struct braid_chain {
    char name[256];
    uint64_t handle;
};

/// Reads the chains of the inet table `table` in one nftables netlink dump (NFT_MSG_GETCHAIN),
/// as `nft -j list chains` would list them, without an nft process. Writes up to `capacity`
/// chains and returns how many were found (more than `capacity`: retry with more room). With no
/// chain found, `*table_exists` says whether the table is there at all (NFT_MSG_GETTABLE).
/// -1 and errno on failure.
int braid_nftables_chains(const char *table, struct braid_chain *chains, int capacity, int *table_exists);
/// socketpair(AF_UNIX, SOCK_STREAM) with SOCK_CLOEXEC on both ends: a stream to a helper
/// program that a write to cannot kill the writer with SIGPIPE (send with MSG_NOSIGNAL).
int braid_socketpair_cloexec(int descriptors[2]);
#endif
