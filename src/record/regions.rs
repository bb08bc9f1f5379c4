//! Which region a client or worker number stands in: the placement rule every
//! recording's client and worker numbers follow. A leaf, so the recordings use
//! it without reaching up into `record/mod.rs`.

/// The region of client `client` when clients are spread over `regions` in
/// turn (client i in `regions[i mod n]`); `None` without regions. The
/// placement rule every recording's client and worker numbers follow.
pub fn region_of(regions: &[String], client: u32) -> Option<&str> {
    (!regions.is_empty()).then(|| regions[client as usize % regions.len()].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_take_the_regions_in_turn() {
        let r = vec!["eu".to_string(), "us".to_string()];
        let got: Vec<_> = (0..5).map(|c| region_of(&r, c).unwrap()).collect();
        assert_eq!(got, ["eu", "us", "eu", "us", "eu"]);
        assert_eq!(region_of(&[], 3), None);
    }
}
