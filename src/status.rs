//! The topology report of a running deployment.
