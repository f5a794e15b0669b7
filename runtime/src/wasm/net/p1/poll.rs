//! `poll_oneoff` when a subscription names a socket: wasmtime-wasi cannot wait on sockets it
//! does not know, so such a poll is served here in full. Sockets and clocks are waited on for
//! real; any other descriptor in the same poll (a file, stdout) is reported ready at once, as
//! regular files always are (stdin polled together with a socket is the one case this
//! simplifies: it reads as ready).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, Sleep};
use wasmtime_wasi::p1::types::Errno;

use super::abi::{Mem, CLOCK_ABSTIME, EVENT_CLOCK, EVENT_FD_READ, EVENT_FD_WRITE, EVENT_SIZE, SUBSCRIPTION_SIZE};
use super::{P1Net, Slot, Target};

/// One subscription as the guest wrote it.
#[derive(Clone, Copy, Debug)]
pub struct Subscription {
    pub userdata: u64,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `clock_id`, timeout (ns), absolute?
    Clock { id: u32, timeout: u64, absolute: bool },
    Read(i32),
    Write(i32),
}

/// One event to hand back.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub userdata: u64,
    pub error: Option<Errno>,
    pub kind: u8,
}

pub fn read_subscriptions(mem: &Mem<'_>, at: u32, count: u32) -> Result<Vec<Subscription>, Errno> {
    mem.slice(at, count.checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::Fault)?)?;
    (0..count)
        .map(|i| {
            let base = at + i * SUBSCRIPTION_SIZE;
            let userdata = mem.u64(base)?;
            let kind = match mem.u8(base + 8)? {
                EVENT_CLOCK => Kind::Clock {
                    id: mem.u32(base + 16)?,
                    timeout: mem.u64(base + 24)?,
                    absolute: mem.u16(base + 40)? & CLOCK_ABSTIME != 0,
                },
                EVENT_FD_READ => Kind::Read(mem.u32(base + 16)? as i32),
                EVENT_FD_WRITE => Kind::Write(mem.u32(base + 16)? as i32),
                _ => return Err(Errno::Inval),
            };
            Ok(Subscription { userdata, kind })
        })
        .collect()
}

/// Where the descriptor of a fd subscription sits in guest memory (to rewrite it for wasmtime-wasi).
pub fn fd_field(at: u32, index: u32) -> u32 {
    at + index * SUBSCRIPTION_SIZE + 16
}

pub fn write_events(mem: &mut Mem<'_>, at: u32, events: &[Event]) -> Result<(), Errno> {
    for (i, event) in events.iter().enumerate() {
        let base = at + i as u32 * EVENT_SIZE;
        let mut raw = [0u8; EVENT_SIZE as usize];
        raw[0..8].copy_from_slice(&event.userdata.to_le_bytes());
        raw[8..10].copy_from_slice(&event.error.map_or(0, u16::from).to_le_bytes());
        raw[10] = event.kind;
        mem.put(base, &raw)?;
    }
    Ok(())
}

/// When a clock subscription fires. `monotonic_now` is the guest's monotonic clock now (ns),
/// for absolute monotonic deadlines.
fn deadline(id: u32, timeout: u64, absolute: bool, monotonic_now: u64) -> Result<Instant, Errno> {
    let now = Instant::now();
    let wait = match (id, absolute) {
        (_, false) => Duration::from_nanos(timeout),
        // realtime
        (0, true) => {
            let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            Duration::from_nanos(timeout).saturating_sub(since_epoch)
        }
        // monotonic
        (1, true) => Duration::from_nanos(timeout.saturating_sub(monotonic_now)),
        _ => return Err(Errno::Inval),
    };
    // Far-future deadlines (a "forever" timeout) would overflow the timer.
    Ok(now.checked_add(wait.min(Duration::from_secs(86_400 * 365))).unwrap_or(now))
}

