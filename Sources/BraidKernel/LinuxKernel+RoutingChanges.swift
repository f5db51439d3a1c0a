import BraidConfig
import BraidPlanner
import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Braid's ip rules and routes added, replaced and deleted with rtnetlink requests from this
/// process, in the runner's namespace, as `ip rule`/`ip route` would send them: no `ip` process.
/// A WAN going down moves the fallback rule (a delete and an add): with 10,000 rules installed,
/// the health change's execute phase went from 15.6 ms with two `ip` processes to 6–7 ms
/// (`policy-scale-benchmark mixed 3 changes`, 2026-12-08). A refusal names the `ip` command that
/// would have made the same request.
extension LinuxKernel {
    func changeRule(_ verb: braid_rtnetlink_verb, _ rule: PolicyRule) throws(KernelError) {
        var record = braid_rule()
        record.family = UInt8(rule.family.socketFamily)
        record.protocol = UInt8(RoutingLayout.protocolTag)
        record.priority = rule.priority
        record.table = rule.table
        if let fwmark = rule.fwmark {
            record.has_fwmark = 1
            record.fwmark = fwmark
        }
        if let fwmask = rule.fwmask {
            record.has_fwmask = 1
            record.fwmask = fwmask
        }
        record.suppress_prefix_length = rule.suppressPrefixLength.map(Int32.init) ?? -1
        let request = record
        let answer = try runner.withinNetworkNamespace { () -> Answer in
            Answer { message, size in withUnsafePointer(to: request) { braid_rtnetlink_change_rule(verb, $0, message, size) } }
        }
        if let reason = answer.refusal {
            throw .refused(request: rule.command(Self.verbName(verb)) + ["protocol", protocolTag], reason: reason)
        }
    }

    func changeRoute(_ verb: braid_rtnetlink_verb, _ route: Route) throws(KernelError) {
        let command = route.command(Self.verbName(verb)) + ["proto", protocolTag]
        var record = braid_route()
        record.family = UInt8(route.family.socketFamily)
        record.protocol = UInt8(RoutingLayout.protocolTag)
        record.table = route.table
        if let destination = route.destination, destination.length > 0 {
            record.has_destination = 1
            record.destination_length = UInt8(destination.length)
            Self.store(destination.address, in: &record.destination)
        }
        if let gateway = route.gateway {
            record.has_gateway = 1
            Self.store(gateway, in: &record.gateway)
        }
        let request = record
        let device = route.device
        let answer = try runner.withinNetworkNamespace { () -> Answer in
            // The index is looked up in the namespace the route goes into.
            let index = if_nametoindex(device)
            guard index != 0 else { return Answer(refusal: "no interface named \(device)") }
            var withDevice = request
            withDevice.oif = Int32(bitPattern: index)
            return Answer { message, size in
                withUnsafePointer(to: withDevice) { braid_rtnetlink_change_route(verb, $0, message, size) }
            }
        }
        if let reason = answer.refusal { throw .refused(request: command, reason: reason) }
    }

    static func verbName(_ verb: braid_rtnetlink_verb) -> String {
        switch verb {
        case BRAID_ADD: "add"
        case BRAID_DELETE: "del"
        default: "replace"
        }
    }

    /// The kernel's answer to one request: nil, or why it refused — its own words when it gave
    /// them (as `ip` prints after "Error:"), with the errno's, as `ip` prints after "RTNETLINK answers:".
    struct Answer: Sendable {
        var refusal: String?

        init(refusal: String?) { self.refusal = refusal }

        /// Runs `request` (a C call that returns 0 or minus an errno) with room for the kernel's reason.
        init(_ request: (UnsafeMutablePointer<CChar>, Int) -> Int32) {
            var message = [CChar](repeating: 0, count: 256)
            let status = message.withUnsafeMutableBufferPointer { buffer in request(buffer.baseAddress!, buffer.count) }
            guard status != 0 else {
                refusal = nil
                return
            }
            let errnoText = String(cString: strerror(-status))
            let said = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            refusal = said.isEmpty ? errnoText : "\(said) (\(errnoText))"
        }
    }

    /// Writes an address's network-order bytes into a 16-byte C array.
    static func store<T>(_ address: IPAddress, in bytes: inout T) {
        let octets: [UInt8]
        switch address {
        case .v4(let v4): octets = (0..<4).map { UInt8(truncatingIfNeeded: v4.value >> (24 - 8 * $0)) }
        case .v6(let v6): octets = v6.bytes
        }
        withUnsafeMutableBytes(of: &bytes) { buffer in
            for (index, octet) in octets.enumerated() { buffer[index] = octet }
        }
    }
}
