import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a netlink dump into a caller's array returned: the records, whatever else it reported
/// (`extra`), or the errno it failed with.
struct GrowingDump<Record: Sendable, Extra: Sendable>: Sendable {
    var records: [Record]
    var extra: Extra
    /// 0 on success.
    var error: Int32

    /// Why the dump failed, in words: EAGAIN is the C side giving up after every try was
    /// interrupted by other changes.
    var reason: String {
        error == EAGAIN ? "every try was interrupted by other changes" : String(cString: strerror(error))
    }
}

extension LinuxKernel {
    /// Runs a C netlink dump that writes up to `capacity` records into an array and returns how
    /// many it found (or -1 and errno), in the runner's namespace; when it found more than there
    /// was room for, it runs again with room for all. The counter, chain and conntrack dumps.
    func growingDump<Record: Sendable, Extra: Sendable>(
        capacity: Int, empty: Record, extra initial: Extra,
        _ dump: @escaping @Sendable (UnsafeMutablePointer<Record>?, Int32, inout Extra) -> Int32
    ) throws(KernelError) -> GrowingDump<Record, Extra> {
        var capacity = capacity
        while true {
            let wanted = capacity
            let (result, found) = try runner.withinNetworkNamespace { () -> (GrowingDump<Record, Extra>, Int) in
                var records = [Record](repeating: empty, count: wanted)
                var extra = initial
                let found = records.withUnsafeMutableBufferPointer { dump($0.baseAddress, Int32(wanted), &extra) }
                guard found >= 0 else { return (GrowingDump(records: [], extra: initial, error: errno), -1) }
                return (GrowingDump(records: Array(records.prefix(min(Int(found), wanted))), extra: extra, error: 0), Int(found))
            }
            if found > wanted {
                capacity = found
                continue
            }
            return result
        }
    }
}
