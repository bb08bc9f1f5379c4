//! [`WorkloadError`]: its own leaf, so that every file of the workload can
//! name it without reaching up into the folder's `mod.rs`.

use crate::cluster::ClusterError;

/// What went wrong setting up, loading or reading back a workload. Messages are
/// lowercase fragments that read after "failed to".
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("check the workload spec: {0}")]
    Spec(String),

    #[error("start the workload: the address map has no nodes")]
    NoNodes,

    /// An address could not be mapped, or another cluster-side problem.
    #[error("map a node address")]
    Address(#[from] ClusterError),

    #[error("reach the cluster: {0}")]
    Cluster(String),

    /// A client library's adapter could not start (named in the message).
    #[error("start a client library's adapter: {0}")]
    Adapter(String),

    #[error("connect the app client")]
    AppClient(#[source] redis::RedisError),

    /// `load` could not write some keys.
    #[error("load {failed} of {total} keys; first: {key}: {error}")]
    Load {
        failed: usize,
        total: usize,
        key: String,
        error: String,
    },

    /// `read_final` could not read some keys (a nil reply is a value, not this).
    #[error("read {failed} of {total} keys back; first: {key}: {error}")]
    Read {
        failed: usize,
        total: usize,
        key: String,
        error: String,
    },
}
