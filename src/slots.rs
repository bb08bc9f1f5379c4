//! Slot math: key-to-slot (CRC16/XMODEM with hash tags), slot ranges, and the even
//! split `redis-cli --cluster create` uses. Pure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of hash slots in a Redis Cluster (fixed by the protocol).
pub const SLOT_COUNT: u16 = 16384;

/// CRC16/XMODEM (poly 0x1021, init 0), the checksum Redis Cluster uses.
pub fn crc16(bytes: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(bytes)
}

/// The slot of a key: CRC16 of the key, or of its hash tag — the part between the
/// first `{` and the next `}` when that part is not empty — modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOT_COUNT
}

fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// An inclusive range of slots, written `start-end` (or a single `slot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

impl SlotRange {
    /// The slots `start..=end`.
    pub fn new(start: u16, end: u16) -> Self {
        debug_assert!(start <= end && end < SLOT_COUNT);
        SlotRange { start, end }
    }

    /// Number of slots in the range; never 0 (a range holds at least its start).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// Whether `slot` is in the range.
    pub fn contains(&self, slot: u16) -> bool {
        self.start <= slot && slot <= self.end
    }

    /// Every slot of the range, in order.
    pub fn slots(&self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Why a slot range did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotRangeError {
    #[error("`{0}` is not a slot or a range like 0-5460")]
    Syntax(String),
    #[error("slot {0} is out of range (0-16383)")]
    OutOfRange(u32),
    #[error("range `{0}` ends before it starts")]
    Reversed(String),
}

impl FromStr for SlotRange {
    type Err = SlotRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let parse = |part: &str| -> Result<u16, SlotRangeError> {
            let n: u32 = part
                .trim()
                .parse()
                .map_err(|_| SlotRangeError::Syntax(s.to_string()))?;
            if n >= u32::from(SLOT_COUNT) {
                return Err(SlotRangeError::OutOfRange(n));
            }
            Ok(n as u16)
        };
        let (start, end) = match s.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let n = parse(s)?;
                (n, n)
            }
        };
        if start > end {
            return Err(SlotRangeError::Reversed(s.to_string()));
        }
        Ok(SlotRange { start, end })
    }
}

impl Serialize for SlotRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SlotRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Split all 16384 slots evenly over `n` primaries, in order, the way
/// `redis-cli --cluster create` does: each gets 16384/n slots, with the
/// remainder spread one by one from the first (3 primaries: 0-5460, 5461-10922,
/// 10923-16383).
pub fn even_split(n: usize) -> Vec<SlotRange> {
    assert!(
        n > 0 && n <= usize::from(SLOT_COUNT),
        "cannot split slots over {n} primaries"
    );
    // redis-cli walks a float cursor of 16384/n per primary and rounds it; we
    // reproduce the same boundaries with integers: primary i ends at
    // round((i+1) * 16384 / n) - 1.
    let total = u64::from(SLOT_COUNT);
    let n64 = n as u64;
    let mut out = Vec::with_capacity(n);
    let mut start = 0u64;
    for i in 0..n64 {
        let end = if i == n64 - 1 {
            total - 1
        } else {
            // round half up of (i+1)*total/n, minus one
            ((i + 1) * total * 2 + n64) / (2 * n64) - 1
        };
        out.push(SlotRange::new(start as u16, end as u16));
        start = end + 1;
    }
    out
}

/// Merge a sorted-or-not list of slots into the fewest ranges.
pub fn ranges_from_slots(slots: impl IntoIterator<Item = u16>) -> Vec<SlotRange> {
    let mut v: Vec<u16> = slots.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<SlotRange> = Vec::new();
    for s in v {
        match out.last_mut() {
            Some(r) if r.end + 1 == s => r.end = s,
            _ => out.push(SlotRange { start: s, end: s }),
        }
    }
    out
}

/// Total number of slots in a list of ranges.
pub fn count(ranges: &[SlotRange]) -> usize {
    ranges.iter().map(SlotRange::len).sum()
}

/// Ranges as `0-99,200,300-399`, the way `redis-cli` lists them.
pub fn join(ranges: &[SlotRange]) -> String {
    ranges
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn key_slot_vectors() {
        assert_eq!(key_slot(b"foo{hash_tag}"), 2515);
        assert_eq!(key_slot(b"somekey"), 11058);
        assert_eq!(key_slot(b"foo"), 12182);
        // hash tags: same tag, same slot
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // empty tag: the whole key is hashed
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOT_COUNT);
        // only the first tag counts
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOT_COUNT);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        // unterminated
        assert_eq!(key_slot(b"foo{bar"), crc16(b"foo{bar") % SLOT_COUNT);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn even_split_matches_redis_cli() {
        assert_eq!(
            even_split(3),
            vec![
                SlotRange::new(0, 5460),
                SlotRange::new(5461, 10922),
                SlotRange::new(10923, 16383)
            ]
        );
        assert_eq!(even_split(1), vec![SlotRange::new(0, 16383)]);
        assert_eq!(
            even_split(2),
            vec![SlotRange::new(0, 8191), SlotRange::new(8192, 16383)]
        );
        for n in 1..=64 {
            let split = even_split(n);
            assert_eq!(split.len(), n);
            assert_eq!(count(&split), 16384);
            assert_eq!(split[0].start, 0);
            assert_eq!(split[n - 1].end, 16383);
            for w in split.windows(2) {
                assert_eq!(w[0].end + 1, w[1].start);
            }
            let (min, max) = split.iter().fold((usize::MAX, 0), |(a, b), r| {
                (a.min(r.len()), b.max(r.len()))
            });
            assert!(max - min <= 1, "n={n}: {min}..{max}");
        }
    }

    #[test]
    fn parse_and_display_ranges() {
        assert_eq!(
            "0-5460".parse::<SlotRange>().unwrap(),
            SlotRange::new(0, 5460)
        );
        assert_eq!("7".parse::<SlotRange>().unwrap(), SlotRange::new(7, 7));
        assert_eq!(SlotRange::new(7, 7).to_string(), "7");
        assert_eq!(SlotRange::new(1, 9).to_string(), "1-9");
        assert_eq!(
            "16384".parse::<SlotRange>(),
            Err(SlotRangeError::OutOfRange(16384))
        );
        assert!(matches!(
            "9-1".parse::<SlotRange>(),
            Err(SlotRangeError::Reversed(_))
        ));
        assert!(matches!(
            "a-b".parse::<SlotRange>(),
            Err(SlotRangeError::Syntax(_))
        ));
    }

    #[test]
    fn ranges_merge() {
        assert_eq!(
            ranges_from_slots([5, 1, 2, 3, 9, 10, 2]),
            vec![
                SlotRange::new(1, 3),
                SlotRange::new(5, 5),
                SlotRange::new(9, 10)
            ]
        );
        assert!(ranges_from_slots([]).is_empty());
    }
}
