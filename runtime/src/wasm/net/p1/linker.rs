//! The preview 1 functions that take a file descriptor, redefined in front of wasmtime-wasi's:
//! each resolves the guest's descriptor ([`P1Net::resolve`]), serves sockets itself and calls
//! wasmtime-wasi's own implementation (the functions `wiggle` generates, public in
//! `wasmtime_wasi::p1::wasi_snapshot_preview1`) with its descriptor for everything else.

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::types::Errno;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as p1;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;
use wasmtime_wasi::p1::WasiP1Ctx;
use wiggle::GuestMemory;

use super::abi::{errno, Mem, FDFLAGS_NONBLOCK, SDFLAGS_RD, SDFLAGS_WR, SUCCESS};
use super::poll::{fd_field, poll_sockets, read_subscriptions, write_events, Kind};
use super::socket::{errno_of, MAX_TRANSFER};
use super::{P1Net, Slot, Stream, Target};
use crate::wasm::guest::{ModuleGuest, ModuleWasi};

const MODULE: &str = "wasi_snapshot_preview1";

/// The guest's memory, wasmtime-wasi's context and the descriptor table, borrowed at once.
fn parts<'a>(caller: &'a mut Caller<'_, ModuleGuest>) -> wasmtime::Result<(&'a mut [u8], &'a mut WasiP1Ctx, &'a mut P1Net)> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (bytes, guest) = memory.data_and_store_mut(caller);
    let ModuleWasi { p1, net } = &mut guest.wasi;
    // What wiggle's own glue does before every call: the budget for copying guest arrays.
    p1.set_hostcall_fuel(fuel);
    Ok((bytes, p1, net))
}

fn inner_fd(fd: u32) -> i32 {
    i32::try_from(fd).unwrap_or(-1)
}

/// A function whose first argument is a descriptor: sockets get `$on_socket`.
macro_rules! through {
    ($linker:ident, $mode:ident $name:ident ($($p:ident: $t:ty),*) else $on_socket:ident) => {
        $linker.func_wrap_async(MODULE, stringify!($name), move |mut caller: Caller<'_, ModuleGuest>, (fd, $($p,)*): (i32, $($t,)*)| {
            Box::new(async move {
                let (bytes, ctx, net) = parts(&mut caller)?;
                Ok(match net.resolve(fd) {
                    Target::Inner(fd) => through!(@$mode p1::$name(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd) $(, $p)*)),
                    Target::Socket(_) => errno(Errno::$on_socket),
                    Target::Bad => errno(Errno::Badf),
                })
            })
        })?;
    };
    (@async $call:expr) => { $call.await? };
    (@sync $call:expr) => { $call? };
}

