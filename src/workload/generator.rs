//! The generator: per client, a deterministic stream of planned ops (command,
//! key, value) drawn from the client's seed. Pure: no I/O, no clock.

use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Zipf;

use super::spec::{Distribution, SizeDraw, WorkloadSpec};
use crate::record::ops::OpKind;
use crate::slots::key_slot;

/// An op before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub kind: OpKind,
    pub key: String,
    pub slot: u16,
    /// The value a `set` writes; a `txn`'s op id, which it writes to every member.
    pub value: Option<String>,
    /// A `set` sent as `SET PX`.
    pub ttl_ms: Option<u64>,
    /// `txn`, `txn_read`: the group's members (`key` is its hash tag).
    pub members: Vec<String>,
    /// A write followed by WAIT (`workload.wait`, on every `every`-th
    /// write of the client).
    pub wait: bool,
}

/// A seed for one client derived from the run's seed (splitmix64 of both), so
/// that clients draw independent streams and adding a client changes no other.
pub(crate) fn client_seed(seed: u64, client: u32) -> u64 {
    splitmix64(seed ^ splitmix64(u64::from(client).wrapping_add(0x5eed)))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `prefix` padded with `x` to `size` bytes; longer than `size` when the prefix
/// is (uniqueness matters more than the exact size).
pub(crate) fn padded(mut prefix: String, size: usize) -> String {
    if prefix.len() < size {
        prefix.extend(std::iter::repeat_n('x', size - prefix.len()));
    }
    prefix
}

/// The value `load` writes to key number `n`: recognisably initial, unique per key.
pub(crate) fn initial_value(n: u64, size: usize) -> String {
    padded(format!("init-{n}-"), size)
}

/// Picks a key number from `0..n` as a [`Distribution`] says.
pub(crate) enum Keys {
    Uniform(u64),
    Zipf(Zipf<f64>),
}

impl Keys {
    /// `n` keys drawn by `dist`.
    pub(crate) fn new(n: u64, dist: Distribution) -> Keys {
        match dist {
            Distribution::Uniform => Keys::Uniform(n),
            Distribution::Zipfian { s } => match Zipf::new(n as f64, s) {
                Ok(z) => Keys::Zipf(z),
                // validate() rules out bad parameters; stay total anyway.
                Err(_) => Keys::Uniform(n),
            },
        }
    }

    /// The next key's number, from the client's own seeded generator.
    pub(crate) fn pick(&self, rng: &mut StdRng) -> u64 {
        match self {
            Keys::Uniform(n) => rng.random_range(0..*n),
            // Zipf samples ranks 1..=n as floats.
            Keys::Zipf(z) => (z.sample(rng) as u64).max(1) - 1,
        }
    }
}

/// One client's op stream.
pub(crate) struct OpGen {
    rng: StdRng,
    client: u32,
    seq: u64,
    /// Writes planned so far (for `wait.every`).
    writes: u64,
    kinds: WeightedIndex<u32>,
    keys: Keys,
    counters: Keys,
    groups: Keys,
    sizes: SizeDraw,
    spec: WorkloadSpec,
}

/// What each weight of [`Mix::weights`](super::spec::Mix::weights) draws.
#[derive(Clone, Copy)]
enum Draw {
    Op(OpKind),
    SetTtl,
}

const DRAWS: [Draw; 7] = [
    Draw::Op(OpKind::Get),
    Draw::Op(OpKind::Set),
    Draw::Op(OpKind::Incr),
    Draw::Op(OpKind::Del),
    Draw::SetTtl,
    Draw::Op(OpKind::Txn),
    Draw::Op(OpKind::TxnRead),
];

impl OpGen {
    /// The stream of `client` under `seed`. The spec must have passed `validate`.
    pub fn new(spec: &WorkloadSpec, seed: u64, client: u32) -> OpGen {
        let kinds = WeightedIndex::new(spec.mix.weights()).unwrap_or_else(|_| {
            WeightedIndex::new([1, 0, 0, 0, 0, 0, 0]).expect("constant weights")
        });
        OpGen {
            rng: StdRng::seed_from_u64(client_seed(seed, client)),
            client,
            seq: 0,
            writes: 0,
            kinds,
            keys: Keys::new(spec.keys.max(1), spec.distribution),
            counters: Keys::new(spec.counter_keys.max(1), spec.distribution),
            groups: Keys::new(spec.groups.max(1), spec.distribution),
            sizes: spec.value_size.draw(),
            spec: spec.clone(),
        }
    }

    /// A value unique to this op (the client and its sequence number), so
    /// that the checkers can tell writes apart, padded to a drawn size.
    fn unique_value(&mut self, seq: u64) -> String {
        let size = self.sizes.next(&mut self.rng);
        padded(format!("c{}-{seq}-", self.client), size)
    }

    /// The client's next op, from its seed alone, so a run can be replayed.
    pub fn next_op(&mut self) -> Planned {
        let draw = DRAWS[self.kinds.sample(&mut self.rng)];
        let seq = self.seq;
        self.seq += 1;
        let mut p = Planned {
            kind: OpKind::Get,
            key: String::new(),
            slot: 0,
            value: None,
            ttl_ms: None,
            members: Vec::new(),
            wait: false,
        };
        match draw {
            Draw::Op(kind @ (OpKind::Get | OpKind::Del)) => {
                p.kind = kind;
                p.key = self.spec.key(self.keys.pick(&mut self.rng));
            }
            Draw::Op(OpKind::Set) | Draw::SetTtl => {
                p.kind = OpKind::Set;
                p.key = self.spec.key(self.keys.pick(&mut self.rng));
                p.value = Some(self.unique_value(seq));
                if let Draw::SetTtl = draw {
                    // A draw only when mixed, so that a single TTL leaves
                    // every other stream as it was.
                    let ttls = &self.spec.ttls_ms;
                    p.ttl_ms = Some(match ttls.len() {
                        0 => self.spec.ttl_ms,
                        n => ttls[self.rng.random_range(0..n)],
                    });
                }
            }
            Draw::Op(OpKind::Incr) => {
                p.kind = OpKind::Incr;
                p.key = self.spec.counter_key(self.counters.pick(&mut self.rng));
            }
            Draw::Op(kind @ (OpKind::Txn | OpKind::TxnRead)) => {
                let g = self.groups.pick(&mut self.rng);
                p.kind = kind;
                p.key = self.spec.group_key(g);
                p.members = self.spec.group_members(g);
                if kind == OpKind::Txn {
                    p.value = Some(self.unique_value(seq));
                }
            }
        }
        p.slot = key_slot(p.key.as_bytes());
        if p.kind.is_write() {
            self.writes += 1;
            p.wait = (self.spec.wait)
                .is_some_and(|w| self.writes.is_multiple_of(u64::from(w.every.max(1))));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::spec::{Mix, ValueSize};

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            keys: 100,
            counter_keys: 10,
            mix: Mix {
                get: 1,
                set: 1,
                incr: 1,
                ..Mix::default()
            },
            value_size: ValueSize::Range { min: 10, max: 20 },
            ..WorkloadSpec::default()
        }
    }

    #[test]
    fn wait_every_marks_every_kth_write_of_a_client_and_no_read() {
        let s = WorkloadSpec {
            wait: Some(crate::workload::spec::WaitSpec {
                every: 3,
                ..crate::workload::spec::WaitSpec::new(1, 100)
            }),
            ..spec()
        };
        let mut g = OpGen::new(&s, 7, 0);
        let ops: Vec<Planned> = (0..300).map(|_| g.next_op()).collect();
        let writes: Vec<bool> = ops
            .iter()
            .filter(|p| p.kind.is_write())
            .map(|p| p.wait)
            .collect();
        assert!(writes.len() > 100);
        for (i, w) in writes.iter().enumerate() {
            assert_eq!(*w, (i + 1) % 3 == 0, "write {i}");
        }
        assert!(ops.iter().filter(|p| !p.kind.is_write()).all(|p| !p.wait));
        // Without `wait`, nothing waits.
        let mut g = OpGen::new(&spec(), 7, 0);
        assert!((0..300).all(|_| !g.next_op().wait));
    }

    #[test]
    fn deterministic_per_seed_and_client() {
        let s = spec();
        let a: Vec<_> = {
            let mut g = OpGen::new(&s, 7, 0);
            (0..50).map(|_| g.next_op()).collect()
        };
        let b: Vec<_> = {
            let mut g = OpGen::new(&s, 7, 0);
            (0..50).map(|_| g.next_op()).collect()
        };
        let c: Vec<_> = {
            let mut g = OpGen::new(&s, 7, 1);
            (0..50).map(|_| g.next_op()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(
            a.iter().map(|p| &p.key).collect::<Vec<_>>(),
            c.iter().map(|p| &p.key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn ops_respect_the_spec() {
        let s = spec();
        let mut g = OpGen::new(&s, 1, 3);
        let mut seen = std::collections::HashSet::new();
        let mut kinds = [0; 3];
        for _ in 0..3000 {
            let p = g.next_op();
            assert_eq!(p.slot, key_slot(p.key.as_bytes()));
            match p.kind {
                OpKind::Get => {
                    kinds[0] += 1;
                    assert!(p.value.is_none());
                    let n: u64 = p.key.strip_prefix("drill:").unwrap().parse().unwrap();
                    assert!(n < 100);
                }
                OpKind::Set => {
                    kinds[1] += 1;
                    let v = p.value.unwrap();
                    assert!((10..=20).contains(&v.len()) || v.len() > 20 && !v.ends_with('x'));
                    assert!(v.starts_with("c3-"), "{v}");
                    assert!(seen.insert(v), "values are unique");
                }
                OpKind::Incr => {
                    kinds[2] += 1;
                    let n: u64 = p
                        .key
                        .strip_prefix("drill:counter:")
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(n < 10);
                }
                other => panic!("{other:?} is not in the mix"),
            }
        }
        assert!(kinds.iter().all(|&k| k > 800), "{kinds:?}");
    }

    #[test]
    fn mixed_ttls_draw_each_of_theirs() {
        let s = WorkloadSpec {
            keys: 100,
            ttl_ms: 7,
            ttls_ms: vec![100, 1000, 5000],
            mix: Mix {
                get: 0,
                set: 0,
                set_ttl: 1,
                ..Mix::default()
            },
            ..WorkloadSpec::default()
        };
        let mut g = OpGen::new(&s, 5, 0);
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..3000 {
            let p = g.next_op();
            assert_eq!(p.kind, OpKind::Set);
            *seen.entry(p.ttl_ms.unwrap()).or_insert(0) += 1;
        }
        assert_eq!(
            seen.keys().copied().collect::<Vec<_>>(),
            vec![100, 1000, 5000]
        );
        assert!(seen.values().all(|&n| n > 800), "{seen:?}");
        // A 0 among them is refused at its field.
        let bad = WorkloadSpec {
            ttls_ms: vec![100, 0],
            ..s
        };
        assert_eq!(bad.problem().map(|p| p.0), Some(vec!["ttls_ms"]));
    }

    #[test]
    fn cache_ops_carry_their_ttl_group_and_id() {
        let s = WorkloadSpec {
            keys: 100,
            groups: 4,
            group_size: 3,
            ttl_ms: 250,
            mix: Mix {
                get: 0,
                set: 0,
                incr: 0,
                del: 1,
                set_ttl: 1,
                txn: 1,
                txn_read: 1,
            },
            ..WorkloadSpec::default()
        };
        let mut g = OpGen::new(&s, 5, 2);
        let mut seen = [0; 4];
        let mut ids = std::collections::HashSet::new();
        for _ in 0..2000 {
            let p = g.next_op();
            assert_eq!(p.slot, key_slot(p.key.as_bytes()));
            match p.kind {
                OpKind::Del => {
                    seen[0] += 1;
                    assert!(p.key.starts_with("drill:") && p.value.is_none());
                    assert!(p.members.is_empty() && p.ttl_ms.is_none());
                }
                OpKind::Set => {
                    seen[1] += 1;
                    assert_eq!(p.ttl_ms, Some(250));
                }
                OpKind::Txn | OpKind::TxnRead => {
                    seen[if p.kind == OpKind::Txn { 2 } else { 3 }] += 1;
                    let n: u64 = p
                        .key
                        .strip_prefix("{drill:g")
                        .and_then(|k| k.strip_suffix('}'))
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(n < 4);
                    assert_eq!(p.members, s.group_members(n));
                    // Every member hashes to the group's slot.
                    for m in &p.members {
                        assert_eq!(key_slot(m.as_bytes()), p.slot, "{m}");
                    }
                    if p.kind == OpKind::Txn {
                        let id = p.value.unwrap();
                        assert!(id.starts_with("c2-"), "{id}");
                        assert!(ids.insert(id), "op ids are unique");
                    } else {
                        assert!(p.value.is_none());
                    }
                }
                other => panic!("{other:?} is not in the mix"),
            }
        }
        assert!(seen.iter().all(|&k| k > 350), "{seen:?}");
        assert_eq!(
            s.group_members(3),
            vec!["{drill:g3}:a", "{drill:g3}:b", "{drill:g3}:c"]
        );
    }

    #[test]
    fn zipfian_favours_low_keys() {
        let s = WorkloadSpec {
            keys: 1000,
            distribution: Distribution::Zipfian { s: 1.2 },
            mix: Mix {
                get: 1,
                set: 0,
                incr: 0,
                ..Mix::default()
            },
            ..WorkloadSpec::default()
        };
        let mut g = OpGen::new(&s, 9, 0);
        let mut hot = 0;
        for _ in 0..2000 {
            let n: u64 = g
                .next_op()
                .key
                .strip_prefix("drill:")
                .unwrap()
                .parse()
                .unwrap();
            assert!(n < 1000);
            if n < 10 {
                hot += 1;
            }
        }
        // Uniform would put ~1% in the first 10 keys; zipf(1.2) well over half.
        assert!(hot > 1000, "{hot}");
    }

    #[test]
    fn padding() {
        assert_eq!(padded("ab".into(), 5), "abxxx");
        assert_eq!(padded("abcdef".into(), 3), "abcdef");
        assert_eq!(initial_value(7, 10), "init-7-xxx");
    }
}
