#define _GNU_SOURCE
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
#include "CBraidLinux.h"

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

long long braid_nftables_generation(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return -1;
    struct timeval timeout = { .tv_sec = 2, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct {
        struct nlmsghdr header;
        struct nfgenmsg body;
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    request.header.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
    request.header.nlmsg_flags = NLM_F_REQUEST;
    request.header.nlmsg_seq = 1;
    request.body.nfgen_family = AF_UNSPEC;
    request.body.version = NFNETLINK_V0;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int saved = errno; close(fd); errno = saved; return -1;
    }
    char buffer[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
    ssize_t received = recv(fd, buffer, sizeof buffer, 0);
    int saved = errno;
    close(fd);
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
        size_t payload = NLMSG_PAYLOAD(message, 0);
        size_t offset = NLMSG_ALIGN(sizeof(struct nfgenmsg));
        while (offset + sizeof(struct nlattr) <= payload) {
            struct nlattr *attribute = (struct nlattr *)((char *)NLMSG_DATA(message) + offset);
            if (attribute->nla_len < sizeof(struct nlattr) || offset + attribute->nla_len > payload) break;
            if ((attribute->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && attribute->nla_len >= NLA_HDRLEN + sizeof(uint32_t)) {
                uint32_t value;
                memcpy(&value, (char *)attribute + NLA_HDRLEN, sizeof value);
                return (long long)ntohl(value);
            }
            offset += NLA_ALIGN(attribute->nla_len);
        }
    }
    errno = EPROTO;
    return -1;
}
