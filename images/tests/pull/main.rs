//! Pulls against real local registries (Debian's docker-registry), started by the project's
//! test scripts: tags, digests, indexes, auth, corruption, sharing, concurrency, whiteouts, wasm.

#[path = "../support/container.rs"]
mod container;
mod fixture;
mod scenarios;
