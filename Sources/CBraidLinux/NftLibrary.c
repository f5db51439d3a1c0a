#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include "CBraidLinux.h"

// libnftables' public API (nftables/libnftables.h, stable since nft 0.9), called through the
// pointers dlsym finds: no build-time dependency on libnftables-dev, and a host without the
// library falls back to the nft program.
struct braid_nft_session {
    void *library;
    void *context;
    void *(*context_new)(uint32_t flags);
    void (*context_free)(void *context);
    int (*run_from_buffer)(void *context, const char *buffer);
    int (*buffer_output)(void *context);
    int (*buffer_error)(void *context);
    const char *(*output_buffer)(void *context);
    const char *(*error_buffer)(void *context);
};

struct braid_nft_session *braid_nft_session_open(void) {
    void *library = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return NULL;
    struct braid_nft_session *session = calloc(1, sizeof *session);
    if (session == NULL) {
        dlclose(library);
        return NULL;
    }
    session->library = library;
    session->context_new = (void *(*)(uint32_t))dlsym(library, "nft_ctx_new");
    session->context_free = (void (*)(void *))dlsym(library, "nft_ctx_free");
    session->run_from_buffer = (int (*)(void *, const char *))dlsym(library, "nft_run_cmd_from_buffer");
    session->buffer_output = (int (*)(void *))dlsym(library, "nft_ctx_buffer_output");
    session->buffer_error = (int (*)(void *))dlsym(library, "nft_ctx_buffer_error");
    session->output_buffer = (const char *(*)(void *))dlsym(library, "nft_ctx_get_output_buffer");
    session->error_buffer = (const char *(*)(void *))dlsym(library, "nft_ctx_get_error_buffer");
    if (!session->context_new || !session->context_free || !session->run_from_buffer || !session->buffer_output
        || !session->buffer_error || !session->output_buffer || !session->error_buffer) {
        braid_nft_session_close(session);
        return NULL;
    }
    // NFT_CTX_DEFAULT (0). The context opens its netlink socket here, in the calling thread's
    // network namespace, and keeps it: every later run talks to that namespace.
    session->context = session->context_new(0);
    if (session->context == NULL || session->buffer_output(session->context) != 0
        || session->buffer_error(session->context) != 0) {
        braid_nft_session_close(session);
        return NULL;
    }
    return session;
}

int braid_nft_session_run(struct braid_nft_session *session, const char *script, const char **error) {
    int result = session->run_from_buffer(session->context, script);
    // Reading a buffer rewinds it: nothing piles up across runs.
    (void)session->output_buffer(session->context);
    *error = session->error_buffer(session->context);
    return result;
}

void braid_nft_session_close(struct braid_nft_session *session) {
    if (session == NULL) return;
    if (session->context != NULL) session->context_free(session->context);
    if (session->library != NULL) dlclose(session->library);
    free(session);
}

int braid_malloc_trim(void) {
    return malloc_trim(0);
}
