import CBraidLinux

/// Tuning of this process's memory, for a daemon that should stay small.
public enum ProcessMemory {
    /// At most `count` glibc malloc arenas (`mallopt(M_ARENA_MAX)`); call before threads start.
    public static func limitMallocArenas(to count: Int32) {
        _ = braid_limit_malloc_arenas(count)
    }

    /// Unmaps the code pages of this program's own binary (`madvise(MADV_DONTNEED)` on its
    /// read-only executable mapping), like the kernel freeing its `__init` memory after boot.
    ///
    /// Starting touches code that a running daemon never runs again — argument parsing, the YAML
    /// reader, the first full apply — and each fault maps its neighbours too (fault-around), so
    /// most of a 25 MB text segment stays resident. After this, faults bring back only what the
    /// control loop, the probes and the API still run. The pages stay in the page cache: a
    /// failover that needs one again takes a minor fault, not a disk read (MADV_PAGEOUT would
    /// evict them, and a gateway's SD card would then sit on its failover path). Writable and
    /// relocated mappings are left alone: their written pages would be lost.
    /// - Returns: the bytes of mappings advised.
    /// - Throws: `KernelError.memoryAdvice` with the errno of the call that failed.
    @discardableResult
    public static func releaseCodePages() throws(KernelError) -> Int {
        let result = braid_release_code_pages()
        guard result >= 0 else { throw .memoryAdvice(errno: Int32(-result)) }
        return result
    }
}
