//! The capacity planner (`status --report md|html|json`): what a planner
//! reads before adding memory or nodes. Three rooms, in the order data flows:
//!
//! - [`collect`]    — read the nodes twice over an interval (slots, keys per
//!   slot, memory, evictions, ops/s, replication lag) and the newest stored
//!   reshard drill's rate, into one [`PlannerReport`].
//! - [`arithmetic`] — pure: keys-per-slot skew, headroom against `maxmemory`,
//!   when each node fills, the slot moves that would even out memory; every
//!   rule pinned by a table test.
//! - [`render`]     — the report as Markdown and a self-contained HTML page,
//!   both from the same tables; JSON is the report itself.

pub mod arithmetic;
pub mod collect;
pub mod render;

pub use collect::{PlannerReport, ReshardRate, collect_planner, newest_reshard};
pub use render::{render_html, render_markdown};
