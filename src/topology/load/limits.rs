//! The limits and defaults a topology file is held to, each with why.

/// Longest topology, region or node name. Names end up inside container,
/// network and host names (`redis-drill-<topology>-<node>`), which Docker and
/// DNS labels (63 characters) keep short.
pub const NAME_MAX: usize = 40;

/// A link figure's range: (min, max, unit, whether min itself is excluded).
pub(super) type FigureRange = (f64, f64, &'static str, bool);
/// One-way delay and jitter: up to a minute, longer than any WAN and still
/// short enough that a drill with a link can finish.
pub(super) const LINK_DELAY_MS: FigureRange = (0.0, 60_000.0, "ms", false);
/// Loss: 100 % would be a partition, which `partition` faults model.
pub(super) const LINK_LOSS_PCT: FigureRange = (0.0, 99.0, "%", false);
/// Rate: above 0 (0 would be a partition) and at most 100 Gbit/s.
pub(super) const LINK_RATE_MBIT: FigureRange = (0.0, 100_000.0, "Mbit/s", true);

/// The region every node lives in when a file names none.
pub const DEFAULT_REGION: &str = "default";

/// `cluster-node-timeout` when the file gives none: 5 s, a quarter of Redis'
/// stock 15 s, so failover drills finish in seconds while a busy 2-core machine
/// does not mark healthy nodes as failing.
pub const DEFAULT_NODE_TIMEOUT_MS: u64 = 5000;

/// Most nodes a topology may have. A drill runs on one machine, so more is a
/// typo; it also keeps every node at a static address in the compose file's
/// /24, and generated host ports (7001 + index) and their cluster bus ports
/// (+10000) below the kernel's ephemeral range.
pub const MAX_NODES: usize = 200;

/// Most Sentinels a topology may have: a majority of 9 already needs 5 to
/// agree; more is a typo on one machine.
pub const MAX_SENTINELS: i64 = 9;

/// Sentinels when `sentinel:` gives no `count`: three, the fewest whose
/// majority survives losing one (Redis's documented minimum).
pub const DEFAULT_SENTINELS: i64 = 3;

/// `down-after-milliseconds` when the file gives none: 5 s, as the clusters'
/// node timeout ([`DEFAULT_NODE_TIMEOUT_MS`]), against Redis's stock 30 s,
/// so failover drills finish in seconds.
pub const DEFAULT_DOWN_AFTER_MS: i64 = 5000;

/// `failover-timeout` when the file gives none: 15 s, against Redis's stock
/// 180 s: a second failover of the same primary waits twice this.
pub const DEFAULT_FAILOVER_TIMEOUT_MS: i64 = 15_000;

/// Longest `down_after_ms` and `failover_timeout_ms`: an hour is already
/// longer than any drill.
pub const MAX_SENTINEL_MS: i64 = 3_600_000;
