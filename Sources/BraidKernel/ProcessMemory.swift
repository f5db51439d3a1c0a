import CBraidLinux

/// Tuning of this process's memory, for a daemon that should stay small.
public enum ProcessMemory {
    /// At most `count` glibc malloc arenas (`mallopt(M_ARENA_MAX)`); call before threads start.
    public static func limitMallocArenas(to count: Int32) {
        _ = braid_limit_malloc_arenas(count)
    }
}
