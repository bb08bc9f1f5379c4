//! The kernel's neighbour (ARP) table, which a large cluster on one machine
//! outgrows.
//!
//! Linux keeps one IPv4 neighbour table for every network namespace of a
//! machine, and its limit is the machine's: past
//! `net.ipv4.neigh.default.gc_thresh3` entries (1024 by default) the kernel
//! logs "neighbor table overflow" and drops the packets that need a new
//! entry. Every node of a cluster on a bridge or an overlay holds an entry
//! for each peer it talks to over the bus, so `n` nodes on one kernel need
//! about `n × (n − 1)` of them. Measured here (2026-11-28): 60 nodes on the
//! Docker runtime and on the lab's swarm never converged at the default —
//! after 60 s some nodes knew no peer at all and had sent no packet on their
//! overlay interface — and converged in 5 s once the limit was raised.
//! Nodes on the process runtime talk over loopback, which needs no entry.
//!
//! So `up` checks this before anything starts, on the runtimes whose nodes
//! share this machine's kernel (Docker; the swarm's engines reached by a
//! unix socket), and the lab, whose engines all share this kernel, raises
//! the limits while it is up and puts them back at `down`.

use std::path::{Path, PathBuf};

use crate::runtime::error::RuntimeError;

/// Where the kernel shows the three thresholds.
const SYSCTL_DIR: &str = "/proc/sys/net/ipv4/neigh/default";

/// The table's three garbage-collection thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Below it, no entry is collected.
    pub gc_thresh1: usize,
    /// Above it for 5 s, entries not used lately are collected.
    pub gc_thresh2: usize,
    /// The hard limit: past it, new entries are refused.
    pub gc_thresh3: usize,
}

impl Thresholds {
    /// What the lab sets (never lowering one): room for 180 nodes on the
    /// machine's one kernel.
    pub const LAB: Thresholds = Thresholds {
        gc_thresh1: 1024,
        gc_thresh2: 16384,
        gc_thresh3: 32768,
    };

    /// Each threshold the larger of the two.
    pub fn max(self, other: Thresholds) -> Thresholds {
        Thresholds {
            gc_thresh1: self.gc_thresh1.max(other.gc_thresh1),
            gc_thresh2: self.gc_thresh2.max(other.gc_thresh2),
            gc_thresh3: self.gc_thresh3.max(other.gc_thresh3),
        }
    }