/// Redefines the descriptor functions of `linker` (which already holds wasmtime-wasi's).
pub fn shadow(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    through!(linker, async fd_advise(offset: i64, len: i64, advice: i32) else Spipe);
    through!(linker, sync fd_allocate(offset: i64, len: i64) else Spipe);
    through!(linker, async fd_datasync() else Inval);
    through!(linker, sync fd_fdstat_set_rights(base: i64, inheriting: i64) else Notsup);
    through!(linker, async fd_filestat_set_size(size: i64) else Inval);
    through!(linker, async fd_filestat_set_times(atim: i64, mtim: i64, flags: i32) else Inval);
    through!(linker, async fd_pread(iovs: i32, len: i32, offset: i64, nread: i32) else Spipe);
    through!(linker, async fd_pwrite(iovs: i32, len: i32, offset: i64, nwritten: i32) else Spipe);
    through!(linker, async fd_readdir(buf: i32, len: i32, cookie: i64, used: i32) else Notdir);
    through!(linker, async fd_seek(offset: i64, whence: i32, out: i32) else Spipe);
    through!(linker, async fd_sync() else Inval);
    through!(linker, sync fd_tell(out: i32) else Spipe);
    through!(linker, sync fd_prestat_dir_name(path: i32, len: i32) else Badf);
    through!(linker, async path_create_directory(path: i32, len: i32) else Notdir);
    through!(linker, async path_filestat_get(flags: i32, path: i32, len: i32, buf: i32) else Notdir);
    through!(linker, async path_filestat_set_times(flags: i32, path: i32, len: i32, atim: i64, mtim: i64, fst: i32) else Notdir);
    through!(linker, async path_readlink(path: i32, len: i32, buf: i32, buf_len: i32, used: i32) else Notdir);
    through!(linker, async path_remove_directory(path: i32, len: i32) else Notdir);
    through!(linker, async path_unlink_file(path: i32, len: i32) else Notdir);
    define_stat(linker)?;
    define_close_and_renumber(linker)?;
    define_two_fd_paths(linker)?;
    define_io(linker)?;
    define_sockets(linker)?;
    define_poll(linker)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn define_stat(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    linker.func_wrap_async(MODULE, "fd_fdstat_get", |mut caller: Caller<'_, ModuleGuest>, (fd, out): (i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(fd) => p1::fd_fdstat_get(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd), out).await?,
                Target::Socket(slot) => result(Mem(bytes).put_socket_fdstat(out as u32, nonblocking(slot))),
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    linker.func_wrap_async(MODULE, "fd_fdstat_set_flags", |mut caller: Caller<'_, ModuleGuest>, (fd, flags): (i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(fd) => p1::fd_fdstat_set_flags(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd), flags)?,
                Target::Socket(slot) => {
                    let on = (flags as u16) & FDFLAGS_NONBLOCK != 0;
                    match slot {
                        Slot::Listener(l) => l.nonblocking = on,
                        Slot::Stream(s) => s.nonblocking = on,
                        Slot::Inner(_) => {}
                    }
                    SUCCESS
                }
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    linker.func_wrap_async(MODULE, "fd_filestat_get", |mut caller: Caller<'_, ModuleGuest>, (fd, out): (i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(fd) => p1::fd_filestat_get(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd), out).await?,
                Target::Socket(_) => result(Mem(bytes).put_socket_filestat(out as u32)),
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    linker.func_wrap_async(MODULE, "fd_prestat_get", |mut caller: Caller<'_, ModuleGuest>, (fd, out): (i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(fd) => p1::fd_prestat_get(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd), out)?,
                // A preopen that is not a directory (tag 1): libc's preopen scan skips it and
                // goes on to the directories after the sockets (see the module doc).
                Target::Socket(_) => result(Mem(bytes).put(out as u32, &[1, 0, 0, 0, 0, 0, 0, 0])),
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    Ok(())
}

fn define_close_and_renumber(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    linker.func_wrap_async(MODULE, "fd_close", |mut caller: Caller<'_, ModuleGuest>, (fd,): (i32,)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(inner) => {
                    let code = p1::fd_close(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(inner)).await?;
                    if code == SUCCESS {
                        net.remove(fd);
                    }
                    code
                }
                Target::Socket(_) => {
                    net.remove(fd);
                    SUCCESS
                }
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    linker.func_wrap_async(MODULE, "fd_renumber", |mut caller: Caller<'_, ModuleGuest>, (from, to): (i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            if !net.is_mapped() {
                return p1::fd_renumber(ctx, &mut GuestMemory::Unshared(bytes), from, to).await;
            }
            if matches!(net.resolve(to), Target::Bad) {
                // As wasmtime-wasi: the target must be open.
                return Ok(errno(Errno::Badf));
            }
            Ok(match net.renumber(from, to) {
                Err(e) => errno(e),
                Ok(Some(Slot::Inner(replaced))) => {
                    // The descriptor `to` named before is closed, as dup2 does.
                    p1::fd_close(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(replaced)).await?;
                    SUCCESS
                }
                Ok(_) => SUCCESS,
            })
        })
    })?;
    linker.func_wrap_async(
        MODULE,
        "path_open",
        |mut caller: Caller<'_, ModuleGuest>,
         (fd, dirflags, path, len, oflags, base, inheriting, fdflags, out): (i32, i32, i32, i32, i32, i64, i64, i32, i32)| {
            Box::new(async move {
                let (bytes, ctx, net) = parts(&mut caller)?;
                let dir = match net.resolve(fd) {
                    Target::Inner(dir) => dir,
                    Target::Socket(_) => return Ok(errno(Errno::Notdir)),
                    Target::Bad => return Ok(errno(Errno::Badf)),
                };
                let code = p1::path_open(
                    ctx,
                    &mut GuestMemory::Unshared(&mut *bytes),
                    inner_fd(dir),
                    dirflags,
                    path,
                    len,
                    oflags,
                    base,
                    inheriting,
                    fdflags,
                    out,
                )
                .await?;
                if code != SUCCESS || !net.is_mapped() {
                    return Ok(code);
                }
                let mut mem = Mem(bytes);
                let opened = match mem.u32(out as u32) {
                    Ok(opened) => opened,
                    Err(e) => return Ok(errno(e)),
                };
                let guest_fd = net.adopt_inner(opened);
                Ok(result(mem.put_u32(out as u32, guest_fd)))
            })
        },
    )?;
    Ok(())
}

/// `path_link`, `path_rename` (two directory descriptors) and `path_symlink` (its third argument).
fn define_two_fd_paths(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    fn dir(net: &mut P1Net, fd: i32) -> Result<i32, i32> {
        match net.resolve(fd) {
            Target::Inner(fd) => Ok(inner_fd(fd)),
            Target::Socket(_) => Err(errno(Errno::Notdir)),
            Target::Bad => Err(errno(Errno::Badf)),
        }
    }
    linker.func_wrap_async(
        MODULE,
        "path_link",
        |mut caller: Caller<'_, ModuleGuest>, (old_fd, flags, old, old_len, new_fd, new, new_len): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (bytes, ctx, net) = parts(&mut caller)?;
                let (old_fd, new_fd) = match (dir(net, old_fd), dir(net, new_fd)) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return Ok(e),
                };
                p1::path_link(ctx, &mut GuestMemory::Unshared(bytes), old_fd, flags, old, old_len, new_fd, new, new_len).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_rename",
        |mut caller: Caller<'_, ModuleGuest>, (old_fd, old, old_len, new_fd, new, new_len): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (bytes, ctx, net) = parts(&mut caller)?;
                let (old_fd, new_fd) = match (dir(net, old_fd), dir(net, new_fd)) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return Ok(e),
                };
                p1::path_rename(ctx, &mut GuestMemory::Unshared(bytes), old_fd, old, old_len, new_fd, new, new_len).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_symlink",
        |mut caller: Caller<'_, ModuleGuest>, (old, old_len, fd, new, new_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (bytes, ctx, net) = parts(&mut caller)?;
                let fd = match dir(net, fd) {
                    Ok(fd) => fd,
                    Err(e) => return Ok(e),
                };
                p1::path_symlink(ctx, &mut GuestMemory::Unshared(bytes), old, old_len, fd, new, new_len).await
            })
        },
    )?;
    Ok(())
}

