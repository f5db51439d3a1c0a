import CBraidLinux
import Foundation

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
    /// control loop, the probes and the API still run. The pages stay in the page cache: code
    /// needed again comes back with a minor fault while memory allows (MADV_PAGEOUT would evict
    /// them at once, putting a gateway's SD card on its failover path). Unmapped, they are plain
    /// clean page cache, the first memory reclaimed under pressure. Writable and relocated
    /// mappings are left alone: their written pages would be lost.
    /// - Returns: the bytes of mappings advised.
    /// - Throws: `KernelError.memoryAdvice` with the errno of the call that failed.
    ///
    /// A page a debugger or uprobe (gdb, `perf probe`, bpftrace) wrote a breakpoint into is a
    /// private copy: released, the breakpoint is gone. The daemon skips the release while
    /// `isTraced`, and `braid run --keep-code-pages` never releases.
    @discardableResult
    public static func releaseCodePages() throws(KernelError) -> Int {
        let result = braid_release_code_pages()
        guard result >= 0 else { throw .memoryAdvice(errno: Int32(-result)) }
        return result
    }

    /// Whether a debugger or tracer (ptrace: gdb, strace) is attached: `TracerPid` in /proc/self/status.
    public static var isTraced: Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("TracerPid:") })
        else { return false }
        return line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) != "0" } ?? false
    }
}
