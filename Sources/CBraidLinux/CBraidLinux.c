#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/mman.h>
#include "CBraidLinux.h"

int braid_limit_malloc_arenas(int count) {
    return mallopt(M_ARENA_MAX, count);
}

long braid_release_code_pages(void) {
    char executable[4096];
    ssize_t length = readlink("/proc/self/exe", executable, sizeof executable - 1);
    if (length <= 0) return -errno;
    executable[length] = 0;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps == NULL) return -errno;
    long advised = 0;
    char line[4096 + 128];
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long start, end;
        char permissions[8] = {0};
        int pathOffset = -1;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, permissions, &pathOffset) < 3 || pathOffset < 0) continue;
        char *path = line + pathOffset;
        path[strcspn(path, "\n")] = 0;
        // Only the code: a written page of a writable or relocated (RELRO) mapping would be lost.
        if (strcmp(path, executable) != 0 || strcmp(permissions, "r-xp") != 0) continue;
        if (madvise((void *)start, end - start, MADV_DONTNEED) != 0) { advised = -errno; break; }
        advised += (long)(end - start);
    }
    fclose(maps);
    return advised;
}

int braid_enter_network_namespace(int descriptor) {
    return setns(descriptor, CLONE_NEWNET);
}

int braid_open_link_monitor(void) {
    int descriptor = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (descriptor < 0) return -1;
    int size = 1 << 20;
    setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_nl address;
    memset(&address, 0, sizeof address);
    address.nl_family = AF_NETLINK;
    // Both families' addresses, routes and rules: Braid's own IPv6 rules and routes must be
    // repaired like IPv4 ones. There is no RTMGRP_ macro for IPv6 rules; group N is bit N-1.
    address.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE
        | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE | (1u << (RTNLGRP_IPV6_RULE - 1));
    if (bind(descriptor, (struct sockaddr *)&address, sizeof address) < 0) {
        close(descriptor);
        return -1;
    }
    return descriptor;
}

int braid_pipe_cloexec(int descriptors[2]) {
    return pipe2(descriptors, O_CLOEXEC);
}

int braid_socketpair_cloexec(int descriptors[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, descriptors);
}

/// Sends one nfnetlink request without payload (`type` is subsystem << 8 | message) to the kernel.
static int braid_nfnetlink_send(int fd, uint16_t type, uint16_t flags) {
    struct {
        struct nlmsghdr header;
        struct nfgenmsg body;
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    request.header.nlmsg_type = type;
    request.header.nlmsg_flags = flags;
    request.header.nlmsg_seq = 1;
    // AF_UNSPEC: every family (conntrack dumps the entries of IPv4 and IPv6 in this one request).
    request.body.nfgen_family = AF_UNSPEC;
    request.body.version = NFNETLINK_V0;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -1;
    return 0;
}

/// Finds the first u32 attribute of `type` (network order) in an nfnetlink message; 1 when found.
static int braid_nfnetlink_u32(struct nlmsghdr *message, uint16_t type, uint32_t *value) {
    size_t payload = NLMSG_PAYLOAD(message, 0);
    size_t offset = NLMSG_ALIGN(sizeof(struct nfgenmsg));
    while (offset + sizeof(struct nlattr) <= payload) {
        struct nlattr *attribute = (struct nlattr *)((char *)NLMSG_DATA(message) + offset);
        if (attribute->nla_len < sizeof(struct nlattr) || offset + attribute->nla_len > payload) return 0;
        if ((attribute->nla_type & NLA_TYPE_MASK) == type && attribute->nla_len >= NLA_HDRLEN + sizeof(uint32_t)) {
            uint32_t raw;
            memcpy(&raw, (char *)attribute + NLA_HDRLEN, sizeof raw);
            *value = ntohl(raw);
            return 1;
        }
        offset += NLA_ALIGN(attribute->nla_len);
    }
    return 0;
}

/// Closes a NETLINK_NETFILTER socket on a thread of its own. Closing one makes nf_tables wait,
/// under its commit mutex, for the clean-up of the last transaction (the NETLINK_URELEASE
/// notifier flushes the destroy work, an RCU grace period): 5–15 ms right after a commit, which a
/// verification read just after a weight change would spend waiting for nothing it needs.
static pthread_mutex_t braid_closer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t braid_closer_wake = PTHREAD_COND_INITIALIZER;
static int braid_closer_queue[64];
static int braid_closer_count = 0;
static int braid_closer_started = 0;

static void *braid_closer_run(void *unused) {
    (void)unused;
    pthread_mutex_lock(&braid_closer_lock);
    while (1) {
        while (braid_closer_count == 0) pthread_cond_wait(&braid_closer_wake, &braid_closer_lock);
        int fd = braid_closer_queue[--braid_closer_count];
        pthread_mutex_unlock(&braid_closer_lock);
        close(fd);
        pthread_mutex_lock(&braid_closer_lock);
    }
    return NULL;
}

static void braid_nfnetlink_close(int fd) {
    int saved = errno;
    pthread_mutex_lock(&braid_closer_lock);
    if (!braid_closer_started) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        braid_closer_started = pthread_create(&thread, &attributes, braid_closer_run, NULL) == 0 ? 1 : -1;
        pthread_attr_destroy(&attributes);
    }
    // No closer thread, or a full queue (it is stuck): close here, as before.
    int queued = braid_closer_started == 1 && braid_closer_count < (int)(sizeof braid_closer_queue / sizeof braid_closer_queue[0]);
    if (queued) {
        braid_closer_queue[braid_closer_count++] = fd;
        pthread_cond_signal(&braid_closer_wake);
    }
    pthread_mutex_unlock(&braid_closer_lock);
    if (!queued) close(fd);
    errno = saved;
}

