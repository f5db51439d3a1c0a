import BraidConfig

/// conntrackd's configuration for one gateway of the pair: FTFW sync (reliable, with
/// acknowledgements) over the dedicated link, an external cache of the peer's connections that
/// is committed to the kernel on takeover. conntrackd copies each entry's mark, so a connection
/// keeps its WAN on the new active gateway (given the same slot layout, see `HASlotLayout`).
public enum ConntrackdConfig {
    /// conntrackd's default sync port.
    public static let port = 3780

    public static func render(ha: HAConfig, localSyncAddress: IPv4Address, paths: HAPaths) -> String {
        """
        # Written by braid run from the ha: section of its config; do not edit.
        Sync {
            Mode FTFW {
                DisableExternalCache Off
                CommitTimeout 1800
                PurgeTimeout 5
            }
            UDP {
                IPv4_address \(localSyncAddress)
                IPv4_Destination_Address \(ha.peer)
                Port \(port)
                Interface \(ha.syncInterface)
                SndSocketBuffer 1249280
                RcvSocketBuffer 1249280
                Checksum on
            }
        }
        General {
            HashSize 32768
            HashLimit 131072
            LogFile off
            Syslog off
            LockFile \(paths.conntrackdLock)
            UNIX {
                Path \(paths.conntrackdSocket)
            }
            NetlinkBufferSize 2097152
            NetlinkBufferSizeMaxGrowth 8388608
            Filter From Userspace {
                Protocol Accept {
                    TCP
                    UDP
                    ICMP
                }
                Address Ignore {
                    IPv4_address 127.0.0.1
                    IPv4_address \(localSyncAddress)
                    IPv4_address \(ha.peer)
                }
            }
        }

        """
    }
}
