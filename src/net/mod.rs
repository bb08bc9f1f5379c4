//! TEMPORARY STUB until the net branch lands (replaced at merge).
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grudge(pub BTreeMap<String, BTreeSet<String>>);
impl Grudge {
    pub fn union(&self, o: &Grudge) -> Grudge {
        let mut g = self.clone();
        for (k, v) in &o.0 {
            g.0.entry(k.clone()).or_default().extend(v.iter().cloned());
        }
        g
    }
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|v| v.is_empty())
    }
    pub fn describe(&self) -> String {
        String::new()
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Isolate,
    Halves,
    Bridge,
    MajoritiesRing,
    Primaries,
    OneWay,
    Regions,
}
impl Shape {
    pub const NAMES: [&'static str; 7] = [
        "isolate",
        "halves",
        "bridge",
        "majorities_ring",
        "primaries",
        "one_way",
        "regions",
    ];
    pub fn needs_target(self) -> bool {
        matches!(self, Shape::Isolate | Shape::OneWay)
    }
}
impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Shape::NAMES[*self as usize])
    }
}
impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Shape, String> {
        use Shape::*;
        [
            Isolate,
            Halves,
            Bridge,
            MajoritiesRing,
            Primaries,
            OneWay,
            Regions,
        ]
        .into_iter()
        .find(|x| x.to_string() == s)
        .ok_or_else(|| format!("unknown shape `{s}`"))
    }
}
pub fn isolate(node: &str, all: &[String]) -> Grudge {
    let _ = (node, all);
    Grudge::default()
}
pub fn halves(all: &[String]) -> Grudge {
    let _ = all;
    Grudge::default()
}
pub fn bridge(all: &[String]) -> Grudge {
    let _ = all;
    Grudge::default()
}
pub fn majorities_ring(all: &[String]) -> Grudge {
    let _ = all;
    Grudge::default()
}
pub fn primaries(p: &[String], all: &[String]) -> Grudge {
    let _ = (p, all);
    Grudge::default()
}
pub fn one_way(from: &str, to: &str) -> Grudge {
    let _ = (from, to);
    Grudge::default()
}
pub fn regions(m: &BTreeMap<String, String>) -> Grudge {
    let _ = m;
    Grudge::default()
}
#[derive(Debug, thiserror::Error)]
#[error("net")]
pub struct NetError;
impl NetError {
    pub fn exit_code(&self) -> i32 {
        3
    }
}
pub async fn apply(
    rt: &crate::runtime::Runtime,
    d: &crate::runtime::Deployment,
    g: &Grudge,
) -> Result<(), NetError> {
    let _ = (rt, d, g);
    Ok(())
}
pub async fn heal(
    rt: &crate::runtime::Runtime,
    d: &crate::runtime::Deployment,
) -> Result<(), NetError> {
    let _ = (rt, d);
    Ok(())
}
pub async fn preflight(
    rt: &crate::runtime::Runtime,
    d: &crate::runtime::Deployment,
) -> Result<(), NetError> {
    let _ = (rt, d);
    Ok(())
}
