//! Pulls against real local registries (Debian's docker-registry), started by the project's
//! test scripts: tags, digests, indexes, auth, corruption, sharing, concurrency, whiteouts, wasm.

mod fixture;
mod scenarios;
