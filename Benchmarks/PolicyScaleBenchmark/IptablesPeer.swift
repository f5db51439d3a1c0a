import BraidLab

/// The gateway Braid is measured against: what mwan3 installs, built by hand in the lab's router.
/// `mangle PREROUTING` restores the connection's mark (CONNMARK), a connection without one walks
/// a linear chain of rules (each `-m mark --mark 0/0xff00`, so the first match wins) and then the
/// weighted `statistic` split, and the mark is saved; `ip rule fwmark` sends each mark to its
/// WAN's table, and each WAN masquerades.
struct IptablesPeer {
    let lab: Lab

    /// The mark of WAN `k` (1-based), in the same bits for rules and split.
    static func mark(_ wan: Int) -> String { "0x\(wan)00/0xff00" }

    func install(_ rules: [MixedPolicyScale.Rule], set: (name: String, entries: [String])? = nil) throws {
        let router = lab.router
        try router.sysctl("net.ipv4.ip_forward", "1")
        // Replies come back on the WAN a connection left by, from addresses main has no route
        // to (the lab's main table has no default route), so even loose reverse-path filtering
        // would drop them: off, as mwan3 needs too (the effective value is the larger of `all`
        // and the interface's).
        for name in ["all", "default"] + lab.wans.map(\.routerInterface) {
            try router.sysctl("net.ipv4.conf.\(name).rp_filter", "0")
        }
        if let set {
            let lines =
                ["create \(set.name) hash:net family inet hashsize 65536 maxelem 262144"]
                + set.entries.map { "add \(set.name) \($0)" }
            // -exist: the random prefixes repeat now and then, which Braid's sets merge away.
            _ = try router.run(["ipset", "restore", "-exist"], input: lines.joined(separator: "\n") + "\n")
        }
        for wan in lab.wans {
            try router.ip([
                [
                    "route", "replace", "default", "via", "\(wan.gateway)", "dev", wan.routerInterface, "table",
                    "\(100 + wan.index)",
                ],
                [
                    "rule", "add", "fwmark", Self.mark(wan.index), "lookup", "\(100 + wan.index)", "priority",
                    "\(1_000 + wan.index)",
                ],
            ])
        }
        var lines = [
            "*mangle", ":peer_pre - [0:0]", ":peer_rules - [0:0]", ":peer_split - [0:0]",
            "-A PREROUTING -i \(Lab.lanInterface) -j peer_pre",
            "-A peer_pre -j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00",
            "-A peer_pre -m mark ! --mark 0x0/0xff00 -j RETURN",
            "-A peer_pre -j peer_rules",
            "-A peer_pre -m mark --mark 0x0/0xff00 -j peer_split",
            "-A peer_pre -j CONNMARK --save-mark --nfmask 0xff00 --ctmask 0xff00",
        ]
        lines += rules.map(\.iptables)
        lines += splitRules(weights: lab.wans.map { _ in 1 })
        lines += ["COMMIT", "*nat"]
        lines += lab.wans.map { "-A POSTROUTING -o \($0.routerInterface) -j MASQUERADE" }
        lines += ["COMMIT"]
        _ = try router.run(["iptables-restore", "--noflush"], input: lines.joined(separator: "\n") + "\n")
    }

    /// mwan3's split: each WAN takes its share of what the WANs before it left unmarked.
    func splitRules(weights: [Int]) -> [String] {
        var remaining = weights.reduce(0, +)
        var lines: [String] = []
        for (offset, weight) in weights.enumerated() where weight > 0 {
            let probability = Double(weight) / Double(remaining)
            remaining -= weight
            let statistic = remaining == 0 ? "" : " -m statistic --mode random --probability \(probability)"
            lines.append("-A peer_split -m mark --mark 0x0/0xff00\(statistic) -j MARK --set-xmark \(Self.mark(offset + 1))")
        }
        return lines
    }

    /// A weight or health change, as mwan3 makes it: the split chain alone, replaced in one
    /// `iptables-restore --noflush` (declaring the chain flushes it).
    func replaceSplit(weights: [Int]) throws {
        let rules = splitRules(weights: weights)
        let lines = ["*mangle", ":peer_split - [0:0]"] + rules + ["COMMIT"]
        _ = try lab.router.run(["iptables-restore", "--noflush"], input: lines.joined(separator: "\n") + "\n")
    }

    /// Everything `install` made; what is already gone is skipped.
    func remove() {
        let router = lab.router
        _ = try? router.run(["iptables", "-t", "mangle", "-D", "PREROUTING", "-i", Lab.lanInterface, "-j", "peer_pre"])
        for chain in ["peer_pre", "peer_rules", "peer_split"] {
            _ = try? router.run(["iptables", "-t", "mangle", "-F", chain])
        }
        for chain in ["peer_pre", "peer_rules", "peer_split"] {
            _ = try? router.run(["iptables", "-t", "mangle", "-X", chain])
        }
        for wan in lab.wans {
            _ = try? router.run(["iptables", "-t", "nat", "-D", "POSTROUTING", "-o", wan.routerInterface, "-j", "MASQUERADE"])
            _ = try? router.run(["ip", "rule", "del", "priority", "\(1_000 + wan.index)"])
            _ = try? router.run(["ip", "route", "flush", "table", "\(100 + wan.index)"])
        }
        _ = try? router.run(["ipset", "destroy", "large"])
        _ = try? router.run(["conntrack", "-F"])
    }
}
