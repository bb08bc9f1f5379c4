//! Synthetic histories: what one copy explains passes, each anomaly is found
//! with the ops that show it, a pathological history ends unknown.

use super::*;

fn w(call: u64, ret: u64, v: &str) -> LinOp {
    LinOp {
        call,
        ret: Some(ret),
        action: Action::Write(Some(v.into())),
    }
}
fn r(call: u64, ret: u64, v: Option<&str>) -> LinOp {
    LinOp {
        call,
        ret: Some(ret),
        action: Action::Read(v.map(str::to_string)),
    }
}
fn incr(call: u64, ret: u64, v: i64) -> LinOp {
    LinOp {
        call,
        ret: Some(ret),
        action: Action::Incr(Some(v)),
    }
}
const B: u64 = DEFAULT_BUDGET;

#[test]
fn sequential_and_concurrent_histories_that_one_copy_explains_pass() {
    assert_eq!(check_key(None, &[], B), KeyVerdict::Linearizable);
    // Sequential: write a, read a, write b, read b.
    let h = [
        w(0, 1, "a"),
        r(2, 3, Some("a")),
        w(4, 5, "b"),
        r(6, 7, Some("b")),
    ];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // A read concurrent with a write may see either value.
    let h = [w(0, 10, "a"), r(1, 2, None), r(3, 4, Some("a"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // Two concurrent writes, then reads that agree on the last one.
    let h = [
        w(0, 10, "a"),
        w(0, 10, "b"),
        r(11, 12, Some("a")),
        r(13, 14, Some("a")),
    ];
    assert_eq!(check_key(Some("init"), &h, B), KeyVerdict::Linearizable);
    // A DEL is a write of nil.
    let del = LinOp {
        call: 2,
        ret: Some(3),
        action: Action::Write(None),
    };
    let h = [w(0, 1, "a"), del, r(4, 5, None)];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // Counters: nil is 0; concurrent INCRs in either order.
    let h = [incr(0, 10, 2), incr(1, 9, 1), r(11, 12, Some("2"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    let h = [w(0, 1, "41"), incr(2, 3, 42)];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
}

#[test]
fn an_unknown_outcome_may_have_happened_or_not() {
    let timed_out = |call| LinOp {
        call,
        ret: None,
        action: Action::Write(Some("t".into())),
    };
    // Read long after: it happened.
    let h = [w(0, 1, "a"), timed_out(2), r(100, 101, Some("t"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // Or it never did.
    let h = [w(0, 1, "a"), timed_out(2), r(100, 101, Some("a"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // But not before it was called.
    let h = [r(0, 1, Some("t")), timed_out(2)];
    assert!(matches!(
        check_key(None, &h, B),
        KeyVerdict::Violation { .. }
    ));
    // An INCR whose answer was lost may have counted.
    let lost_answer = LinOp {
        call: 2,
        ret: None,
        action: Action::Incr(None),
    };
    let h = [w(0, 1, "5"), lost_answer, r(10, 11, Some("6"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
}

/// Each classic anomaly, with its minimal witness.
#[test]
fn each_anomaly_is_found_with_the_ops_that_show_it() {
    // Stale read: b acknowledged before the read began, the read saw a.
    let h = [
        w(0, 1, "a"),
        r(2, 3, Some("a")),
        w(4, 5, "b"),
        r(6, 7, Some("b")),
        r(8, 9, Some("a")),
        r(10, 11, Some("b")),
    ];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 2, 4]
        },
        "a written, b written, a read after b"
    );
    // Lost write: acknowledged, then a later read sees the old value.
    let h = [w(0, 1, "old"), w(2, 3, "new"), r(10, 11, Some("old"))];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1, 2]
        }
    );
    // A value never written.
    let h = [w(0, 1, "a"), r(2, 3, Some("ghost"))];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation { witness: vec![1] }
    );
    // A write seen, then unseen, while it is still running: once a
    // read has seen it, it has taken effect.
    let h = [w(0, 10, "a"), r(1, 2, Some("a")), r(3, 4, None)];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1, 2]
        }
    );
    // A counter that goes back: 2, then 1 read after it.
    let h = [incr(0, 1, 1), incr(2, 3, 2), r(4, 5, Some("1"))];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1, 2]
        }
    );
    // Two INCRs that both say 1: one increment lost.
    let h = [incr(0, 5, 1), incr(1, 6, 1)];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1]
        }
    );
}

