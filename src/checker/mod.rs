//! Checkers: pure functions from a history and a timeline to verdicts and figures. They never touch the system.
