//! Torn transactions: a group's members are only ever written together (one
//! MULTI/EXEC setting each to the op's id), so every read of the whole group
//! and its final state must show one id.
//!
//! - A successful `txn_read` (MGET of the members) showing more than one
//!   value (a nil beside a value counts) is a **torn read**: it saw part of
//!   one transaction and part of another.
//! - A group whose members end with different values is a **torn group**:
//!   part of a transaction survived and part did not (a failover that lost
//!   half a slot's writes cannot do this, a migration that moved members one
//!   by one around a transaction can).
//!
//! Groups are the ones the history touched. A group with a member not read
//! back is unread, not torn.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::record::ops::{Op, OpKind};

/// The verdict on groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Torn {
    /// Successful txn_reads.
    pub reads_checked: u64,
    /// Successful txn_reads that saw more than one value, in history order.
    pub torn_reads: Vec<TornRead>,
    /// Groups whose every member was read back at the end.
    pub groups_checked: u64,
    pub groups_unread: u64,
    /// Groups whose members ended with different values, sorted by group.
    pub torn_groups: Vec<TornGroup>,
}

/// A read that saw two transactions at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TornRead {
    pub group: String,
    pub slot: u16,
    pub client: u32,
    pub end_ns: u64,
    /// What it read, member by member (None = nil).
    pub values: Vec<Option<String>>,
}

/// A group left with members from different transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TornGroup {
    pub group: String,
    pub slot: u16,
    /// Each member and its final value.
    pub members: Vec<(String, Option<String>)>,
}

/// Whether the values are not all the same.
fn mixed(values: &[Option<String>]) -> bool {
    values.iter().collect::<BTreeSet<_>>().len() > 1
}

/// Check every successful txn_read, and the final state of every group the
/// history touched (see the module docs).
pub fn torn<'a>(
    history: impl IntoIterator<Item = &'a Op>,
    final_values: &HashMap<String, Option<String>>,
) -> Torn {
    let mut out = Torn::default();
    let mut groups: BTreeMap<&str, (u16, &[String])> = BTreeMap::new();
    for op in history {
        if !matches!(op.kind, OpKind::Txn | OpKind::TxnRead) {
            continue;
        }
        groups.insert(op.key.as_str(), (op.slot, op.members.as_slice()));
        if op.kind == OpKind::TxnRead && op.is_ok() {
            out.reads_checked += 1;
            if mixed(&op.values) {
                out.torn_reads.push(TornRead {
                    group: op.key.clone(),
                    slot: op.slot,
                    client: op.client,
                    end_ns: op.end_ns,
                    values: op.values.clone(),
                });
            }
        }
    }
    for (group, (slot, members)) in groups {
        let found: Option<Vec<(String, Option<String>)>> = members
            .iter()
            .map(|m| final_values.get(m).map(|v| (m.clone(), v.clone())))
            .collect();
        let Some(found) = found else {
            out.groups_unread += 1;
            continue;
        };
        out.groups_checked += 1;
        let values: Vec<Option<String>> = found.iter().map(|(_, v)| v.clone()).collect();
        if mixed(&values) {
            out.torn_groups.push(TornGroup {
                group: group.to_string(),
                slot,
                members: found,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::record::ops::OpKind;

    const MEMBERS: [&str; 2] = ["{g}:a", "{g}:b"];

    fn txn(id: &str, start_ms: u64, end_ms: u64) -> Op {
        let mut o = op(OpKind::Txn, "{g}", Some(id), start_ms, end_ms);
        o.members = MEMBERS.iter().map(|m| m.to_string()).collect();
        o
    }

    fn read(values: &[Option<&str>], start_ms: u64, end_ms: u64) -> Op {
        let mut o = op(OpKind::TxnRead, "{g}", None, start_ms, end_ms);
        o.members = MEMBERS.iter().map(|m| m.to_string()).collect();
        o.values = values.iter().map(|v| v.map(str::to_string)).collect();
        o
    }

    fn fin(a: Option<&str>, b: Option<&str>) -> HashMap<String, Option<String>> {
        [("{g}:a", a), ("{g}:b", b)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn whole_reads_and_groups_pass() {
        let h = vec![
            read(&[Some("init"), Some("init")], 0, 1),
            txn("t1", 1, 2),
            read(&[Some("t1"), Some("t1")], 3, 4),
        ];
        let r = torn(&h, &fin(Some("t1"), Some("t1")));
        assert_eq!((r.reads_checked, r.groups_checked), (2, 1));
        assert!(r.torn_reads.is_empty() && r.torn_groups.is_empty(), "{r:?}");
    }

    #[test]
    fn a_read_of_two_transactions_is_torn() {
        let h = vec![
            txn("t1", 0, 2),
            txn("t2", 1, 3),
            read(&[Some("t1"), Some("t2")], 2, 4),
            read(&[Some("t2"), None], 5, 6),
            // A failed read saw nothing: not checked.
            failed(read(&[], 6, 7)),
        ];
        let r = torn(&h, &fin(Some("t2"), Some("t2")));
        assert_eq!(r.reads_checked, 2);
        assert_eq!(r.torn_reads.len(), 2);
        assert_eq!(
            r.torn_reads[0].values,
            vec![Some("t1".to_string()), Some("t2".to_string())]
        );
        assert_eq!(r.torn_reads[1].end_ns, 6_000_000);
        assert!(r.torn_groups.is_empty());
    }

    #[test]
    fn a_group_left_half_written_is_torn() {
        let h = vec![txn("t1", 0, 2), indeterminate(txn("t2", 3, 1003))];
        let r = torn(&h, &fin(Some("t2"), Some("t1")));
        assert_eq!(r.torn_groups.len(), 1);
        let g = &r.torn_groups[0];
        assert_eq!(g.group, "{g}");
        assert_eq!(
            g.members,
            vec![
                ("{g}:a".to_string(), Some("t2".to_string())),
                ("{g}:b".to_string(), Some("t1".to_string()))
            ]
        );
        // A member not read back: unread, not torn.
        let mut partial = fin(Some("t2"), None);
        partial.remove("{g}:b");
        let r = torn(&h, &partial);
        assert_eq!((r.groups_checked, r.groups_unread), (0, 1));
        assert!(r.torn_groups.is_empty());
    }
}
