// SPDX-License-Identifier: GPL-2.0-only
//
// braid-nft-session: nft with one libnftables context kept open, driven over standard input.
//
// This program is GPL-2.0 (see LICENSE beside it) because it loads libnftables, which is GPL-2.0;
// Braid itself is Apache-2.0 and talks to it over a socket, as it talks to the nft program.
//
// Why: an `nft -f -` process spends 15–20 ms starting and reading the ruleset afresh before it
// sends anything, most of a weight change with a large policy. A context kept open sends the same
// transaction in a fraction of a millisecond, and still notices another program's change by the
// ruleset generation, as nft itself does.
//
// Protocol, on file descriptor 0 (a stream socket; answers go back on the same socket):
//   startup      -> "ready\n"   (or "unavailable REASON\n", then exit 3)
//   "LENGTH\n" + LENGTH bytes of an nft script
//                -> "STATUS LENGTH\n" + LENGTH bytes of nft's error text (STATUS 0 on success)
// End of input ends the program; so does the caller closing its end.
//
// libnftables' public API (nftables/libnftables.h, stable since nft 0.9) is called through the
// pointers dlsym finds: no build-time dependency on libnftables-dev.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/close_range.h>

struct library {
    void *(*context_new)(uint32_t flags);
    int (*run_from_buffer)(void *context, const char *buffer);
    int (*buffer_output)(void *context);
    int (*buffer_error)(void *context);
    const char *(*output_buffer)(void *context);
    const char *(*error_buffer)(void *context);
};

// Scripts at least this long (a whole table, a refilled map) are followed by a cache refresh and
// a malloc_trim; smaller ones (a weight change) are not worth either.
static const size_t large_script = 64 * 1024;

static int write_all(int fd, const char *bytes, size_t count) {
    while (count > 0) {
        ssize_t written = send(fd, bytes, count, MSG_NOSIGNAL);
        if (written < 0 && errno == ENOTSOCK) written = write(fd, bytes, count);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        bytes += written;
        count -= (size_t)written;
    }
    return 0;
}

static int read_all(int fd, char *bytes, size_t count) {
    while (count > 0) {
        ssize_t got = read(fd, bytes, count);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        bytes += got;
        count -= (size_t)got;
    }
    return 0;
}

// Reads "LENGTH\n"; -1 at end of input or on a malformed header.
static long read_length(int fd) {
    char header[32];
    size_t used = 0;
    while (used < sizeof header - 1) {
        ssize_t got = read(fd, header + used, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        if (header[used] == '\n') {
            header[used] = 0;
            char *end = NULL;
            long length = strtol(header, &end, 10);
            return (end != header && *end == 0 && length >= 0) ? length : -1;
        }
        used += 1;
    }
    return -1;
}

static void unavailable(const char *reason) {
    char line[512];
    int length = snprintf(line, sizeof line, "unavailable %s\n", reason);
    if (length > 0) (void)write_all(1, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
    exit(3);
}

int main(void) {
    // Whatever else the caller left open (a daemon's listening sockets, if they lacked
    // close-on-exec) would stay open for as long as this program runs, and a daemon that closes
    // its HTTP listener could not bind the address again.
    close_range(3, ~0U, 0);
    void *handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) unavailable(dlerror());
    struct library nft = {
        .context_new = (void *(*)(uint32_t))dlsym(handle, "nft_ctx_new"),
        .run_from_buffer = (int (*)(void *, const char *))dlsym(handle, "nft_run_cmd_from_buffer"),
        .buffer_output = (int (*)(void *))dlsym(handle, "nft_ctx_buffer_output"),
        .buffer_error = (int (*)(void *))dlsym(handle, "nft_ctx_buffer_error"),
        .output_buffer = (const char *(*)(void *))dlsym(handle, "nft_ctx_get_output_buffer"),
        .error_buffer = (const char *(*)(void *))dlsym(handle, "nft_ctx_get_error_buffer"),
    };
    if (!nft.context_new || !nft.run_from_buffer || !nft.buffer_output || !nft.buffer_error || !nft.output_buffer
        || !nft.error_buffer) {
        unavailable("libnftables.so.1 lacks a function of its public API");
    }
    // NFT_CTX_DEFAULT (0). The context's netlink socket is opened in this process's network
    // namespace (the one Braid started it in) and kept.
    void *context = nft.context_new(0);
    if (context == NULL || nft.buffer_output(context) != 0 || nft.buffer_error(context) != 0) {
        unavailable("nft_ctx_new failed");
    }
    if (write_all(1, "ready\n", 6) != 0) return 1;

    for (;;) {
        long length = read_length(0);
        if (length < 0) return 0;
        char *script = malloc((size_t)length + 1);
        if (script == NULL) return 1;
        if (read_all(0, script, (size_t)length) != 0) return 1;
        script[length] = 0;

        int status = nft.run_from_buffer(context, script);
        // Reading a buffer rewinds it: nothing piles up across runs.
        (void)nft.output_buffer(context);
        const char *error = nft.error_buffer(context);
        size_t error_length = error ? strlen(error) : 0;
        char header[48];
        int header_length = snprintf(header, sizeof header, "%d %zu\n", status == 0 ? 0 : 1, error_length);
        if (write_all(1, header, (size_t)header_length) != 0) return 1;
        if (error_length > 0 && write_all(1, error, error_length) != 0) return 1;

        if ((size_t)length >= large_script) {
            // A large load may leave the context's cache of the table stale, and the next script
            // would spend 20–30 ms reading it again: refresh it now, after the answer has gone,
            // so a weight change or a failover that follows costs only what the kernel does.
            // Read-only, and about 0.2 ms when the cache is still good. Then hand the tens of
            // megabytes the load freed back to the kernel.
            (void)nft.run_from_buffer(context, "list chains inet\n");
            (void)nft.output_buffer(context);
            (void)nft.error_buffer(context);
        }
        free(script);
        if ((size_t)length >= large_script) malloc_trim(0);
    }
}
