//! Cluster administration written in Rust: slot math, CLUSTER NODES parsing,
//! create (MEET, ADDSLOTSRANGE, REPLICATE), wait-for-convergence, and the four
//! checks of `redis-cli --cluster check`.

pub mod slots;
