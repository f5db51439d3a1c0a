#define _GNU_SOURCE
#include <sched.h>
#include "CNamespace.h"

int braid_enter_network_namespace(int descriptor) {
    return setns(descriptor, CLONE_NEWNET);
}
