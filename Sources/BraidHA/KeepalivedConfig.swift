import BraidConfig
import BraidPlanner

/// keepalived's configuration for one gateway of the pair, generated from `ha:`.
///
/// One VRRP instance per interface with virtual addresses, all in one sync group, so the LAN
/// gateway address and every WAN's public address always move together (a LAN address on one
/// node and the WAN addresses on the other would black-hole everything). VRRP version 3 allows
/// adverts every 100 ms: the backup declares the master dead after 3 missed adverts plus a skew
/// (about 0.35 s measured here), well inside the 1 s takeover budget.
public enum KeepalivedConfig {
    /// VRRPv3 advert interval in seconds; v2 cannot go below 1 s.
    public static let advertInterval = "0.1"
    public static let groupName = "braid"

    public static func instanceName(_ interface: String) -> String {
        "braid_" + interface.map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined()
    }

    public static func render(_ config: Config, ha: HAConfig, paths: HAPaths) -> String {
        let instances = ha.virtualAddresses.map { instanceName($0.interface) }
        var text = """
            # Written by braid run from the ha: section of its config; do not edit.
            # slot layout \(HASlotLayout.digest(config)): \(HASlotLayout.text(config))
            global_defs {
                router_id braid_\(ha.priority)_\(ha.virtualRouterId)
                vrrp_version 3
                notify_fifo \(paths.notifyFifo)
                vrrp_garp_master_refresh 5
                vrrp_garp_master_repeat 2
            }

            # Braid writes 0 here while this gateway may be active, 1 when it has no usable WAN or
            # its slot layout differs from the peer's: a non-zero value with weight 0 means FAULT.
            vrrp_track_file braid_ready {
                file \(paths.trackFile)
                weight 0
            }

            vrrp_sync_group \(groupName) {
                group {
            \(instances.map { "        \($0)" }.joined(separator: "\n"))
                }
                track_file {
                    braid_ready
                }
            }

            """
        for (index, entry) in ha.virtualAddresses.enumerated() {
            text += """

                vrrp_instance \(instanceName(entry.interface)) {
                    state BACKUP
                    interface \(entry.interface)
                    virtual_router_id \(ha.virtualRouterId + index)
                    priority \(ha.priority)
                    advert_int \(advertInterval)
                \(ha.preempt ? "" : "    nopreempt\n")    accept
                    virtual_ipaddress {
                \(entry.addresses.map { "        \($0) dev \(entry.interface)" }.joined(separator: "\n"))
                    }
                }

                """
        }
        return text
    }
}
