//! The files under `compose/` must be what `redis-drill compose` prints today
//! for the topologies under `topologies/`. Regenerate them with
//! `UPDATE_COMPOSE=1 cargo test --test compose_drift`, or one at a time with
//! `cargo run -- compose topologies/X.yaml > compose/X.yml`.

use std::path::{Path, PathBuf};

use redis_drill::compose::{DEFAULT_IMAGE_FOR_COMPOSE, render};
use redis_drill::topology::Topology;

/// Every `topologies/*.yaml`, by relative path (the compose header names the
/// file the way the regeneration command does), sorted.
fn topologies() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir("topologies")
        .expect("tests run from the crate root")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| Path::new("topologies").join(p.file_name().unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn compose_files_match_the_topologies() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let update = std::env::var_os("UPDATE_COMPOSE").is_some_and(|v| v == "1");
    let files = topologies();
    assert!(!files.is_empty(), "no topologies/*.yaml");
    let mut stale = Vec::new();
    for topo in &files {
        let stem = topo.file_stem().unwrap().to_string_lossy().into_owned();
        let t = Topology::load(topo).unwrap_or_else(|e| panic!("{e}"));
        // TLS and passwords are made at bring-up by the process runtime; a
        // compose file of such a topology would be a plain one: none kept.
        if !t.security.is_plain() {
            continue;
        }
        let want = render(&t, DEFAULT_IMAGE_FOR_COMPOSE);
        let path = Path::new("compose").join(format!("{stem}.yml"));
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            continue;
        }
        if update {
            std::fs::create_dir_all("compose").unwrap();
            std::fs::write(&path, &want).unwrap();
            eprintln!("wrote {}", path.display());
        } else {
            stale.push(format!(
                "{} is out of date: run `cargo run -- compose {} > {}` (or `UPDATE_COMPOSE=1 cargo test --test compose_drift`)",
                path.display(),
                topo.display(),
                path.display()
            ));
        }
    }
    // A compose file whose topology is gone is stale too.
    if let Ok(dir) = std::fs::read_dir("compose") {
        for e in dir {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "yml") {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                if !files.iter().any(|t| {
                    t.file_stem().is_some_and(|s| s.to_string_lossy() == stem)
                        && Topology::load(t).is_ok_and(|t| t.security.is_plain())
                }) {
                    stale.push(format!(
                        "{} has no topologies/{stem}.yaml: remove it",
                        p.display()
                    ));
                }
            }
        }
    }
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

#[test]
fn compose_files_are_yaml_with_a_service_per_node() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    for topo in topologies() {
        let t = Topology::load(&topo).unwrap_or_else(|e| panic!("{e}"));
        let text = render(&t, DEFAULT_IMAGE_FOR_COMPOSE);
        let v: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", topo.display()));
        let services = v["services"].as_object().expect("services");
        for n in &t.nodes {
            let s = &services[&n.name];
            assert_eq!(
                s["labels"]["redis-drill.node"],
                n.name.as_str(),
                "{}",
                topo.display()
            );
            assert_eq!(s["labels"]["redis-drill.region"], n.region.as_str());
        }
        let extra = usize::from(t.kind == redis_drill::topology::Kind::Cluster);
        assert_eq!(services.len(), t.nodes.len() + extra, "{}", topo.display());
        assert!(v["networks"][&t.name]["ipam"]["config"][0]["subnet"].is_string());
    }
}
