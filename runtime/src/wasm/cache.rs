//! Compiled programs (core modules and components), at two levels: linked
//! [`Program`]s in memory (imports resolved and type-checked once per image
//! and Engine; instantiating one costs microseconds) and compiled artifacts
//! on disk, so that a restarted node loads a program in tens of microseconds
//! instead of compiling it again.
//! Disk entries are keyed by the image digest and the Engine's fingerprint
//! (codegen settings and wasmtime version): an artifact from another Engine
//! configuration would fail to load, so it is never looked up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::artifact::{artifact_path, Compiled};
use super::engine::{EngineKit, Metering};
use super::program::{Program, ProgramKind};
use super::WasmError;

/// Where a program came from this time, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub compiles: u64,
}

/// A program is linked per Engine: the Engine's metering and the image digest.
type Key = (Metering, String);

pub struct ProgramCache {
    /// `None`: no disk cache (benchmarks of compilation).
    dir: Option<PathBuf>,
    ready: Mutex<HashMap<Key, Program>>,
    /// One lock per program being prepared: a burst of pods of a new image
    /// compiles it once, the others wait for that compile instead of repeating it.
    inflight: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    compiles: AtomicU64,
}

impl ProgramCache {
    pub fn new(dir: Option<PathBuf>) -> Result<Self, WasmError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|source| WasmError::Cache { path: dir.clone(), source })?;
        }
        Ok(ProgramCache {
            dir,
            ready: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            compiles: AtomicU64::new(0),
        })
    }

    pub fn counters(&self) -> CacheCounters {
        CacheCounters {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
        }
    }

    /// The linked program with `digest` (the image's content digest, trusted to name `bytes`)
    /// on the Engine of `kit`.
    pub async fn prepare(
        self: &Arc<Self>,
        kit: &EngineKit,
        metering: Metering,
        digest: &str,
        bytes: Arc<[u8]>,
    ) -> Result<Program, WasmError> {
        let key = (metering, digest.to_owned());
        if let Some(pre) = self.ready().get(&key) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(pre.clone());
        }
        let gate = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(inflight.entry(key.clone()).or_default())
        };
        let _compiling = gate.lock().await;
        if let Some(pre) = self.ready().get(&key) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(pre.clone());
        }
        // Compiling takes tens of milliseconds of CPU: keep it off the async workers.
        let cache = Arc::clone(self);
        let kit = kit.clone();
        let digest = digest.to_owned();
        let pre = tokio::task::spawn_blocking(move || -> Result<Program, WasmError> {
            let compiled = cache.load_or_compile(&kit, &digest, &bytes)?;
            Program::link(&kit, &compiled)
        })
        .await
        .map_err(|e| WasmError::Engine(format!("compile task: {e}")))??;
        self.ready().insert(key.clone(), pre.clone());
        self.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        Ok(pre)
    }

    fn load_or_compile(&self, kit: &EngineKit, digest: &str, bytes: &[u8]) -> Result<Compiled, WasmError> {
        let kind = ProgramKind::detect(bytes)?;
        let path = self.dir.as_ref().map(|dir| artifact_path(dir, &kit.fingerprint, digest));
        if let Some(path) = path.as_deref().filter(|p| p.exists()) {
            match Compiled::load(&kit.engine, kind, path) {
                Ok(compiled) => {
                    self.disk_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(compiled);
                }
                // A truncated or foreign file: compile again and replace it.
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "unusable compiled program; recompiling"),
            }
        }
        let compiled = Compiled::compile(&kit.engine, bytes)?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = path {
            // The cache is an optimisation: failing to fill it must not fail the container.
            if let Err(e) = compiled.store(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot cache compiled program");
            }
        }
        Ok(compiled)
    }

    fn ready(&self) -> MutexGuard<'_, HashMap<Key, Program>> {
        self.ready.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::engine::EngineFlavor;

    // A WASI command that does nothing: enough to compile, link and cache.
    const EMPTY_COMMAND: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;
    // The same as a component: `wasi:cli/run` whose `run` returns ok (discriminant 0).
    const EMPTY_COMPONENT: &str = r#"(component
        (core module $m (func (export "run") (result i32) i32.const 0))
        (core instance $i (instantiate $m))
        (func $run (result (result)) (canon lift (core func $i "run")))
        (instance $cli (export "run" (func $run)))
        (export "wasi:cli/run@0.2.0" (instance $cli)))"#;

    fn engine_kit(fuel: bool) -> EngineKit {
        EngineKit::new(EngineFlavor { epochs: true, fuel, pool_slots: None }).expect("engine")
    }

    #[tokio::test]
    async fn second_cache_loads_from_disk_and_then_from_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kit = engine_kit(false);
        for (digest, wat) in [("sha256:aa", EMPTY_COMMAND), ("sha256:cc", EMPTY_COMPONENT)] {
            let bytes = wasm(wat);
            let first = Arc::new(ProgramCache::new(Some(dir.path().to_owned())).expect("cache"));
            first.prepare(&kit, Metering::Epochs, digest, bytes.clone()).await.expect("compile");
            assert_eq!(first.counters(), CacheCounters { compiles: 1, ..CacheCounters::default() });

            let second = Arc::new(ProgramCache::new(Some(dir.path().to_owned())).expect("cache"));
            let loaded = second.prepare(&kit, Metering::Epochs, digest, bytes.clone()).await.expect("load");
            second.prepare(&kit, Metering::Epochs, digest, bytes.clone()).await.expect("memory");
            assert_eq!(second.counters(), CacheCounters { memory_hits: 1, disk_hits: 1, compiles: 0 }, "{digest}");
            assert_eq!(loaded.kind(), ProgramKind::detect(&bytes).expect("kind"));

            // Another Engine configuration never sees that artifact.
            second.prepare(&engine_kit(true), Metering::Fuel, digest, bytes).await.expect("compile for fuel");
            assert_eq!(second.counters().compiles, 1);
        }
    }

    #[tokio::test]
    async fn a_corrupt_artifact_is_recompiled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kit = engine_kit(false);
        std::fs::write(artifact_path(dir.path(), &kit.fingerprint, "sha256:bb"), b"garbage").expect("write");
        let cache = Arc::new(ProgramCache::new(Some(dir.path().to_owned())).expect("cache"));
        cache.prepare(&kit, Metering::Epochs, "sha256:bb", wasm(EMPTY_COMMAND)).await.expect("recompiled");
        assert_eq!(cache.counters().compiles, 1);
    }

    #[tokio::test]
    async fn a_component_that_is_not_a_command_is_refused_at_link_time() {
        let kit = engine_kit(false);
        let cache = Arc::new(ProgramCache::new(None).expect("cache"));
        let library = wasm("(component)");
        let refused = cache.prepare(&kit, Metering::Epochs, "sha256:dd", library).await;
        assert!(matches!(&refused, Err(WasmError::Link(why)) if why.contains("wasi:cli/run")), "{:?}", refused.err());
        let text = cache.prepare(&kit, Metering::Epochs, "sha256:ee", Arc::from(&b"(module)"[..])).await;
        assert!(matches!(text, Err(WasmError::Compile(_))), "only binaries are programs");
    }

    fn wasm(wat: &str) -> Arc<[u8]> {
        Arc::from(wat::parse_str(wat).expect("valid wat"))
    }
}
