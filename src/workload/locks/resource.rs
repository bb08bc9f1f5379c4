//! The protected resources: registers inside the tool, one per resource
//! kind and lock, that the critical section writes.
//!
//! Why inside the tool and not a Redis key: the resource a lock protects is
//! another system than the lock service (a file store, a database), and a
//! key on one of the nodes under test would be hit by the drill's faults
//! too — a restart without persistence would reset the resource as well as
//! the lock, and one figure would mix two failures. A register behind a
//! mutex is linearizable by construction, so every stale write it accepts
//! or refuses is the lock's doing, and the order in which it decided (its
//! `seq`) is exact: the checker needs no guess about which write came first.
//!
//! - **fenced**: accepts a write only when its fencing token is greater
//!   than the last one it accepted (the check-and-set of Kleppmann's
//!   fencing tokens);
//! - **unfenced**: accepts every write — what a resource protected by the
//!   lock alone sees.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::spec::ResourceKind;
use crate::record::locks::RegisterState;

/// One register's state.
#[derive(Debug, Default)]
struct Register {
    next_seq: u64,
    accepted: u64,
    rejected: u64,
    last_fence: Option<u64>,
}

/// What a register decided about one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decided {
    pub seq: u64,
    pub accepted: bool,
    /// The highest token accepted before this write.
    pub last_fence: Option<u64>,
}

/// Every register of a run.
pub(crate) struct Registers {
    by_kind: BTreeMap<ResourceKind, Vec<Mutex<Register>>>,
}

impl Registers {
    /// One register per lock for each kind the drill uses.
    pub fn new(kinds: &[ResourceKind], locks: u32) -> Registers {
        Registers {
            by_kind: kinds
                .iter()
                .map(|&k| (k, (0..locks).map(|_| Mutex::default()).collect()))
                .collect(),
        }
    }

    /// Write the resource `kind` of `lock` with the fencing token `fence`.
    pub fn write(&self, kind: ResourceKind, lock: u32, fence: u64) -> Option<Decided> {
        let reg = self.by_kind.get(&kind)?.get(lock as usize)?;
        let mut r = reg.lock().unwrap_or_else(|p| p.into_inner());
        let last_fence = r.last_fence;
        let accepted = match kind {
            ResourceKind::Fenced => last_fence.is_none_or(|last| fence > last),
            ResourceKind::Unfenced => true,
        };
        let seq = r.next_seq;
        r.next_seq += 1;
        if accepted {
            r.accepted += 1;
            r.last_fence = r.last_fence.max(Some(fence));
        } else {
            r.rejected += 1;
        }
        Some(Decided {
            seq,
            accepted,
            last_fence,
        })
    }

    /// Every register's counts, for the end of the history.
    pub fn states(&self) -> BTreeMap<ResourceKind, Vec<RegisterState>> {
        self.by_kind
            .iter()
            .map(|(&k, regs)| {
                let states = regs
                    .iter()
                    .enumerate()
                    .map(|(lock, reg)| {
                        let r = reg.lock().unwrap_or_else(|p| p.into_inner());
                        RegisterState {
                            lock: lock as u32,
                            accepted: r.accepted,
                            rejected: r.rejected,
                            last_fence: r.last_fence,
                        }
                    })
                    .collect();
                (k, states)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fenced_register_refuses_tokens_not_above_its_last() {
        let r = Registers::new(&[ResourceKind::Fenced, ResourceKind::Unfenced], 2);
        let fenced = |fence| r.write(ResourceKind::Fenced, 0, fence).unwrap();
        assert_eq!(
            fenced(5),
            Decided {
                seq: 0,
                accepted: true,
                last_fence: None
            }
        );
        assert!(!fenced(5).accepted, "an equal token is not greater");
        assert!(!fenced(4).accepted);
        let d = fenced(6);
        assert_eq!((d.seq, d.accepted, d.last_fence), (3, true, Some(5)));
        // The unfenced register takes anything, and says what it had.
        let u = r.write(ResourceKind::Unfenced, 0, 9).unwrap();
        let stale = r.write(ResourceKind::Unfenced, 0, 2).unwrap();
        assert!(u.accepted && stale.accepted);
        assert_eq!(stale.last_fence, Some(9));
        // Locks have registers of their own.
        assert_eq!(r.write(ResourceKind::Fenced, 1, 1).unwrap().seq, 0);
        assert_eq!(r.write(ResourceKind::Fenced, 2, 1), None);
        let states = r.states();
        assert_eq!(
            states[&ResourceKind::Fenced][0],
            RegisterState {
                lock: 0,
                accepted: 2,
                rejected: 2,
                last_fence: Some(6)
            }
        );
        assert_eq!(states[&ResourceKind::Unfenced][0].last_fence, Some(9));
        // A kind the run does not use has no register.
        let only = Registers::new(&[ResourceKind::Unfenced], 1);
        assert_eq!(only.write(ResourceKind::Fenced, 0, 1), None);
    }
}
