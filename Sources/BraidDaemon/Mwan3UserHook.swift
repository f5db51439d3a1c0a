/// mwan3's user script (`/etc/mwan3.user`), kept working after `braid import mwan3`: with
/// `hooks.mwan3_user` set, it runs on each WAN state change with mwan3's variables, `ACTION`,
/// `INTERFACE` (the WAN's name) and `DEVICE` (its interface), through the event hook runner (off
/// the control loop, one event at a time per WAN, killed after `hooks.timeout`).
///
/// mwan3 says `ifup`/`ifdown` when netifd brings the interface up or down (the link) and
/// `connected`/`disconnected` when its tracking finds the uplink working or failing; Braid's states
/// map onto those: `no_link` is the interface down; `up` and `probing` carry traffic.
enum Mwan3UserHook {
    /// The mwan3 actions a state change means, in the order mwan3 would send them.
    static func actions(from previous: String?, to next: String?) -> [String] {
        guard let next, previous != next else { return [] }
        let linkless = WanState.noLink.rawValue
        let carried = previous.flatMap(WanState.init(rawValue:))?.carriesTraffic ?? false
        let carries = WanState(rawValue: next)?.carriesTraffic ?? false
        if next == linkless { return previous == nil ? [] : ["ifdown"] }
        if previous == linkless { return ["ifup"] + (carries ? ["connected"] : []) }
        if carried && !carries { return ["disconnected"] }
        if !carried && carries { return ["connected"] }
        return []
    }

    /// The variables mwan3 gives its user script for one action.
    static func environment(action: String, event: GatewayEventRecord) -> [String: String] {
        ["ACTION": action, "INTERFACE": event.wan ?? "", "DEVICE": event.interface ?? ""]
    }
}