/// Waits until at least one subscription is ready; returns the events.
pub async fn poll_sockets(net: &mut P1Net, subs: &[Subscription], monotonic_now: u64) -> Vec<Event> {
    let mut earliest: Option<(Instant, usize)> = None;
    let mut immediate = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        if let Kind::Clock { id, timeout, absolute } = sub.kind {
            match deadline(id, timeout, absolute, monotonic_now) {
                Ok(at) if earliest.is_none_or(|(e, _)| at < e) => earliest = Some((at, i)),
                Ok(_) => {}
                Err(e) => immediate.push(Event { userdata: sub.userdata, error: Some(e), kind: EVENT_CLOCK }),
            }
        }
    }
    let mut timer: Option<Pin<Box<Sleep>>> = earliest.map(|(at, _)| Box::pin(tokio::time::sleep_until(at)));
    poll_fn(|cx| {
        let mut events = immediate.clone();
        for sub in subs {
            let (fd, read) = match sub.kind {
                Kind::Read(fd) => (fd, true),
                Kind::Write(fd) => (fd, false),
                Kind::Clock { .. } => continue,
            };
            let kind = if read { EVENT_FD_READ } else { EVENT_FD_WRITE };
            let ready = |error| Some(Event { userdata: sub.userdata, error, kind });
            let event = match net.resolve(fd) {
                Target::Bad => ready(Some(Errno::Badf)),
                // Files and stdio: ready (see the module doc).
                Target::Inner(_) => ready(None),
                Target::Socket(Slot::Listener(listener)) if read => match listener.poll_ready(cx) {
                    Poll::Ready(Ok(())) => ready(None),
                    Poll::Ready(Err(e)) => ready(Some(super::socket::errno_of(&e))),
                    Poll::Pending => None,
                },
                Target::Socket(Slot::Listener(_)) => ready(Some(Errno::Inval)),
                Target::Socket(Slot::Stream(stream)) => {
                    let poll = if read { stream.socket.poll_read_ready(cx) } else { stream.socket.poll_write_ready(cx) };
                    match poll {
                        Poll::Ready(Ok(())) => ready(None),
                        Poll::Ready(Err(e)) => ready(Some(super::socket::errno_of(&e))),
                        Poll::Pending => None,
                    }
                }
                Target::Socket(Slot::Inner(_)) => ready(None),
            };
            events.extend(event);
        }
        if let (Some(sleep), Some((_, i))) = (timer.as_mut(), earliest) {
            if sleep.as_mut().poll(cx).is_ready() {
                events.push(Event { userdata: subs[i].userdata, error: None, kind: EVENT_CLOCK });
            }
        }
        if events.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(events)
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn a_listener_is_ready_once_a_client_connects_and_a_timeout_fires_otherwise() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut net = P1Net::new(vec![listener], 0);
        let subs = [
            Subscription { userdata: 7, kind: Kind::Read(3) },
            Subscription { userdata: 9, kind: Kind::Clock { id: 1, timeout: 20_000_000, absolute: false } },
        ];
        let events = poll_sockets(&mut net, &subs, 0).await;
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].userdata, events[0].kind), (9, EVENT_CLOCK), "nobody connected: the clock");

        let _client = TcpStream::connect(addr).await.expect("connect");
        let events = poll_sockets(&mut net, &subs[..1], 0).await;
        assert_eq!((events[0].userdata, events[0].kind, events[0].error), (7, EVENT_FD_READ, None));
        let Target::Socket(Slot::Listener(listener)) = net.resolve(3) else { panic!("listener") };
        assert!(listener.waiting.is_some(), "the connection waits for sock_accept");
        let events = poll_sockets(&mut net, &[Subscription { userdata: 1, kind: Kind::Read(40) }], 0).await;
        assert_eq!(events[0].error, Some(Errno::Badf));
    }

    #[test]
    fn subscriptions_and_events_use_the_abi_layout() {
        let mut bytes = vec![0u8; 128];
        let mut mem = Mem(&mut bytes);
        mem.put_u64(0, 5).unwrap();
        mem.put(8, &[EVENT_FD_READ]).unwrap();
        mem.put_u32(16, 3).unwrap();
        mem.put_u64(48, 6).unwrap();
        mem.put(56, &[EVENT_CLOCK]).unwrap();
        mem.put_u32(64, 1).unwrap();
        mem.put_u64(72, 1000).unwrap();
        mem.put_u16(88, CLOCK_ABSTIME).unwrap();
        let subs = read_subscriptions(&mem, 0, 2).unwrap();
        assert!(matches!(subs[0].kind, Kind::Read(3)));
        assert!(matches!(subs[1].kind, Kind::Clock { id: 1, timeout: 1000, absolute: true }));
        assert_eq!(fd_field(0, 0), 16);
        assert!(read_subscriptions(&mem, 100, 1).is_err());
        write_events(&mut mem, 0, &[Event { userdata: 5, error: Some(Errno::Badf), kind: EVENT_FD_READ }]).unwrap();
        assert_eq!((mem.u64(0).unwrap(), mem.u16(8).unwrap(), mem.u8(10).unwrap()), (5, 8, EVENT_FD_READ));
    }
}