/// A witness keeps the DEL a nil read saw, and loses a write once the
/// read that needed it has gone.
#[test]
fn a_witness_explains_its_nils_and_keeps_nothing_it_does_not_need() {
    let del = |call, ret| LinOp {
        call,
        ret: Some(ret),
        action: Action::Write(None),
    };
    // nil read after a SET that followed the DEL: stale, with the DEL.
    let h = [del(0, 1), w(2, 3, "a"), r(4, 5, None)];
    assert_eq!(
        check_key(Some("init"), &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1, 2]
        }
    );
    // A nil no DEL explains: the read alone, whatever came before it.
    let h = [
        w(0, 1, "a"),
        r(2, 3, Some("a")),
        w(4, 5, "b"),
        r(6, 7, None),
    ];
    assert_eq!(
        check_key(Some("init"), &h, B),
        KeyVerdict::Violation { witness: vec![3] }
    );
}

/// Hundreds of concurrent writes of distinct values, every one timed
/// out, and reads no order explains: the search cannot finish and says
/// so within its budget.
#[test]
fn a_pathological_history_ends_unknown_within_its_budget() {
    let mut h: Vec<LinOp> = (0..40)
        .map(|i| LinOp {
            call: i,
            ret: None,
            action: Action::Write(Some(format!("v{i}"))),
        })
        .collect();
    h.push(r(1000, 1001, Some("never")));
    let t = std::time::Instant::now();
    let v = check_key(None, &h, 50_000);
    assert!(
        matches!(v, KeyVerdict::Unknown { steps } if steps <= 50_000),
        "{v:?}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

/// A long sequential history decides in steps linear in its length.
#[test]
fn a_long_history_decides_quickly() {
    let mut h = Vec::new();
    for i in 0..5_000u64 {
        h.push(w(4 * i, 4 * i + 2, &format!("v{i}")));
        h.push(r(4 * i + 1, 4 * i + 3, Some(&format!("v{i}"))));
    }
    assert_eq!(check_key(None, &h, 100_000), KeyVerdict::Linearizable);
}

fn cas(call: u64, ret: Option<u64>, expect: &str, new: &str, ok: Option<bool>) -> LinOp {
    LinOp {
        call,
        ret,
        action: Action::Cas {
            expect: Some(expect.into()),
            new: new.into(),
            ok,
        },
    }
}
fn append(call: u64, ret: u64, s: &str) -> LinOp {
    LinOp {
        call,
        ret: Some(ret),
        action: Action::Append(s.into()),
    }
}

/// etcd's compare-and-set as Jepsen records it: a swap told ok found
/// its value, one told it failed did not, one whose answer was lost
/// did either.
#[test]
fn compare_and_set_swaps_only_what_it_expects() {
    let h = [
        w(0, 1, "1"),
        cas(2, Some(3), "1", "2", Some(true)),
        cas(4, Some(5), "1", "3", Some(false)),
        r(6, 7, Some("2")),
    ];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // From nil: expecting a value fails.
    let h = [cas(0, Some(1), "1", "2", Some(false)), r(2, 3, None)];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    // Lost answers: it swapped, or it did not.
    for seen in ["1", "2"] {
        let h = [
            w(0, 1, "1"),
            cas(2, None, "1", "2", None),
            r(10, 11, Some(seen)),
        ];
        assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable, "{seen}");
    }
    // Two swaps concurrent with each other, from 1: one wins.
    let h = [
        w(0, 1, "1"),
        cas(2, Some(6), "1", "2", Some(true)),
        cas(3, Some(5), "1", "3", Some(false)),
        r(7, 8, Some("2")),
    ];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
}

#[test]
fn a_compare_and_set_that_contradicts_the_value_is_a_violation() {
    // Told it failed, though the value was what it expected.
    let h = [w(0, 1, "1"), cas(2, Some(3), "1", "2", Some(false))];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1]
        }
    );
    // Both swaps from 1 told ok: only one can have found 1.
    let h = [
        w(0, 1, "1"),
        cas(2, Some(6), "1", "2", Some(true)),
        cas(3, Some(5), "1", "3", Some(true)),
    ];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1, 2]
        }
    );
    // A lost answer cannot make a value it does not write.
    let h = [
        w(0, 1, "1"),
        cas(2, None, "1", "2", None),
        r(10, 11, Some("3")),
    ];
    assert!(matches!(
        check_key(None, &h, B),
        KeyVerdict::Violation { .. }
    ));
}

