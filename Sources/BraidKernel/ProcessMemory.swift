import CBraidLinux

/// Tuning of this process's memory, for a daemon that should stay small.
public enum ProcessMemory {
    /// At most `count` glibc malloc arenas (`mallopt(M_ARENA_MAX)`); call before threads start.
    public static func limitMallocArenas(to count: Int32) {
        _ = braid_limit_malloc_arenas(count)
    }

    /// Gives back the pages of this program's own binary that only this process maps
    /// (`madvise(MADV_PAGEOUT)`), like the kernel freeing its `__init` memory after boot.
    ///
    /// Starting touches code that a running daemon never runs again — argument parsing, the YAML
    /// reader, the first full apply — and each fault maps its neighbours too (fault-around), so
    /// most of a 25 MB text segment stays resident. After this, later faults bring back only what
    /// the control loop, the probes and the API still run, read one page at a time
    /// (`MADV_RANDOM`) rather than a readahead window. Clean file pages only: nothing is lost, a
    /// page used again is read again.
    /// - Returns: the bytes of mappings advised.
    /// - Throws: `KernelError.memoryAdvice` with the errno of the call that failed.
    @discardableResult
    public static func releaseExecutablePages() throws(KernelError) -> Int {
        let result = braid_release_executable_pages(1)
        guard result >= 0 else { throw .memoryAdvice(errno: Int32(-result)) }
        return result
    }
}