/// `fd_read` and `fd_write`, which work on connected sockets as `read(2)`/`write(2)` do.
fn define_io(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    linker.func_wrap_async(MODULE, "fd_read", |mut caller: Caller<'_, ModuleGuest>, (fd, iovs, len, out): (i32, i32, i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(fd) => p1::fd_read(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd), iovs, len, out).await?,
                Target::Socket(Slot::Stream(stream)) => receive(stream, &mut Mem(bytes), iovs, len, out, None).await,
                Target::Socket(_) => errno(Errno::Notconn),
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    linker.func_wrap_async(MODULE, "fd_write", |mut caller: Caller<'_, ModuleGuest>, (fd, iovs, len, out): (i32, i32, i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Inner(fd) => p1::fd_write(ctx, &mut GuestMemory::Unshared(bytes), inner_fd(fd), iovs, len, out).await?,
                Target::Socket(Slot::Stream(stream)) => send(stream, &mut Mem(bytes), iovs, len, out).await,
                Target::Socket(_) => errno(Errno::Notconn),
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    Ok(())
}

fn define_sockets(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    linker.func_wrap_async(MODULE, "sock_accept", |mut caller: Caller<'_, ModuleGuest>, (fd, flags, out): (i32, i32, i32)| {
        Box::new(async move {
            let (bytes, _ctx, net) = parts(&mut caller)?;
            let accepted = match net.resolve(fd) {
                Target::Socket(Slot::Listener(listener)) => listener.accept().await,
                Target::Socket(_) => return Ok(errno(Errno::Inval)),
                Target::Inner(_) => return Ok(errno(Errno::Notsock)),
                Target::Bad => return Ok(errno(Errno::Badf)),
            };
            let stream = match accepted {
                Ok(stream) => stream,
                Err(e) => return Ok(errno(errno_of(&e))),
            };
            let nonblocking = (flags as u16) & FDFLAGS_NONBLOCK != 0;
            let guest_fd = net.insert(Slot::Stream(Box::new(Stream::new(stream, nonblocking))));
            let written = Mem(bytes).put_u32(out as u32, guest_fd);
            if written.is_err() {
                net.remove(inner_fd(guest_fd));
            }
            Ok(result(written))
        })
    })?;
    linker.func_wrap_async(
        MODULE,
        "sock_recv",
        |mut caller: Caller<'_, ModuleGuest>, (fd, iovs, len, _flags, out, out_flags): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (bytes, _ctx, net) = parts(&mut caller)?;
                Ok(match net.resolve(fd) {
                    Target::Socket(Slot::Stream(stream)) => receive(stream, &mut Mem(bytes), iovs, len, out, Some(out_flags)).await,
                    Target::Socket(_) => errno(Errno::Notconn),
                    Target::Inner(_) => errno(Errno::Notsock),
                    Target::Bad => errno(Errno::Badf),
                })
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "sock_send",
        |mut caller: Caller<'_, ModuleGuest>, (fd, iovs, len, _flags, out): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (bytes, _ctx, net) = parts(&mut caller)?;
                Ok(match net.resolve(fd) {
                    Target::Socket(Slot::Stream(stream)) => send(stream, &mut Mem(bytes), iovs, len, out).await,
                    Target::Socket(_) => errno(Errno::Notconn),
                    Target::Inner(_) => errno(Errno::Notsock),
                    Target::Bad => errno(Errno::Badf),
                })
            })
        },
    )?;
    linker.func_wrap_async(MODULE, "sock_shutdown", |mut caller: Caller<'_, ModuleGuest>, (fd, how): (i32, i32)| {
        Box::new(async move {
            let (_bytes, _ctx, net) = parts(&mut caller)?;
            Ok(match net.resolve(fd) {
                Target::Socket(Slot::Stream(stream)) => match stream.shutdown(how & SDFLAGS_RD != 0, how & SDFLAGS_WR != 0) {
                    Ok(()) => SUCCESS,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => errno(Errno::Inval),
                    Err(e) => errno(errno_of(&e)),
                },
                Target::Socket(_) => errno(Errno::Notconn),
                Target::Inner(_) => errno(Errno::Notsock),
                Target::Bad => errno(Errno::Badf),
            })
        })
    })?;
    Ok(())
}

