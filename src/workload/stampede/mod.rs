//! The stampede workload's runner: the readers of [`crate::record::stampede`]'s
//! spec, each a `get_or_compute` loop, recording every read and computation.

mod runner;

pub use runner::{StampedeError, StampedeWorkload};
