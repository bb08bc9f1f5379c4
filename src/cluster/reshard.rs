//! Live resharding: slot migration plans and the engine that executes them.
