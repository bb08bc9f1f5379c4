//! Before the run, [`load`] writes every key of the key space with a known
//! value (the lost-write checker's initial state); after it, [`read_final`]
//! reads every key back. Both pipeline per node and follow MOVED/ASK, nothing else.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use redis::{Cmd, RedisError, Value};
use serde::Serialize;

use super::error::WorkloadError;
use super::generator::{client_seed, initial_value};
use super::router::Router;
use super::sharding::Sharding;
use super::spec::WorkloadSpec;
use crate::cluster::AddressMap;
use crate::slots::key_slot;

/// Response timeout of one pipeline of [`load`] and [`read_final`]: a
/// thousand commands of up to 1 MiB each on loopback, with room for a busy box.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(10);

/// The state `load` left behind.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Key -> the value written; counter keys (when the mix has incr) -> "0";
    /// every member of group n (when the mix has txn or txn_read) -> `init-g<n>`,
    /// one id for the whole group. The checkers' initial state.
    pub initial: HashMap<String, String>,
    pub elapsed_ms: u64,
}

/// Write every key of `spec`'s key space (`init-<n>-xxx…` at the spec's value
/// size, sizes drawn from `seed`), every counter (0) when the mix has incr,
/// and every group's members (its initial id) when it has txn or txn_read.
pub async fn load(
    map: &AddressMap,
    sharding: &Sharding,
    spec: &WorkloadSpec,
    seed: u64,
) -> Result<LoadReport, WorkloadError> {
    spec.validate()?;
    let started = Instant::now();
    let router = Router::connect(map, sharding, PIPELINE_TIMEOUT).await?;
    // A stream of its own, apart from every client's.
    let mut rng = StdRng::seed_from_u64(client_seed(seed, u32::MAX));
    let sizes = spec.value_size.draw();
    let mut initial = HashMap::with_capacity(spec.keys as usize);
    let mut keys = Vec::with_capacity(spec.keys as usize);
    let mut cmds = Vec::with_capacity(spec.keys as usize);
    for n in 0..spec.keys {
        let key = spec.key(n);
        let value = initial_value(n, sizes.next(&mut rng));
        cmds.push((
            key_slot(key.as_bytes()),
            redis::cmd("SET").arg(&key).arg(&value).to_owned(),
        ));
        initial.insert(key.clone(), value);
        keys.push(key);
    }
    if spec.mix.incr > 0 {
        for n in 0..spec.counter_keys {
            let key = spec.counter_key(n);
            cmds.push((
                key_slot(key.as_bytes()),
                redis::cmd("SET").arg(&key).arg(0).to_owned(),
            ));
            initial.insert(key.clone(), "0".to_string());
            keys.push(key);
        }
    }
    if spec.mix.has_groups() {
        for n in 0..spec.groups {
            let id = format!("init-g{n}");
            for key in spec.group_members(n) {
                cmds.push((
                    key_slot(key.as_bytes()),
                    redis::cmd("SET").arg(&key).arg(&id).to_owned(),
                ));
                initial.insert(key.clone(), id.clone());
                keys.push(key);
            }
        }
    }
    let results = router.pipelined(&cmds).await;
    let failed = first_failure(&keys, &results, |v| matches!(v, Value::Okay));
    if let Some((count, key, error)) = failed {
        return Err(WorkloadError::Load {
            failed: count,
            total: keys.len(),
            key,
            error,
        });
    }
    Ok(LoadReport {
        initial,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Read every key in `keys` (GET, pipelined per node, MOVED/ASK followed).
/// A nil reply is `None`; a key that could not be read fails the whole read,
/// since a guess would be taken for a lost write.
pub async fn read_final(
    map: &AddressMap,
    sharding: &Sharding,
    keys: &[String],
) -> Result<HashMap<String, Option<String>>, WorkloadError> {
    let router = Router::connect(map, sharding, PIPELINE_TIMEOUT).await?;
    let cmds: Vec<(u16, Cmd)> = keys
        .iter()
        .map(|k| (key_slot(k.as_bytes()), redis::cmd("GET").arg(k).to_owned()))
        .collect();
    let results = router.pipelined(&cmds).await;
    let failed = first_failure(keys, &results, |v| {
        matches!(v, Value::Nil | Value::BulkString(_))
    });
    if let Some((count, key, error)) = failed {
        return Err(WorkloadError::Read {
            failed: count,
            total: keys.len(),
            key,
            error,
        });
    }
    Ok(keys
        .iter()
        .zip(results)
        .map(|(k, r)| {
            let v = match r {
                Ok(Value::BulkString(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            };
            (k.clone(), v)
        })
        .collect())
}

/// (failures, first failing key, its error) when any result is an error or
/// not the expected reply.
fn first_failure(
    keys: &[String],
    results: &[Result<Value, RedisError>],
    expected: impl Fn(&Value) -> bool,
) -> Option<(usize, String, String)> {
    let mut first = None;
    let mut count = 0;
    for (k, r) in keys.iter().zip(results) {
        let problem = match r {
            Ok(v) if expected(v) => continue,
            Ok(v) => format!("unexpected reply {v:?}"),
            Err(e) => e.to_string(),
        };
        count += 1;
        first.get_or_insert((k.clone(), problem));
    }
    first.map(|(k, e)| (count, k, e))
}
