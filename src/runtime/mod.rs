//! Runtimes: bring a topology up as Docker containers (bollard) or as local
//! redis-server processes, control its nodes, and remove everything by run id.

pub mod config;