fn define_poll(linker: &mut Linker<ModuleGuest>) -> wasmtime::Result<()> {
    linker.func_wrap_async(MODULE, "poll_oneoff", |mut caller: Caller<'_, ModuleGuest>, (subs_at, events_at, count, out): (i32, i32, i32, i32)| {
        Box::new(async move {
            let (bytes, ctx, net) = parts(&mut caller)?;
            if !net.is_mapped() {
                return p1::poll_oneoff(ctx, &mut GuestMemory::Unshared(bytes), subs_at, events_at, count, out).await;
            }
            let (subs_at, events_at, count, out) = (subs_at as u32, events_at as u32, count as u32, out as u32);
            let subs = match read_subscriptions(&Mem(bytes), subs_at, count) {
                Ok(subs) if !subs.is_empty() => subs,
                Ok(_) => return Ok(errno(Errno::Inval)),
                Err(e) => return Ok(errno(e)),
            };
            let fd_of = |kind: Kind| match kind {
                Kind::Read(fd) | Kind::Write(fd) => Some(fd),
                Kind::Clock { .. } => None,
            };
            let on_socket = subs.iter().filter_map(|s| fd_of(s.kind)).any(|fd| !matches!(net.resolve(fd), Target::Inner(_)));
            if !on_socket {
                // Only wasmtime-wasi's descriptors: let it poll them under its own numbers,
                // then put the guest's numbers back.
                for (i, sub) in subs.iter().enumerate() {
                    if let Some(Target::Inner(inner)) = fd_of(sub.kind).map(|fd| net.resolve(fd)) {
                        result_of(Mem(bytes).put_u32(fd_field(subs_at, i as u32), inner))?;
                    }
                }
                let code = p1::poll_oneoff(ctx, &mut GuestMemory::Unshared(bytes), subs_at as i32, events_at as i32, count as i32, out as i32).await?;
                for (i, sub) in subs.iter().enumerate() {
                    if let Some(fd) = fd_of(sub.kind) {
                        result_of(Mem(bytes).put_u32(fd_field(subs_at, i as u32), fd as u32))?;
                    }
                }
                return Ok(code);
            }
            // The guest's monotonic clock, for absolute deadlines: read through wasmtime-wasi
            // into the events buffer, which is overwritten afterwards anyway.
            let needs_clock = subs.iter().any(|s| matches!(s.kind, Kind::Clock { id: 1, absolute: true, .. }));
            let monotonic_now = if needs_clock {
                let code = p1::clock_time_get(ctx, &mut GuestMemory::Unshared(bytes), 1, 0, events_at as i32)?;
                if code != SUCCESS {
                    return Ok(code);
                }
                Mem(bytes).u64(events_at).unwrap_or(0)
            } else {
                0
            };
            let events = poll_sockets(net, &subs, monotonic_now).await;
            let mut mem = Mem(bytes);
            if let Err(e) = write_events(&mut mem, events_at, &events) {
                return Ok(errno(e));
            }
            Ok(result(mem.put_u32(out, events.len() as u32)))
        })
    })?;
    Ok(())
}

