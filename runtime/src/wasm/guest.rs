//! The per-Store state of a wasm container and the WASI context built from its
//! `ContainerConfig`: argv, env, working directory, and one preopened
//! directory per mount at its container path, read-only when the mount is.
//! The same builder serves both kinds of program: a core module gets the
//! preview 1 context, a component the preview 2 context and its resource table.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits::MemoryLimiter;
use super::net::dns::{LookupView, PodResolver};
use super::net::p1::P1Net;
use super::WasmError;
use crate::cri::Mount;

/// What a Store holds for one instance: its WASI state `W` and its memory limiter.
pub struct Guest<W> {
    pub wasi: W,
    pub limiter: MemoryLimiter,
}

/// The Store state of a WASI preview 1 core module.
pub type ModuleGuest = Guest<ModuleWasi>;

/// The WASI state of a core module: wasmtime-wasi's preview 1 context and the sockets the node
/// handed over (see [`crate::wasm::net::p1`]).
pub struct ModuleWasi {
    pub p1: WasiP1Ctx,
    pub net: P1Net,
}
/// The Store state of a WASI preview 2 component.
pub type ComponentGuest = Guest<ComponentWasi>;

/// The WASI state of a component: the context and the table of the resources (streams,
/// descriptors, pollables) the guest holds handles to.
pub struct ComponentWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    /// Answers `wasi:sockets/ip-name-lookup`; `None`: no lookups (no pod network).
    resolver: Option<Arc<PodResolver>>,
}

impl ComponentWasi {
    pub fn new(ctx: WasiCtx, resolver: Option<Arc<PodResolver>>) -> Self {
        ComponentWasi { ctx, table: ResourceTable::new(), resolver }
    }

    /// What the name lookup functions use.
    pub fn lookups(&mut self) -> LookupView<'_> {
        LookupView { table: &mut self.table, resolver: self.resolver.as_ref() }
    }
}

impl WasiView for ComponentWasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// What the preview 2 host functions in the component Linker reach through.
impl WasiView for ComponentGuest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

/// Adds argv, env, working directory and mounts to `builder`, whose stdio the caller has set.
pub fn configure_wasi(
    builder: &mut WasiCtxBuilder,
    argv: &[String],
    env: &[(String, String)],
    working_dir: Option<&str>,
    mounts: &[Mount],
) -> Result<(), WasmError> {
    builder.args(argv).envs(env);
    if let Some(dir) = working_dir {
        // Seen by preview 2 guests as their initial cwd; wasi-libc (preview 1) resolves
        // relative paths against the preopens instead.
        builder.initial_cwd(dir);
    }
    for mount in mounts {
        preopen(builder, mount)?;
    }
    Ok(())
}

fn preopen(builder: &mut WasiCtxBuilder, mount: &Mount) -> Result<(), WasmError> {
    if !Path::new(&mount.container_path).is_absolute() {
        return Err(WasmError::Mount { path: mount.container_path.clone(), why: "the mount path must be absolute".into() });
    }
    if !mount.host_path.is_dir() {
        // WASI preopens are directories; a single-file mount (subPath of a file) has no equivalent.
        return Err(WasmError::Mount {
            path: mount.container_path.clone(),
            why: format!("{} is not a directory", mount.host_path.display()),
        });
    }
    let perms = if mount.read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
    builder
        .preopened_dir(&mount.host_path, &mount.container_path, perms)
        .map_err(|e| WasmError::Mount { path: mount.container_path.clone(), why: e.to_string() })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(host: &Path, at: &str) -> Mount {
        Mount { container_path: at.into(), host_path: host.to_owned(), read_only: true }
    }

    #[test]
    fn mounts_must_be_absolute_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").expect("file");
        let mut builder = WasiCtxBuilder::new();
        assert!(configure_wasi(&mut builder, &["m".into()], &[], None, &[mount(dir.path(), "/data")]).is_ok());
        let relative = configure_wasi(&mut builder, &[], &[], None, &[mount(dir.path(), "data")]);
        assert!(matches!(relative, Err(WasmError::Mount { .. })));
        let not_dir = configure_wasi(&mut builder, &[], &[], None, &[mount(&file, "/f")]);
        assert!(matches!(not_dir, Err(WasmError::Mount { why, .. }) if why.contains("not a directory")));
    }
}