/// APPEND as Redis has it: nil appended to is the suffix; concurrent
/// appends in either order.
#[test]
fn appends_concatenate_in_some_order() {
    let h = [append(0, 1, "a"), append(2, 3, "b"), r(4, 5, Some("ab"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    let h = [append(0, 10, "x"), append(1, 9, "y"), r(11, 12, Some("yx"))];
    assert_eq!(check_key(Some(""), &h, B), KeyVerdict::Linearizable);
    // A DEL empties it; a SET replaces what was appended.
    let del = LinOp {
        call: 2,
        ret: Some(3),
        action: Action::Write(None),
    };
    let h = [
        append(0, 1, "a"),
        del,
        append(4, 5, "b"),
        r(6, 7, Some("b")),
    ];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
    let h = [w(0, 1, "s"), append(2, 3, "t"), r(4, 5, Some("st"))];
    assert_eq!(check_key(None, &h, B), KeyVerdict::Linearizable);
}

#[test]
fn appends_seen_out_of_order_are_a_violation() {
    // x then y, read as y then x.
    let h = [append(0, 1, "x"), append(2, 3, "y"), r(4, 5, Some("yx"))];
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![0, 1, 2]
        }
    );
    // An append lost: both acknowledged, one read back.
    let h = [append(0, 5, "x"), append(1, 6, "y"), r(7, 8, Some("x"))];
    assert!(matches!(
        check_key(None, &h, B),
        KeyVerdict::Violation { .. }
    ));
}

/// A stale read at the end of a long history: the witness is its few
/// ops, found by cutting the history where the violation shows and
/// dropping runs, not by a search per op.
#[test]
fn a_late_violation_in_a_long_history_has_a_small_witness() {
    let mut h = Vec::new();
    for i in 0..2_000u64 {
        h.push(w(4 * i, 4 * i + 2, &format!("v{i}")));
        h.push(r(4 * i + 1, 4 * i + 3, Some(&format!("v{i}"))));
    }
    let end = 4 * 2_000;
    h.push(r(end, end + 1, Some("v1998")));
    h.push(w(end + 2, end + 3, "after"));
    let t = std::time::Instant::now();
    assert_eq!(
        check_key(None, &h, B),
        KeyVerdict::Violation {
            witness: vec![3_996, 3_998, 4_000]
        },
        "v1998 written, v1999 written, v1998 read"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

/// Keys decided together: a violation on an easy key is found though
/// another key's search cannot end; the verdict names that key.
#[test]
fn keys_take_turns_so_a_hard_key_hides_no_violation() {
    let hard: Vec<LinOp> = (0..40)
        .map(|i| LinOp {
            call: i,
            ret: None,
            action: Action::Write(Some(format!("v{i}"))),
        })
        .chain([r(1000, 1001, Some("never"))])
        .collect();
    let fine = [w(0, 1, "a"), r(2, 3, Some("a"))];
    let stale = [w(0, 1, "a"), w(2, 3, "b"), r(4, 5, Some("a"))];
    let keys: [(Option<&str>, &[LinOp]); 3] = [(None, &hard), (None, &fine), (None, &stale)];
    let t = std::time::Instant::now();
    assert_eq!(
        decide_keys(&keys, u64::MAX),
        KeysVerdict::Violation { key: 2 }
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        decide_keys(&keys[..2], 50_000),
        KeysVerdict::Unknown { keys: vec![0] }
    );
    assert_eq!(decide_keys(&keys[1..2], B), KeysVerdict::Linearizable);
    assert_eq!(decide_keys(&[], B), KeysVerdict::Linearizable);
}
