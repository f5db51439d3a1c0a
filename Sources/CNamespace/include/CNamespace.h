#ifndef BRAID_CNAMESPACE_H
#define BRAID_CNAMESPACE_H

/// Moves the calling thread into the network namespace open at `descriptor` (setns(2) is a
/// GNU extension that Swift's Glibc module does not export).
int braid_enter_network_namespace(int descriptor);

#endif