    fn values(self) -> [(&'static str, usize); 3] {
        [
            ("gc_thresh1", self.gc_thresh1),
            ("gc_thresh2", self.gc_thresh2),
            ("gc_thresh3", self.gc_thresh3),
        ]
    }

    /// `a/b/c`, as the lab prints them.
    pub fn brief(self) -> String {
        format!(
            "{}/{}/{}",
            self.gc_thresh1, self.gc_thresh2, self.gc_thresh3
        )
    }

    /// This machine's, or `None` where the kernel does not show them (not
    /// Linux, or a network namespace the kernel hides them in).
    pub fn read() -> Option<Thresholds> {
        read_from(Path::new(SYSCTL_DIR))
    }

    /// Set this machine's (root). The kernel checks each value alone, not
    /// their order.
    pub fn write(self) -> Result<(), RuntimeError> {
        for (name, value) in self.values() {
            let path = Path::new(SYSCTL_DIR).join(name);
            std::fs::write(&path, value.to_string())
                .map_err(RuntimeError::io(format!("writing {}", path.display())))?;
        }
        Ok(())
    }
}

fn read_from(dir: &Path) -> Option<Thresholds> {
    let one = |name: &str| -> Option<usize> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(Thresholds {
        gc_thresh1: one("gc_thresh1")?,
        gc_thresh2: one("gc_thresh2")?,
        gc_thresh3: one("gc_thresh3")?,
    })
}

/// The entries `local` nodes on this kernel need, each talking to the other
/// `total − 1` nodes of the deployment.
pub fn needed(local: usize, total: usize) -> usize {
    local * total.saturating_sub(1)
}

/// Whether `local` of `total` nodes fit this kernel's table at `limit`
/// (its `gc_thresh3`); the error says what to raise it to. `what` names
/// where the nodes run.
pub fn check(local: usize, total: usize, limit: usize, what: &str) -> Result<(), RuntimeError> {
    let need = needed(local, total);
    if need <= limit {
        return Ok(());
    }
    // Twice what is needed, in round thousands: room for the clients and
    // whatever else this machine keeps in the table.
    let thresh3 = (2 * need).div_ceil(1024) * 1024;
    let thresh2 = need.div_ceil(1024) * 1024;
    let on_this = if local == total {
        format!("{total} nodes")
    } else {
        format!("{total} nodes, {local} of them")
    };
    Err(RuntimeError::Environment(format!(
        "{on_this} on this machine's kernel ({what}) need about {need} neighbour (ARP) \
         entries, and net.ipv4.neigh.default.gc_thresh3 is {limit}: past it the kernel \
         drops the cluster bus's packets (\"neighbor table overflow\" in its log) and the \
         cluster never converges. Raise it first, as root: sysctl -w \
         net.ipv4.neigh.default.gc_thresh2={thresh2} net.ipv4.neigh.default.gc_thresh3={thresh3}"
    )))
}

/// [`check`] against this machine's kernel; nothing to check where it does
/// not show its thresholds.
pub fn check_here(local: usize, total: usize, what: &str) -> Result<(), RuntimeError> {
    match Thresholds::read() {
        Some(t) => check(local, total, t.gc_thresh3, what),
        None => Ok(()),
    }
}

/// The file in the lab's folder that keeps the thresholds it found.
fn saved(root: &Path) -> PathBuf {
    root.join("neigh-thresholds")
}

/// Raise this machine's thresholds to at least [`Thresholds::LAB`],
/// keeping the ones found in `root` for [`restore`]. What they were and
/// are, when they changed.
pub fn raise_for_lab(root: &Path) -> Result<Option<(Thresholds, Thresholds)>, RuntimeError> {
    let Some(found) = Thresholds::read() else {
        return Ok(None);
    };
    let wanted = found.max(Thresholds::LAB);
    if wanted == found {
        return Ok(None);
    }
    std::fs::create_dir_all(root)
        .map_err(RuntimeError::io(format!("creating {}", root.display())))?;
    let file = saved(root);
    std::fs::write(&file, found.brief())
        .map_err(RuntimeError::io(format!("writing {}", file.display())))?;
    wanted.write()?;
    Ok(Some((found, wanted)))
}

/// Put back the thresholds [`raise_for_lab`] found, unless somebody changed
/// them since (then they are left as they are). What they are back to.
pub fn restore(root: &Path) -> Result<Option<Thresholds>, RuntimeError> {
    let file = saved(root);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let Some(before) = parse_brief(&text) else {
        return Ok(None);
    };
    let Some(now) = Thresholds::read() else {
        return Ok(None);
    };
    if !ours(now, before) {
        tracing::warn!(
            "the neighbour table's thresholds are {} and not the lab's {}: left as they are",
            now.brief(),
            before.max(Thresholds::LAB).brief()
        );
        return Ok(None);
    }
    before.write()?;
    let _ = std::fs::remove_file(&file);
    Ok(Some(before))
}

/// Whether `now` is what [`raise_for_lab`] left from `before`: each value
/// the lab's or the one it found (a write that failed half-way leaves some
/// of each), none changed by somebody else since.
fn ours(now: Thresholds, before: Thresholds) -> bool {
    let lab = before.max(Thresholds::LAB);
    (now.values().iter())
        .zip(before.values())
        .zip(lab.values())
        .all(|((&(_, n), (_, b)), (_, l))| n == b || n == l)
}

fn parse_brief(text: &str) -> Option<Thresholds> {
    let v: Vec<usize> = text
        .trim()
        .split('/')
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match v[..] {
        [a, b, c] => Some(Thresholds {
            gc_thresh1: a,
            gc_thresh2: b,
            gc_thresh3: c,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_nodes_fit_the_default_and_sixty_do_not() {
        // 30 nodes converged on the default 1024; 60 never did.
        assert!(check(30, 30, 1024, "docker").is_ok());
        let e = check(60, 60, 1024, "docker").unwrap_err().to_string();
        assert!(
            e.contains("60 nodes on this machine's kernel (docker)"),
            "{e}"
        );
        assert!(e.contains("about 3540 neighbour"), "{e}");
        assert!(e.contains("gc_thresh3 is 1024"), "{e}");
        assert!(e.contains("gc_thresh2=4096"), "{e}");
        assert!(e.contains("gc_thresh3=7168"), "{e}");
        assert!(check(60, 60, 7168, "docker").is_ok());
    }

    #[test]
    fn thirty_two_nodes_fit_the_default_and_thirty_three_do_not() {
        // The boundary the docs state: 32 x 31 = 992, 33 x 32 = 1056.
        assert_eq!(needed(32, 32), 992);
        assert!(check(32, 32, 1024, "docker").is_ok());
        assert!(check(33, 33, 1024, "docker").is_err());
    }

    #[test]
    fn restore_puts_back_a_half_raised_table_but_not_one_changed_since() {
        let found = Thresholds {
            gc_thresh1: 128,
            gc_thresh2: 512,
            gc_thresh3: 1024,
        };
        assert!(ours(found.max(Thresholds::LAB), found));
        // The write stopped after gc_thresh1: the rest as found.
        let half = Thresholds {
            gc_thresh1: 1024,
            ..found
        };
        assert!(ours(half, found));
        assert!(ours(found, found));
        // Somebody set gc_thresh3 to a value of their own meanwhile.
        let theirs = Thresholds {
            gc_thresh3: 50000,
            ..found.max(Thresholds::LAB)
        };
        assert!(!ours(theirs, found));
    }

    #[test]
    fn nodes_on_other_kernels_need_no_entry_here() {
        assert_eq!(needed(0, 300), 0);
        assert_eq!(needed(20, 60), 1180);
        let e = check(20, 60, 1024, "swarm").unwrap_err().to_string();
        assert!(
            e.contains("60 nodes, 20 of them on this machine's kernel"),
            "{e}"
        );
        assert_eq!(needed(1, 1), 0);
        assert_eq!(needed(0, 0), 0);
    }

    #[test]
    fn the_lab_never_lowers_a_threshold() {
        let high = Thresholds {
            gc_thresh1: 4096,
            gc_thresh2: 100,
            gc_thresh3: 65536,
        };
        let m = high.max(Thresholds::LAB);
        assert_eq!(
            m,
            Thresholds {
                gc_thresh1: 4096,
                gc_thresh2: 16384,
                gc_thresh3: 65536
            }
        );
    }

    #[test]
    fn thresholds_read_and_kept_as_text() {
        let dir = tempfile::tempdir().unwrap();
        for (name, v) in [
            ("gc_thresh1", "128\n"),
            ("gc_thresh2", "512\n"),
            ("gc_thresh3", "1024\n"),
        ] {
            std::fs::write(dir.path().join(name), v).unwrap();
        }
        let t = read_from(dir.path()).unwrap();
        assert_eq!(t.brief(), "128/512/1024");
        assert_eq!(parse_brief(&t.brief()), Some(t));
        assert_eq!(parse_brief("1/2"), None);
        assert_eq!(parse_brief("a/b/c"), None);
        std::fs::remove_file(dir.path().join("gc_thresh2")).unwrap();
        assert_eq!(read_from(dir.path()), None);
    }
}
