//! Every metric name, in one place (house style rule 19). Names are stable: logs and dashboards
//! key on them.

/// Connections accepted.
pub const CONNECTIONS: &str = "connections";
/// Connections refused because the shard was at its cap.
pub const CONNECTIONS_REFUSED: &str = "connections_refused";
/// Connections closed at accept because the peer is not in `--allow-from`.
pub const CONNECTIONS_DENIED: &str = "connections_denied";
/// Frames received.
pub const FRAMES: &str = "frames";
/// NOTIFY frames received.
pub const NOTIFIES: &str = "notifies";
/// ACK frames sent.
pub const ACKS: &str = "acks";
/// Messages inspected.
pub const INSPECTED: &str = "inspected";
/// Verdicts that blocked.
pub const BLOCKED: &str = "blocked";
/// Health-check HELLOs answered.
pub const HEALTHCHECKS: &str = "healthchecks";
/// AGENT-DISCONNECTs sent.
pub const DISCONNECTS_SENT: &str = "disconnects_sent";
/// HAPROXY-DISCONNECTs received.
pub const DISCONNECTS_RECEIVED: &str = "disconnects_received";
/// Per-NOTIFY processing time histogram.
pub const NOTIFY_LATENCY: &str = "notify_latency";
