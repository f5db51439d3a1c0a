import Glibc

/// This process's CPU time, user and system, in seconds. The lab's client and server run in this
/// process, and the kernel forwards a connection's packets in the sending thread's softirq, so
/// connections per CPU-second say what the path through the router costs, far less swayed than a
/// wall-clock rate by other work taking the CPU away on a shared machine.
public func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
