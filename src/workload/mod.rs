//! Workload generation, clients and the operation history.