/// Receives into the iovecs; `flags_out` is `sock_recv`'s `roflags` (always 0).
async fn receive(stream: &mut Stream, mem: &mut Mem<'_>, iovs: i32, len: i32, out: i32, flags_out: Option<i32>) -> i32 {
    let iovs = match mem.iovecs(iovs as u32, len as u32) {
        Ok(iovs) => iovs,
        Err(e) => return errno(e),
    };
    let room: usize = iovs.iter().map(|(_, len)| *len as usize).sum();
    let data = match stream.recv(room.min(MAX_TRANSFER)).await {
        Ok(data) => data,
        Err(e) => return errno(errno_of(&e)),
    };
    let written = match mem.scatter(&iovs, &data) {
        Ok(n) => n,
        Err(e) => return errno(e),
    };
    if let Some(at) = flags_out {
        if let Err(e) = mem.put_u16(at as u32, 0) {
            return errno(e);
        }
    }
    result(mem.put_u32(out as u32, written))
}

async fn send(stream: &mut Stream, mem: &mut Mem<'_>, iovs: i32, len: i32, out: i32) -> i32 {
    let data = match mem.iovecs(iovs as u32, len as u32).and_then(|iovs| mem.gather(&iovs, MAX_TRANSFER)) {
        Ok(data) => data,
        Err(e) => return errno(e),
    };
    match stream.send(&data).await {
        Ok(n) => result(mem.put_u32(out as u32, n as u32)),
        Err(e) => errno(errno_of(&e)),
    }
}

fn nonblocking(slot: &Slot) -> bool {
    match slot {
        Slot::Listener(l) => l.nonblocking,
        Slot::Stream(s) => s.nonblocking,
        Slot::Inner(_) => false,
    }
}

fn result(written: Result<(), Errno>) -> i32 {
    match written {
        Ok(()) => SUCCESS,
        Err(e) => errno(e),
    }
}

/// A failed write into the guest's own subscriptions (which were just read) is a host bug.
fn result_of(written: Result<(), Errno>) -> wasmtime::Result<()> {
    written.map_err(|e| wasmtime::format_err!("rewriting poll_oneoff subscriptions: {e:?}"))
}

#[cfg(test)]
mod tests {
    use wasmtime::{Engine, Store};

    use super::*;
    use crate::wasm::guest::Guest;
    use crate::wasm::limits::{MemoryLimiter, MemoryRecord};

    #[test]
    fn every_redefined_function_keeps_the_type_of_the_original() {
        let engine = Engine::default();
        let guest = || Guest {
            wasi: ModuleWasi { p1: wasmtime_wasi::WasiCtxBuilder::new().build_p1(), net: P1Net::default() },
            limiter: MemoryLimiter::new(None, std::sync::Arc::new(MemoryRecord::default())),
        };
        let mut original: Linker<ModuleGuest> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut original, |g: &mut ModuleGuest| &mut g.wasi.p1).expect("p1");
        let mut shadowed = original.clone();
        shadow(&mut shadowed).expect("shadow");
        let mut store = Store::new(&engine, guest());
        let mut checked = 0;
        let names: Vec<String> =
            original.iter(&mut store).filter(|(module, _, _)| *module == MODULE).map(|(_, name, _)| name.to_owned()).collect();
        for name in names {
            let before = original.get(&mut store, MODULE, &name).ok().and_then(|e| e.into_func()).expect("original");
            let after = shadowed.get(&mut store, MODULE, &name).ok().and_then(|e| e.into_func()).expect("shadowed");
            let (before, after) = (before.ty(&store), after.ty(&store));
            assert!(wasmtime::FuncType::eq(&before, &after), "{name}: {before:?} became {after:?}");
            checked += 1;
        }
        assert!(checked >= 40, "only {checked} functions");
    }
}
