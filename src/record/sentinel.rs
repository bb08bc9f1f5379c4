//! The Sentinels' own account of a run (`sentinel.jsonl`): every event each
//! Sentinel published on its pub/sub (`+sdown`, `+odown`, `+try-failover`,
//! `+elected-leader`, `+switch-master`, `-odown`, `+convert-to-slave`, …) as
//! the tool heard it, on the run's clock, and when the tool was listening to
//! each one. The listener ([`crate::cluster::sentinel`]) writes it; the
//! checker ([`crate::checker::sentinel`]) turns it into the failover's
//! timeline.
//!
//! An event not heard is not an event that did not happen unless the tool
//! was listening to that Sentinel then: `listening` and `lost` lines mark
//! each subscription's start and end (neither is a Sentinel channel, which
//! all begin with `+` or `-`).

use serde::{Deserialize, Serialize};

/// The file, in the run folder.
pub const SENTINEL_FILE: &str = "sentinel.jsonl";

/// The tool's own line: its subscription to this Sentinel began.
pub const LISTENING: &str = "listening";
/// The tool's own line: its subscription to this Sentinel ended (the
/// connection failed or the Sentinel stopped answering).
pub const LOST: &str = "lost";

/// One line: a Sentinel's event, or the tool's `listening` / `lost`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelEvent {
    /// When the tool heard it, ns since the run's epoch.
    pub t_ns: u64,
    /// The Sentinel that published it (its name in the topology).
    pub sentinel: String,
    /// The channel (`+switch-master`), or [`LISTENING`] / [`LOST`].
    pub event: String,
    /// The message as published (`master drill 127.0.5.2 6379 #quorum 2/2`),
    /// or why the subscription was lost.
    pub detail: String,
}

impl SentinelEvent {
    /// Whether this is a Sentinel's event rather than the tool's line.
    pub fn is_sentinels(&self) -> bool {
        self.event.starts_with(['+', '-'])
    }
}

/// What one event's message says about the instance it concerns: `<type>
/// <name> <ip> <port> [@ <master-name> <master-ip> <master-port>]`, and for
/// `+switch-master` `<master-name> <old-ip> <old-port> <new-ip> <new-port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `master`, `slave` or `sentinel`.
    pub kind: String,
    pub addr: std::net::SocketAddr,
}

impl SentinelEvent {
    /// The instance the event is about, when its message names one.
    pub fn instance(&self) -> Option<Instance> {
        let mut w = self.detail.split_whitespace();
        let kind = w.next()?.to_string();
        let _name = w.next()?;
        let addr = sock(w.next()?, w.next()?)?;
        Some(Instance { kind, addr })
    }

    /// `+switch-master`'s old and new primary.
    pub fn switch(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        let w: Vec<&str> = self.detail.split_whitespace().collect();
        match w.as_slice() {
            [_, oi, op, ni, np, ..] => Some((sock(oi, op)?, sock(ni, np)?)),
            _ => None,
        }
    }
}

fn sock(ip: &str, port: &str) -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::new(
        ip.parse().ok()?,
        port.parse().ok()?,
    ))
}

/// Everything heard, in the order heard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentinelRecording {
    pub events: Vec<SentinelEvent>,
}

impl SentinelRecording {
    /// Whether the tool was listening to `sentinel` over the whole of
    /// `from_ns..=to_ns` (a subscription began before and was not lost
    /// within).
    pub fn covered(&self, sentinel: &str, from_ns: u64, to_ns: u64) -> bool {
        let mut on_since: Option<u64> = None;
        for e in self.events.iter().filter(|e| e.sentinel == sentinel) {
            match e.event.as_str() {
                LISTENING => on_since = Some(e.t_ns),
                LOST => {
                    if on_since.is_some_and(|s| s <= from_ns) && e.t_ns >= to_ns {
                        return true;
                    }
                    on_since = None;
                }
                _ => {}
            }
        }
        on_since.is_some_and(|s| s <= from_ns)
    }

    /// Every Sentinel the recording heard from or listened to.
    pub fn sentinels(&self) -> Vec<String> {
        let mut s: Vec<String> = self.events.iter().map(|e| e.sentinel.clone()).collect();
        s.sort();
        s.dedup();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, s: &str, event: &str, detail: &str) -> SentinelEvent {
        SentinelEvent {
            t_ns: t,
            sentinel: s.into(),
            event: event.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn an_event_names_its_instance_and_a_switch_both_primaries() {
        let e = ev(1, "s1", "+odown", "master drill 127.0.5.2 6379 #quorum 2/2");
        let i = e.instance().unwrap();
        assert_eq!(i.kind, "master");
        assert_eq!(i.addr, "127.0.5.2:6379".parse().unwrap());
        let s = ev(
            2,
            "s1",
            "+switch-master",
            "drill 127.0.5.2 6379 127.0.5.3 6379",
        );
        assert_eq!(
            s.switch(),
            Some((
                "127.0.5.2:6379".parse().unwrap(),
                "127.0.5.3:6379".parse().unwrap()
            ))
        );
        assert!(s.is_sentinels());
        assert!(!ev(0, "s1", LISTENING, "").is_sentinels());
        assert_eq!(ev(0, "s1", "+sdown", "garbled").instance(), None);
    }

    #[test]
    fn coverage_needs_a_subscription_over_the_whole_window() {
        let r = SentinelRecording {
            events: vec![
                ev(10, "s1", LISTENING, ""),
                ev(50, "s1", LOST, "connection reset"),
                ev(80, "s1", LISTENING, ""),
                ev(5, "s2", LISTENING, ""),
            ],
        };
        assert!(r.covered("s1", 10, 50));
        assert!(!r.covered("s1", 40, 60), "lost at 50");
        assert!(
            r.covered("s1", 90, 1000),
            "listening again from 80, never lost"
        );
        assert!(!r.covered("s1", 0, 20), "not yet listening at 0");
        assert!(r.covered("s2", 5, u64::MAX));
        assert!(!r.covered("s3", 5, 6), "never listened to");
        assert_eq!(r.sentinels(), ["s1", "s2"]);
    }
}
