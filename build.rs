//! Marks the build `root` (the cfg the integration tests read) when it is
//! made as root, or when REDIS_DRILL_REQUIRE_ROOT=1 asks for the root-needing
//! tests to run whoever runs them: without it, those tests show as ignored
//! with the reason, rather than passing having checked nothing.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(root)");
    println!("cargo::rerun-if-env-changed=REDIS_DRILL_REQUIRE_ROOT");
    println!("cargo::rerun-if-env-changed=USER");
    println!("cargo::rerun-if-env-changed=SUDO_USER");
    let required = std::env::var("REDIS_DRILL_REQUIRE_ROOT").as_deref() == Ok("1");
    // The effective uid, from the kernel's own account of this process.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false);
    if root || required {
        println!("cargo::rustc-cfg=root");
    }
}