long long braid_nftables_generation(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return -1;
    struct timeval timeout = { .tv_sec = 2, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (braid_nfnetlink_send(fd, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST) < 0) {
        int saved = errno; braid_nfnetlink_close(fd); errno = saved; return -1;
    }
    char buffer[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
    ssize_t received = recv(fd, buffer, sizeof buffer, 0);
    int saved = errno;
    braid_nfnetlink_close(fd);
    if (received < 0) { errno = saved; return -1; }
    // Signed, so that NLMSG_NEXT stepping past a short last message ends the loop.
    int remaining = (int)received;
    for (struct nlmsghdr *message = (struct nlmsghdr *)buffer; remaining > 0 && NLMSG_OK(message, remaining);
         message = NLMSG_NEXT(message, remaining)) {
        if (message->nlmsg_type == NLMSG_ERROR) {
            if (message->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) break;
            struct nlmsgerr *error = NLMSG_DATA(message);
            errno = error->error ? -error->error : EPROTO;
            return -1;
        }
        if (message->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) continue;
        uint32_t generation;
        if (braid_nfnetlink_u32(message, NFTA_GEN_ID, &generation)) return (long long)generation;
    }
    errno = EPROTO;
    return -1;
}

#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/time.h>
#include <time.h>

/// Adds one entry with `mark` to the groups; returns the new number of groups.
static int braid_add_mark(uint32_t mark, struct braid_mark_count *counts, int capacity, int groups) {
    for (int index = 0; index < groups && index < capacity; index++) {
        if (counts[index].mark == mark) { counts[index].count++; return groups; }
    }
    if (groups < capacity) { counts[groups].mark = mark; counts[groups].count = 1; }
    return groups + 1;
}

/// Receives a netlink dump on `fd` until NLMSG_DONE, handing every message of `type` to `each`.
/// Returns 0 when the dump is complete, 1 when it must be taken again (the kernel flagged it
/// interrupted because the table changed under it, or the socket overflowed and lost messages:
/// ENOBUFS), -1 and errno on failure (ETIMEDOUT when the kernel stopped answering).
static int braid_receive_dump(int fd, uint16_t type, void (*each)(struct nlmsghdr *message, void *context), void *context) {
    static __thread char buffer[1 << 16] __attribute__((aligned(NLMSG_ALIGNTO)));
    int interrupted = 0;
    while (1) {
        ssize_t received = recv(fd, buffer, sizeof buffer, 0);
        if (received < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) return 1;
            // The receive timeout: EAGAIN would read as "retried too often".
            if (errno == EAGAIN || errno == EWOULDBLOCK) errno = ETIMEDOUT;
            return -1;
        }
        if (received == 0) { errno = EPROTO; return -1; }
        // Signed, so that NLMSG_NEXT stepping past a short last message ends the loop.
        int remaining = (int)received;
        for (struct nlmsghdr *message = (struct nlmsghdr *)buffer; remaining > 0 && NLMSG_OK(message, remaining);
             message = NLMSG_NEXT(message, remaining)) {
            if (message->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = 1;
            if (message->nlmsg_type == NLMSG_DONE) {
                // A dump that failed part-way ends with the (negative) error in its DONE message.
                int status = 0;
                if (message->nlmsg_len >= NLMSG_LENGTH(sizeof status)) memcpy(&status, NLMSG_DATA(message), sizeof status);
                if (status < 0) { errno = -status; return -1; }
                return interrupted;
            }
            if (message->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *error = NLMSG_DATA(message);
                errno = message->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) && error->error ? -error->error : EPROTO;
                return -1;
            }
            if (message->nlmsg_type == type) each(message, context);
        }
    }
}

/// How often a dump that must be taken again is: another program busy with nftables or conntrack
/// interrupts about one dump in five (measured with continuous changes), so a few tries in a row
/// can all be unlucky.
#define BRAID_DUMP_ATTEMPTS 12

/// 1, 2, 4 … ms, at most 32 ms, before try `attempt` (the whole budget stays under a quarter second).
static void braid_dump_pause(int attempt) {
    int shift = attempt - 1 < 5 ? attempt - 1 : 5;
    struct timespec pause = { .tv_sec = 0, .tv_nsec = (1L << shift) * 1000000L };
    nanosleep(&pause, NULL);
}

/// Opens a NETLINK_NETFILTER socket with a receive timeout of `seconds`; -1 and errno on failure.
static int braid_nfnetlink_socket(int seconds) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return -1;
    struct timeval timeout = { .tv_sec = seconds, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return fd;
}

struct braid_mark_groups {
    uint32_t mask;
    struct braid_mark_count *counts;
    int capacity;
    int groups;
    uint64_t seen;
};

static void braid_count_entry(struct nlmsghdr *message, void *context) {
    struct braid_mark_groups *groups = context;
    groups->seen++;
    uint32_t mark = 0;
    braid_nfnetlink_u32(message, CTA_MARK, &mark);
    groups->groups = braid_add_mark(mark & groups->mask, groups->counts, groups->capacity, groups->groups);
}

int braid_conntrack_count_by_mark(uint32_t mask, struct braid_mark_count *counts, int capacity, uint64_t *entries) {
    // A dump that must be taken again (see braid_receive_dump) is, with a growing pause.
    for (int attempt = 0; attempt < BRAID_DUMP_ATTEMPTS; attempt++) {
        if (attempt > 0) braid_dump_pause(attempt);
        int fd = braid_nfnetlink_socket(5);
        if (fd < 0) return -1;
        int size = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (braid_nfnetlink_send(fd, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP) < 0) {
            int saved = errno; braid_nfnetlink_close(fd); errno = saved; return -1;
        }
        struct braid_mark_groups groups = { .mask = mask, .counts = counts, .capacity = capacity };
        int result = braid_receive_dump(fd, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW, braid_count_entry, &groups);
        int saved = errno;
        braid_nfnetlink_close(fd);
        if (result == 0) { *entries = groups.seen; return groups.groups; }
        if (result < 0) { errno = saved; return -1; }
    }
    errno = EAGAIN;
    return -1;
}

#include <endian.h>
#include <linux/netfilter.h>

/// Copies the value of an NLA_STRING attribute into `out` (NUL-terminated, cut to `size`).
static void braid_attribute_string(struct nlattr *attribute, char *out, size_t size) {
    size_t length = attribute->nla_len - NLA_HDRLEN;
    if (length >= size) length = size - 1;
    memcpy(out, (char *)attribute + NLA_HDRLEN, length);
    out[length] = 0;
    // The kernel's string includes its NUL; a shorter copy is cut there anyway.
    out[strnlen(out, length)] = 0;
}

/// Reads a counter object's nested NFTA_OBJ_DATA: its packets and bytes (64-bit, network order).
static void braid_counter_data(struct nlattr *data, struct braid_counter *counter) {
    size_t payload = data->nla_len - NLA_HDRLEN;
    size_t offset = 0;
    while (offset + sizeof(struct nlattr) <= payload) {
        struct nlattr *attribute = (struct nlattr *)((char *)data + NLA_HDRLEN + offset);
        if (attribute->nla_len < sizeof(struct nlattr) || offset + attribute->nla_len > payload) return;
        uint16_t type = attribute->nla_type & NLA_TYPE_MASK;
        if ((type == NFTA_COUNTER_BYTES || type == NFTA_COUNTER_PACKETS) && attribute->nla_len >= NLA_HDRLEN + sizeof(uint64_t)) {
            uint64_t raw;
            memcpy(&raw, (char *)attribute + NLA_HDRLEN, sizeof raw);
            if (type == NFTA_COUNTER_BYTES) counter->bytes = be64toh(raw); else counter->packets = be64toh(raw);
        }
        offset += NLA_ALIGN(attribute->nla_len);
    }
}

/// Appends an attribute to a request being built in `buffer` (whose header's length it grows).
static void braid_append_attribute(struct nlmsghdr *header, uint16_t type, const void *value, size_t length) {
    struct nlattr *attribute = (struct nlattr *)((char *)header + NLMSG_ALIGN(header->nlmsg_len));
    attribute->nla_type = type;
    attribute->nla_len = (uint16_t)(NLA_HDRLEN + length);
    memcpy((char *)attribute + NLA_HDRLEN, value, length);
    header->nlmsg_len = NLMSG_ALIGN(header->nlmsg_len) + NLA_ALIGN(attribute->nla_len);
}

struct braid_counter_list {
    struct braid_counter *counters;
    int capacity;
    int found;
};

/// Sends an nftables request for the inet table `table`, its name as attribute `nameType`, and
/// when `extraType` is not 0 a u32 attribute `extraType` = `extraValue` (network order).
static int braid_nftables_request(
    int fd, uint16_t type, uint16_t flags, uint16_t nameType, const char *table, uint16_t extraType, uint32_t extraValue) {
    char request[512] __attribute__((aligned(NLMSG_ALIGNTO)));
    memset(request, 0, sizeof request);
    struct nlmsghdr *header = (struct nlmsghdr *)request;
    header->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    header->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
    header->nlmsg_flags = flags;
    header->nlmsg_seq = 1;
    struct nfgenmsg *body = NLMSG_DATA(header);
    body->nfgen_family = NFPROTO_INET;
    body->version = NFNETLINK_V0;
    braid_append_attribute(header, nameType, table, strlen(table) + 1);
    if (extraType != 0) {
        uint32_t value = htonl(extraValue);
        braid_append_attribute(header, extraType, &value, sizeof value);
    }
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    return sendto(fd, request, header->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0 ? -1 : 0;
}

/// The attributes of an nfnetlink message by type (the last of a type wins; types above
/// `maximum` are skipped).
static void braid_nfnetlink_attributes(struct nlmsghdr *message, struct nlattr **table, int maximum) {
    memset(table, 0, sizeof(struct nlattr *) * (size_t)(maximum + 1));
    size_t payload = NLMSG_PAYLOAD(message, 0);
    size_t offset = NLMSG_ALIGN(sizeof(struct nfgenmsg));
    while (offset + sizeof(struct nlattr) <= payload) {
        struct nlattr *attribute = (struct nlattr *)((char *)NLMSG_DATA(message) + offset);
        if (attribute->nla_len < sizeof(struct nlattr) || offset + attribute->nla_len > payload) return;
        int type = attribute->nla_type & NLA_TYPE_MASK;
        if (type <= maximum) table[type] = attribute;
        offset += NLA_ALIGN(attribute->nla_len);
    }
}

/// A u32 (network order) or u64 (big endian) attribute's value, or `fallback` when absent or short.
static uint32_t braid_nla_u32(struct nlattr *attribute, uint32_t fallback) {
    if (attribute == NULL || attribute->nla_len < NLA_HDRLEN + sizeof(uint32_t)) return fallback;
    uint32_t raw;
    memcpy(&raw, (char *)attribute + NLA_HDRLEN, sizeof raw);
    return ntohl(raw);
}

static int braid_nla_u64(struct nlattr *attribute, uint64_t *value) {
    if (attribute == NULL || attribute->nla_len < NLA_HDRLEN + sizeof(uint64_t)) return 0;
    uint64_t raw;
    memcpy(&raw, (char *)attribute + NLA_HDRLEN, sizeof raw);
    *value = be64toh(raw);
    return 1;
}

static void braid_read_counter(struct nlmsghdr *message, void *context) {
    struct braid_counter_list *list = context;
    struct nlattr *attributes[NFTA_OBJ_MAX + 1];
    braid_nfnetlink_attributes(message, attributes, NFTA_OBJ_MAX);
    // A kernel that ignores the type filter still says each object's type.
    if (braid_nla_u32(attributes[NFTA_OBJ_TYPE], 0) != NFT_OBJECT_COUNTER || attributes[NFTA_OBJ_NAME] == NULL) return;
    struct braid_counter counter;
    memset(&counter, 0, sizeof counter);
    braid_attribute_string(attributes[NFTA_OBJ_NAME], counter.name, sizeof counter.name);
    if (attributes[NFTA_OBJ_DATA] != NULL) braid_counter_data(attributes[NFTA_OBJ_DATA], &counter);
    if (counter.name[0] == 0) return;
    if (list->found < list->capacity) list->counters[list->found] = counter;
    list->found++;
}

int braid_nftables_counters(const char *table, struct braid_counter *counters, int capacity) {
    size_t tableLength = strlen(table) + 1;
    if (tableLength > 256) { errno = EINVAL; return -1; }
    // Any nft transaction meanwhile, by anyone, interrupts the dump: taken again, with a growing pause.
    for (int attempt = 0; attempt < BRAID_DUMP_ATTEMPTS; attempt++) {
        if (attempt > 0) braid_dump_pause(attempt);
        int fd = braid_nfnetlink_socket(2);
        if (fd < 0) return -1;
        // NFT_MSG_GETOBJ as a dump, filtered by the kernel to one inet table's counters.
        if (braid_nftables_request(
                fd, NFT_MSG_GETOBJ, NLM_F_REQUEST | NLM_F_DUMP, NFTA_OBJ_TABLE, table, NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER) < 0) {
            int saved = errno; braid_nfnetlink_close(fd); errno = saved; return -1;
        }
        struct braid_counter_list list = { .counters = counters, .capacity = capacity };
        int result = braid_receive_dump(fd, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWOBJ, braid_read_counter, &list);
        int saved = errno;
        braid_nfnetlink_close(fd);
        if (result == 0) return list.found;
        if (result < 0) { errno = saved; return -1; }
    }
    errno = EAGAIN;
    return -1;
}

#include <stdlib.h>
#include <net/if.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>

/// The records of one rtnetlink dump as they are parsed: a growing array of one kind's struct.
struct braid_record_list {
    enum braid_rtnetlink_kind kind;
    /// The family asked for; AF_UNSPEC for every family.
    uint8_t family;
    size_t size;
    char *records;
    int count;
    int capacity;
    int failed;
};

/// Room for one more record (zeroed), or NULL when memory ran out.
static void *braid_next_record(struct braid_record_list *list) {
    if (list->failed) return NULL;
    if (list->count == list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 64;
        char *grown = realloc(list->records, (size_t)capacity * list->size);
        if (grown == NULL) { list->failed = 1; return NULL; }
        list->records = grown;
        list->capacity = capacity;
    }
    void *record = list->records + (size_t)list->count * list->size;
    memset(record, 0, list->size);
    list->count++;
    return record;
}

/// The attributes of an rtnetlink message after its fixed header of `header` bytes, by type
/// (the last of a type wins; types above `maximum` are skipped).
static void braid_rtnetlink_attributes(struct nlmsghdr *message, size_t header, struct rtattr **table, int maximum) {
    memset(table, 0, sizeof(struct rtattr *) * (size_t)(maximum + 1));
    if (message->nlmsg_len < NLMSG_LENGTH(header)) return;
    int remaining = (int)(message->nlmsg_len - NLMSG_LENGTH(header));
    for (struct rtattr *attribute = (struct rtattr *)((char *)NLMSG_DATA(message) + NLMSG_ALIGN(header));
         RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
        int type = attribute->rta_type & NLA_TYPE_MASK;
        if (type <= maximum) table[type] = attribute;
    }
}

static uint32_t braid_rta_u32(struct rtattr *attribute, uint32_t fallback) {
    if (attribute == NULL || RTA_PAYLOAD(attribute) < sizeof(uint32_t)) return fallback;
    uint32_t value;
    memcpy(&value, RTA_DATA(attribute), sizeof value);
    return value;
}

/// Copies an address attribute (4 or 16 bytes) into `out`; 1 when it was one.
static int braid_rta_address(struct rtattr *attribute, uint8_t out[16]) {
    if (attribute == NULL) return 0;
    size_t length = RTA_PAYLOAD(attribute);
    if (length != 4 && length != 16) return 0;
    memcpy(out, RTA_DATA(attribute), length);
    return 1;
}

#define BRAID_ATTRIBUTES_MAX 64
_Static_assert(RTA_MAX <= BRAID_ATTRIBUTES_MAX && IFA_MAX <= BRAID_ATTRIBUTES_MAX && FRA_MAX <= BRAID_ATTRIBUTES_MAX,
               "an attribute table too small for this kernel header");

/// The family of an rtnetlink message (the first byte of each kind's fixed header).
static uint8_t braid_message_family(struct nlmsghdr *message) {
    return message->nlmsg_len > NLMSG_LENGTH(0) ? *(uint8_t *)NLMSG_DATA(message) : AF_UNSPEC;
}

/// Each kind's fixed header (request and answer alike; the family is its first byte in all four),
/// the highest attribute type it reads, and its record's size.
static const size_t braid_rtnetlink_headers[] = {
    sizeof(struct ifinfomsg), sizeof(struct ifaddrmsg), sizeof(struct rtmsg), sizeof(struct fib_rule_hdr) };
static const int braid_rtnetlink_maxima[] = {
    IFLA_MAX < BRAID_ATTRIBUTES_MAX ? IFLA_MAX : BRAID_ATTRIBUTES_MAX, IFA_MAX, RTA_MAX, FRA_MAX };
static const size_t braid_rtnetlink_record_sizes[] = {
    sizeof(struct braid_link), sizeof(struct braid_address), sizeof(struct braid_route), sizeof(struct braid_rule) };

static void braid_read_rtnetlink_record(struct nlmsghdr *message, void *context) {
    struct braid_record_list *list = context;
    struct rtattr *attributes[BRAID_ATTRIBUTES_MAX + 1];
    // A family with no dump of its own (IPv6 on a kernel booted with ipv6.disable=1) is answered
    // with every family's dump, not an error: keep the asked family's records, as `ip` does.
    if (list->family != AF_UNSPEC && braid_message_family(message) != list->family) return;
    size_t header = braid_rtnetlink_headers[list->kind];
    if (message->nlmsg_len < NLMSG_LENGTH(header)) return;
    // Cached clones are not routes anyone configured.
    if (list->kind == BRAID_ROUTES && (((struct rtmsg *)NLMSG_DATA(message))->rtm_flags & RTM_F_CLONED)) return;
    braid_rtnetlink_attributes(message, header, attributes, braid_rtnetlink_maxima[list->kind]);
    void *record = braid_next_record(list);
    if (record == NULL) return;
    switch (list->kind) {
    case BRAID_LINKS: {
        struct ifinfomsg *info = NLMSG_DATA(message);
        struct braid_link *link = record;
        link->index = info->ifi_index;
        link->flags = info->ifi_flags;
        if (attributes[IFLA_IFNAME] != NULL) {
            size_t length = strnlen(RTA_DATA(attributes[IFLA_IFNAME]), RTA_PAYLOAD(attributes[IFLA_IFNAME]));
            if (length >= sizeof link->name) length = sizeof link->name - 1;
            memcpy(link->name, RTA_DATA(attributes[IFLA_IFNAME]), length);
        }
        break;
    }
    case BRAID_ADDRESSES: {
        struct ifaddrmsg *info = NLMSG_DATA(message);
        struct braid_address *address = record;
        address->family = info->ifa_family;
        address->prefix_length = info->ifa_prefixlen;
        address->index = (int32_t)info->ifa_index;
        uint8_t peer[16] = {0};
        int hasLocal = braid_rta_address(attributes[IFA_LOCAL], address->local);
        int hasAddress = braid_rta_address(attributes[IFA_ADDRESS], peer);
        if (!hasLocal && hasAddress) memcpy(address->local, peer, sizeof peer);
        if (hasLocal && hasAddress && memcmp(address->local, peer, sizeof peer) != 0) {
            memcpy(address->peer, peer, sizeof peer);
            address->has_peer = 1;
        }
        if (!hasLocal && !hasAddress) list->count--;  // nothing to say about it
        break;
    }
    case BRAID_ROUTES: {
        struct rtmsg *info = NLMSG_DATA(message);
        struct braid_route *route = record;
        route->family = info->rtm_family;
        route->destination_length = info->rtm_dst_len;
        route->protocol = info->rtm_protocol;
        route->unicast = info->rtm_type == RTN_UNICAST;
        route->table = braid_rta_u32(attributes[RTA_TABLE], info->rtm_table);
        route->oif = (int32_t)braid_rta_u32(attributes[RTA_OIF], 0);
        route->metric = braid_rta_u32(attributes[RTA_PRIORITY], 0);
        route->has_destination = (uint8_t)braid_rta_address(attributes[RTA_DST], route->destination);
        route->has_gateway = (uint8_t)braid_rta_address(attributes[RTA_GATEWAY], route->gateway);
        route->multipath = attributes[RTA_MULTIPATH] != NULL;
        break;
    }
    case BRAID_RULES: {
        struct fib_rule_hdr *info = NLMSG_DATA(message);
        struct braid_rule *rule = record;
        rule->family = info->family;
        rule->action = info->action;
        rule->table = braid_rta_u32(attributes[FRA_TABLE], info->table);
        rule->priority = braid_rta_u32(attributes[FRA_PRIORITY], 0);
        rule->has_fwmark = attributes[FRA_FWMARK] != NULL;
        rule->fwmark = braid_rta_u32(attributes[FRA_FWMARK], 0);
        rule->has_fwmask = attributes[FRA_FWMASK] != NULL;
        rule->fwmask = braid_rta_u32(attributes[FRA_FWMASK], 0);
        rule->suppress_prefix_length = (int32_t)braid_rta_u32(attributes[FRA_SUPPRESS_PREFIXLEN], (uint32_t)-1);
        if (attributes[FRA_PROTOCOL] != NULL && RTA_PAYLOAD(attributes[FRA_PROTOCOL]) >= 1)
            rule->protocol = *(uint8_t *)RTA_DATA(attributes[FRA_PROTOCOL]);
        break;
    }
    }
}

int braid_rtnetlink_read(enum braid_rtnetlink_kind kind, uint8_t family, void **records, int *count) {
    static const uint16_t requests[] = { RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETRULE };
    static const uint16_t answers[] = { RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWRULE };
    if ((unsigned)kind > BRAID_RULES) { errno = EINVAL; return -1; }
    for (int attempt = 0; attempt < BRAID_DUMP_ATTEMPTS; attempt++) {
        if (attempt > 0) braid_dump_pause(attempt);
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) return -1;
        struct timeval timeout = { .tv_sec = 5, .tv_usec = 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        int size = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        char request[NLMSG_SPACE(sizeof(struct ifinfomsg))] __attribute__((aligned(NLMSG_ALIGNTO)));
        memset(request, 0, sizeof request);
        struct nlmsghdr *header = (struct nlmsghdr *)request;
        // The request's fixed header is zeroed but for the family.
        header->nlmsg_len = NLMSG_LENGTH(braid_rtnetlink_headers[kind]);
        header->nlmsg_type = requests[kind];
        header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        header->nlmsg_seq = 1;
        *(uint8_t *)NLMSG_DATA(header) = family;
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        if (sendto(fd, request, header->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
            int saved = errno; close(fd); errno = saved; return -1;
        }
        struct braid_record_list list = { .kind = kind, .family = family, .size = braid_rtnetlink_record_sizes[kind] };
        int result = braid_receive_dump(fd, answers[kind], braid_read_rtnetlink_record, &list);
        int saved = errno;
        close(fd);
        // Under changes that never stop (an interface with thousands of addresses being churned),
        // the last try's dump is taken as it is, as `ip` takes every dump: a mix of just before
        // and just after the change, which the next event or resync reads again.
        int lastTry = attempt == BRAID_DUMP_ATTEMPTS - 1;
        if ((result == 0 || (result == 1 && lastTry)) && !list.failed) {
            *records = list.records;
            *count = list.count;
            return 0;
        }
        free(list.records);
        if (list.failed) { errno = ENOMEM; return -1; }
        if (result < 0) { errno = saved; return -1; }
    }
    errno = EAGAIN;
    return -1;
}

struct braid_chain_list {
    const char *table;
    struct braid_chain *chains;
    int capacity;
    int found;
};

static void braid_read_chain(struct nlmsghdr *message, void *context) {
    struct braid_chain_list *list = context;
    struct nlattr *attributes[NFTA_CHAIN_MAX + 1];
    braid_nfnetlink_attributes(message, attributes, NFTA_CHAIN_MAX);
    struct braid_chain chain;
    memset(&chain, 0, sizeof chain);
    char table[256] = {0};
    if (attributes[NFTA_CHAIN_TABLE] != NULL) braid_attribute_string(attributes[NFTA_CHAIN_TABLE], table, sizeof table);
    if (attributes[NFTA_CHAIN_NAME] != NULL) braid_attribute_string(attributes[NFTA_CHAIN_NAME], chain.name, sizeof chain.name);
    int hasHandle = braid_nla_u64(attributes[NFTA_CHAIN_HANDLE], &chain.handle);
    int binding = (braid_nla_u32(attributes[NFTA_CHAIN_FLAGS], 0) & NFT_CHAIN_BINDING) != 0;
    // The kernel may answer with every inet table's chains: keep the asked table's. Anonymous
    // chains bound to a rule (`jump { … }`) are part of that rule; `nft list chains` hides them too.
    if (strcmp(table, list->table) != 0 || chain.name[0] == 0 || !hasHandle || binding) return;
    if (list->found < list->capacity) list->chains[list->found] = chain;
    list->found++;
}

/// Whether the inet table `table` exists: 1 or 0, -1 and errno on failure.
static int braid_nftables_table_exists(const char *table) {
    int fd = braid_nfnetlink_socket(2);
    if (fd < 0) return -1;
    if (braid_nftables_request(fd, NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK, NFTA_TABLE_NAME, table, 0, 0) < 0) {
        int saved = errno; braid_nfnetlink_close(fd); errno = saved; return -1;
    }
    char buffer[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    // The answer is the table (NEWTABLE), or an error message: ENOENT when there is none.
    while (1) {
        ssize_t received = recv(fd, buffer, sizeof buffer, 0);
        if (received < 0 && errno == EINTR) continue;
        if (received <= 0) {
            int saved = received == 0 ? EPROTO : (errno == EAGAIN || errno == EWOULDBLOCK) ? ETIMEDOUT : errno;
            braid_nfnetlink_close(fd); errno = saved; return -1;
        }
        int remaining = (int)received;
        for (struct nlmsghdr *message = (struct nlmsghdr *)buffer; remaining > 0 && NLMSG_OK(message, remaining);
             message = NLMSG_NEXT(message, remaining)) {
            if (message->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) { braid_nfnetlink_close(fd); return 1; }
            if (message->nlmsg_type != NLMSG_ERROR) continue;
            struct nlmsgerr *error = NLMSG_DATA(message);
            int code = message->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) ? -error->error : EPROTO;
            braid_nfnetlink_close(fd);
            if (code == ENOENT) return 0;
            errno = code ? code : EPROTO;  // an acknowledgement with no table before it
            return -1;
        }
    }
}

int braid_nftables_chains(const char *table, struct braid_chain *chains, int capacity, int *table_exists) {
    if (strlen(table) + 1 > 256) { errno = EINVAL; return -1; }
    for (int attempt = 0; attempt < BRAID_DUMP_ATTEMPTS; attempt++) {
        if (attempt > 0) braid_dump_pause(attempt);
        int fd = braid_nfnetlink_socket(2);
        if (fd < 0) return -1;
        if (braid_nftables_request(fd, NFT_MSG_GETCHAIN, NLM_F_REQUEST | NLM_F_DUMP, NFTA_CHAIN_TABLE, table, 0, 0) < 0) {
            int saved = errno; braid_nfnetlink_close(fd); errno = saved; return -1;
        }
        struct braid_chain_list list = { .table = table, .chains = chains, .capacity = capacity };
        int result = braid_receive_dump(fd, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN, braid_read_chain, &list);
        int saved = errno;
        braid_nfnetlink_close(fd);
        if (result < 0) { errno = saved; return -1; }
        if (result == 1) continue;
        *table_exists = 1;
        if (list.found == 0) {
            int exists = braid_nftables_table_exists(table);
            if (exists < 0) return -1;
            *table_exists = exists;
        }
        return list.found;
    }
    errno = EAGAIN;
    return -1;
}

/// Sends one rtnetlink request built in `header` and waits for its acknowledgement: 0, or minus
/// the error the kernel answered (EEXIST, ENETUNREACH, ESRCH …; ETIMEDOUT when no answer came in
/// 5 s) and, when the kernel said why (its extended ack, as `ip` prints after "Error:"), that text
/// in `message`. The error is returned, not left in errno, which the Swift caller cannot read
/// reliably after the call returns.
static int braid_rtnetlink_transact(struct nlmsghdr *header, char *message, size_t size) {
    if (size > 0) message[0] = 0;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct timeval timeout = { .tv_sec = 5, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int on = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    header->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    header->nlmsg_seq = 1;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, header, header->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int saved = errno; close(fd); return -saved;
    }
    char answer[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (;;) {
        ssize_t length = recv(fd, answer, sizeof answer, 0);
        if (length < 0) {
            if (errno == EINTR) continue;
            int saved = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
            close(fd);
            return -saved;
        }
        if (length == 0) { close(fd); return -EPROTO; }
        int remaining = (int)length;
        for (struct nlmsghdr *reply = (struct nlmsghdr *)answer; NLMSG_OK(reply, remaining);
             reply = NLMSG_NEXT(reply, remaining)) {
            if (reply->nlmsg_seq != 1 || reply->nlmsg_type != NLMSG_ERROR) continue;
            if (reply->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) { close(fd); return -EPROTO; }
            struct nlmsgerr *error = NLMSG_DATA(reply);
            int code = error->error;
            // With NETLINK_CAP_ACK the request is not echoed: the extended-ack attributes follow.
            if (code != 0 && (reply->nlmsg_flags & NLM_F_ACK_TLVS) && (reply->nlmsg_flags & NLM_F_CAPPED) && size > 0) {
                int attributes = (int)(reply->nlmsg_len - NLMSG_LENGTH(sizeof(struct nlmsgerr)));
                for (struct nlattr *attribute = (struct nlattr *)((char *)error + sizeof(struct nlmsgerr));
                     attributes >= (int)sizeof(struct nlattr) && attribute->nla_len >= sizeof(struct nlattr)
                     && (int)attribute->nla_len <= attributes;
                     attributes -= NLA_ALIGN(attribute->nla_len),
                     attribute = (struct nlattr *)((char *)attribute + NLA_ALIGN(attribute->nla_len))) {
                    if ((attribute->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
                        braid_attribute_string(attribute, message, size);
                        break;
                    }
                }
            }
            close(fd);
            return code > 0 ? -code : code;
        }
    }
}

/// Appends an rtattr to an rtnetlink request (whose header's length it grows).
static void braid_append_rtattr(struct nlmsghdr *header, uint16_t type, const void *value, size_t length) {
    struct rtattr *attribute = (struct rtattr *)((char *)header + NLMSG_ALIGN(header->nlmsg_len));
    attribute->rta_type = type;
    attribute->rta_len = (unsigned short)RTA_LENGTH(length);
    memcpy(RTA_DATA(attribute), value, length);
    header->nlmsg_len = NLMSG_ALIGN(header->nlmsg_len) + RTA_ALIGN(attribute->rta_len);
}

static void braid_append_rtattr_u32(struct nlmsghdr *header, uint16_t type, uint32_t value) {
    braid_append_rtattr(header, type, &value, sizeof value);
}

int braid_rtnetlink_change_rule(enum braid_rtnetlink_verb verb, const struct braid_rule *rule, char *message, size_t size) {
    if (verb == BRAID_REPLACE) return -EINVAL;
    char request[256] __attribute__((aligned(NLMSG_ALIGNTO)));
    memset(request, 0, sizeof request);
    struct nlmsghdr *header = (struct nlmsghdr *)request;
    header->nlmsg_len = NLMSG_LENGTH(sizeof(struct fib_rule_hdr));
    header->nlmsg_type = verb == BRAID_ADD ? RTM_NEWRULE : RTM_DELRULE;
    // As `ip rule add` asks: an identical rule already there is EEXIST, not a second copy.
    if (verb == BRAID_ADD) header->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct fib_rule_hdr *body = NLMSG_DATA(header);
    body->family = rule->family;
    body->action = FR_ACT_TO_TBL;
    body->table = rule->table < 256 ? (uint8_t)rule->table : RT_TABLE_UNSPEC;
    braid_append_rtattr_u32(header, FRA_PRIORITY, rule->priority);
    if (rule->has_fwmark) braid_append_rtattr_u32(header, FRA_FWMARK, rule->fwmark);
    // A mask means nothing without a mark (`ip rule` sends it only with one).
    if (rule->has_fwmark && rule->has_fwmask) braid_append_rtattr_u32(header, FRA_FWMASK, rule->fwmask);
    braid_append_rtattr_u32(header, FRA_TABLE, rule->table);
    if (rule->suppress_prefix_length >= 0) {
        braid_append_rtattr_u32(header, FRA_SUPPRESS_PREFIXLEN, (uint32_t)rule->suppress_prefix_length);
    }
    uint8_t protocol = rule->protocol;
    braid_append_rtattr(header, FRA_PROTOCOL, &protocol, sizeof protocol);
    return braid_rtnetlink_transact(header, message, size);
}

int braid_rtnetlink_change_route(enum braid_rtnetlink_verb verb, const struct braid_route *route, char *message, size_t size) {
    char request[256] __attribute__((aligned(NLMSG_ALIGNTO)));
    memset(request, 0, sizeof request);
    struct nlmsghdr *header = (struct nlmsghdr *)request;
    header->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    size_t addressLength = route->family == AF_INET6 ? 16 : 4;
    struct rtmsg *body = NLMSG_DATA(header);
    body->rtm_family = route->family;
    body->rtm_dst_len = route->has_destination ? route->destination_length : 0;
    body->rtm_table = route->table < 256 ? (uint8_t)route->table : RT_TABLE_UNSPEC;
    body->rtm_protocol = route->protocol;
    switch (verb) {
    case BRAID_ADD: header->nlmsg_type = RTM_NEWROUTE; header->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL; break;
    case BRAID_REPLACE: header->nlmsg_type = RTM_NEWROUTE; header->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE; break;
    case BRAID_DELETE: header->nlmsg_type = RTM_DELROUTE; break;
    default: return -EINVAL;
    }
    if (verb == BRAID_DELETE) {
        // As `ip route del` asks: any scope and type, matched by table, destination, protocol,
        // gateway and device.
        body->rtm_scope = RT_SCOPE_NOWHERE;
        body->rtm_type = RTN_UNSPEC;
    } else {
        // As `ip route add` sets them: a route through a gateway is universe-scoped, a device
        // route (a point-to-point link's) link-scoped.
        body->rtm_scope = route->has_gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        body->rtm_type = RTN_UNICAST;
    }
    if (route->has_destination && route->destination_length > 0) {
        braid_append_rtattr(header, RTA_DST, route->destination, addressLength);
    }
    if (route->has_gateway) braid_append_rtattr(header, RTA_GATEWAY, route->gateway, addressLength);
    braid_append_rtattr_u32(header, RTA_OIF, (uint32_t)route->oif);
    braid_append_rtattr_u32(header, RTA_TABLE, route->table);
    return braid_rtnetlink_transact(header, message, size);
}
