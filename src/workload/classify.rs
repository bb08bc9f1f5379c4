//! How a redis-rs error becomes an op's [`Outcome`]: a failure the server
//! or the network made certain, or an indeterminate one that may have applied.

use crate::record::ops::{ErrorKind, Outcome};

/// The outcome of a redis-rs error.
///
/// `sent` says whether the request may have reached the server: a connection
/// dropped or a response timeout after sending is then indeterminate. A
/// refused connection never sent anything, whatever `sent` says.
pub fn classify(err: &redis::RedisError, sent: bool) -> Outcome {
    use redis::{ErrorKind as K, ServerErrorKind as S};
    let message = err.to_string();
    let fail = |kind| Outcome::Fail {
        kind,
        message: message.clone(),
    };
    match err.kind() {
        K::Server(S::Moved) => fail(ErrorKind::Moved),
        K::Server(S::Ask) => fail(ErrorKind::Ask),
        K::Server(S::TryAgain) => fail(ErrorKind::TryAgain),
        K::Server(S::ClusterDown) => fail(ErrorKind::ClusterDown),
        K::Server(S::BusyLoading) => fail(ErrorKind::Loading),
        K::Server(S::ReadOnly) => fail(ErrorKind::ReadOnly),
        // redis-rs's "Transaction aborted" (EXECABORT): EXEC ran nothing, and
        // the queued command's own error (MOVED, TRYAGAIN, ...) says why.
        K::Server(S::ExecAbort) => match err.clone().into_server_errors() {
            Some(queued) => fail(aborted_kind(queued.iter().map(|(_, e)| e))),
            None => fail(ErrorKind::Other),
        },
        K::Server(_) | K::Extension => match err.code() {
            Some("LOADING") => fail(ErrorKind::Loading),
            Some("READONLY") => fail(ErrorKind::ReadOnly),
            Some("TRYAGAIN") => fail(ErrorKind::TryAgain),
            Some("CLUSTERDOWN") => fail(ErrorKind::ClusterDown),
            _ => fail(ErrorKind::Other),
        },
        _ if err.is_connection_refusal() => fail(ErrorKind::Connection),
        _ if err.is_timeout() => {
            if sent {
                Outcome::Indeterminate {
                    message: format!("timeout: {message}"),
                }
            } else {
                fail(ErrorKind::Timeout)
            }
        }
        K::Io => {
            if sent {
                Outcome::Indeterminate {
                    message: format!("connection: {message}"),
                }
            } else {
                fail(ErrorKind::Connection)
            }
        }
        K::ClusterConnectionNotFound => fail(ErrorKind::Connection),
        _ => fail(ErrorKind::Other),
    }
}

/// The class of an aborted transaction: that of the first queued command's
/// error that is not EXECABORT itself (`other` when none says more).
fn aborted_kind<'a>(queued: impl IntoIterator<Item = &'a redis::ServerError>) -> ErrorKind {
    queued
        .into_iter()
        .filter(|e| e.kind() != Some(redis::ServerErrorKind::ExecAbort))
        .find_map(|e| match classify(&e.clone().into(), false) {
            Outcome::Fail { kind, .. } => Some(kind),
            _ => None,
        })
        .unwrap_or(ErrorKind::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let moved = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::Moved),
            "moved",
            "3999 127.0.0.1:6381".to_string(),
        ));
        assert!(matches!(
            classify(&moved, true),
            Outcome::Fail {
                kind: ErrorKind::Moved,
                ..
            }
        ));
        let timeout = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(matches!(
            classify(&timeout, true),
            Outcome::Indeterminate { .. }
        ));
        assert!(matches!(
            classify(&timeout, false),
            Outcome::Fail {
                kind: ErrorKind::Timeout,
                ..
            }
        ));
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            classify(&refused, true),
            Outcome::Fail {
                kind: ErrorKind::Connection,
                ..
            }
        ));
        let reset =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            classify(&reset, true),
            Outcome::Indeterminate { .. }
        ));
        // An aborted transaction is classed by its queued command's error.
        let server = |resp: &str| match redis::parse_redis_value(resp.as_bytes()).unwrap() {
            redis::Value::ServerError(e) => e,
            other => panic!("{other:?}"),
        };
        let execabort = server("-EXECABORT Transaction discarded because of previous errors.\r\n");
        let moved = server("-MOVED 3999 127.0.0.1:6381\r\n");
        let tryagain = server("-TRYAGAIN Multiple keys request during rehashing of slot\r\n");
        assert_eq!(
            aborted_kind([&execabort, &moved, &tryagain]),
            ErrorKind::Moved
        );
        assert_eq!(aborted_kind([&tryagain]), ErrorKind::TryAgain);
        assert_eq!(aborted_kind([&execabort]), ErrorKind::Other);
        assert!(matches!(
            classify(&execabort.into(), true),
            Outcome::Fail {
                kind: ErrorKind::Other,
                ..
            }
        ));
        let loading = redis::make_extension_error("LOADING".into(), Some("x".into()));
        assert!(matches!(
            classify(&loading, true),
            Outcome::Fail {
                kind: ErrorKind::Loading,
                ..
            }
        ));
    }
}
