/// The IPv6 part of a WAN's line in `braid plan`: empty for a WAN that takes no IPv6, so
/// single-stack plans read as they always have.
enum IPv6PlanText {
    static func wanSuffix(_ wan: PlannedWan, state: DesiredState) -> String {
        guard let share = wan.ipv6SplitShare else { return "" }
        let shareText = wan.ipv6SplitModulus == 0 || share == 0 ? "0" : "\(share)/\(wan.ipv6SplitModulus)"
        let route = state.routes.first { $0.family == .ipv6 && $0.table == wan.table }
        let gateway = route.map { $0.gateway.map { "\($0)" } ?? "none (device route)" } ?? "none yet"
        let reason = state.ipv6UnusableReasons[wan.name].map { " (not usable: \($0))" } ?? ""
        return "; IPv6 gateway \(gateway), share of new IPv6 connections \(shareText)\(reason)"
    }
}
