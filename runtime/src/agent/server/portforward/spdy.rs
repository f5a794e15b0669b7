//! SPDY/3.1 framing, the byte layer under `kubectl port-forward` (which still
//! speaks it in 1.32, tunnelled through a WebSocket or over a plain upgrade).
//!
//! Every frame has an 8-byte header. A control frame starts with the control
//! bit, the version (3) and a 16-bit type; a data frame with a 31-bit stream
//! id. Then 8 bits of flags and a 24-bit payload length. Header blocks (in
//! SYN_STREAM, SYN_REPLY, HEADERS) are zlib streams primed with the SPDY/3
//! dictionary, one compression context per direction for the whole
//! connection, each block ending in a sync flush: so blocks must be encoded
//! and decoded strictly in connection order.
//!
//! [`FrameDecoder`] takes bytes in pieces of any size (kubectl's WebSocket
//! tunnel splits them anywhere) and yields whole frames; [`FrameEncoder`]
//! writes them.

use std::sync::LazyLock;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

pub const VERSION: u16 = 3;
/// Both windows (per stream and per session) start here unless SETTINGS say otherwise.
pub const DEFAULT_WINDOW: u32 = 64 * 1024;
/// SETTINGS id of the initial per-stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// The largest payload a 24-bit length can describe.
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;
/// A decompressed header block larger than this ends the connection (a zip bomb guard;
/// port-forward's blocks are under 100 bytes).
const MAX_HEADER_BLOCK: usize = 256 * 1024;

const CONTROL_BIT: u8 = 0x80;
const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes (SPDY/3.1 §2.4.2) this server sends.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
}

/// Name/value pairs, names in lower case; a name may repeat.
pub type Headers = Vec<(String, String)>;

/// The first value of `name` in `headers`.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    SynStream { stream: u32, associated: u32, priority: u8, fin: bool, unidirectional: bool, headers: Headers },
    SynReply { stream: u32, fin: bool, headers: Headers },
    RstStream { stream: u32, status: u32 },
    /// `(flags, id, value)` entries.
    Settings { entries: Vec<(u8, u32, u32)> },
    Ping { id: u32 },
    GoAway { last_good: u32, status: u32 },
    Headers { stream: u32, fin: bool, headers: Headers },
    /// `stream` 0 is the session's window (SPDY/3.1).
    WindowUpdate { stream: u32, delta: u32 },
    Data { stream: u32, fin: bool, data: Bytes },
    /// A control frame of a type this server does not use; the spec says to ignore it.
    Unknown { kind: u16 },
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpdyError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("SPDY frame type {kind} with a {len}-byte payload is malformed")]
    Malformed { kind: u16, len: usize },
    #[error("SPDY header block: {0}")]
    HeaderBlock(String),
    #[error("SPDY header compression: {0}")]
    Compression(String),
    #[error("SPDY frame payload of {0} bytes is too large")]
    TooLarge(usize),
}

/// The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1):
/// 65 words, each after its 4-byte big-endian length, then a run of status codes,
/// reason phrases, dates and common values. 1423 bytes, Adler-32 `0xe3c6a7c2`.
static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    const WORDS: &[&str] = &[
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
        "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
        "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
        "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
        "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
        "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
        "set-cookie", "keep-alive", "origin",
    ];
    const TAIL: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
    );
    let mut out = Vec::with_capacity(1423);
    for word in WORDS {
        out.extend_from_slice(&(word.len() as u32).to_be_bytes());
        out.extend_from_slice(word.as_bytes());
    }
    out.extend_from_slice(TAIL.as_bytes());
    out
});

/// Reads frames from a byte stream cut at arbitrary points.
pub struct FrameDecoder {
    buf: BytesMut,
    inflate: Decompress,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder { buf: BytesMut::with_capacity(64 * 1024), inflate: Decompress::new(true) }
    }

    /// Appends bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            // Reserve once for the whole frame rather than growing piece by piece.
            self.buf.reserve(8 + len - self.buf.len());
            return Ok(None);
        }
        let head = self.buf.split_to(8);
        let payload = self.buf.split_to(len).freeze();
        let flags = head[4];
        if head[0] & CONTROL_BIT == 0 {
            let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            return Ok(Some(Frame::Data { stream, fin: flags & FLAG_FIN != 0, data: payload }));
        }
        let version = u16::from_be_bytes([head[0] & !CONTROL_BIT, head[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        self.control(kind, flags, payload).map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, mut p: Bytes) -> Result<Frame, SpdyError> {
        let len = p.len();
        let malformed = SpdyError::Malformed { kind, len };
        let need = |n: usize| if len < n { Err(malformed.clone()) } else { Ok(()) };
        let fin = flags & FLAG_FIN != 0;
        Ok(match kind {
            SYN_STREAM => {
                need(10)?;
                let stream = p.get_u32() & 0x7fff_ffff;
                let associated = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let _slot = p.get_u8();
                let headers = self.headers(&p)?;
                Frame::SynStream { stream, associated, priority, fin, unidirectional: flags & FLAG_UNIDIRECTIONAL != 0, headers }
            }
            SYN_REPLY | HEADERS => {
                need(4)?;
                let stream = p.get_u32() & 0x7fff_ffff;
                let headers = self.headers(&p)?;
                if kind == SYN_REPLY {
                    Frame::SynReply { stream, fin, headers }
                } else {
                    Frame::Headers { stream, fin, headers }
                }
            }
            RST_STREAM => {
                need(8)?;
                Frame::RstStream { stream: p.get_u32() & 0x7fff_ffff, status: p.get_u32() }
            }
            SETTINGS => {
                need(4)?;
                let count = p.get_u32() as usize;
                if p.len() / 8 < count {
                    return Err(malformed.clone());
                }
                let entries = (0..count)
                    .map(|_| {
                        let word = p.get_u32();
                        ((word >> 24) as u8, word & 0x00ff_ffff, p.get_u32())
                    })
                    .collect();
                Frame::Settings { entries }
            }
            PING => {
                need(4)?;
                Frame::Ping { id: p.get_u32() }
            }
            GOAWAY => {
                need(4)?;
                let last_good = p.get_u32() & 0x7fff_ffff;
                // SPDY/3 added the status; tolerate its absence.
                let status = if p.len() >= 4 { p.get_u32() } else { 0 };
                Frame::GoAway { last_good, status }
            }
            WINDOW_UPDATE => {
                need(8)?;
                Frame::WindowUpdate { stream: p.get_u32() & 0x7fff_ffff, delta: p.get_u32() & 0x7fff_ffff }
            }
            other => Frame::Unknown { kind: other },
        })
    }

    /// Inflates one header block (continuing the connection's zlib stream) and parses it.
    fn headers(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let raw = inflate(&mut self.inflate, block)?;
        parse_header_block(&raw)
    }
}

fn inflate(z: &mut Decompress, block: &[u8]) -> Result<Vec<u8>, SpdyError> {
    let mut out = Vec::with_capacity(block.len() * 4 + 64);
    let mut input = block;
    loop {
        if out.len() == out.capacity() {
            if out.len() >= MAX_HEADER_BLOCK {
                return Err(SpdyError::HeaderBlock(format!("larger than {MAX_HEADER_BLOCK} bytes")));
            }
            out.reserve(out.len().max(256));
        }
        let (in_before, out_before) = (z.total_in(), out.len());
        let result = z.decompress_vec(input, &mut out, FlushDecompress::Sync);
        let consumed = (z.total_in() - in_before) as usize;
        input = &input[consumed..];
        match result {
            Ok(Status::StreamEnd) => break,
            Ok(_) => {
                // Done when the input is used up and zlib had room to spare (nothing pending).
                if input.is_empty() && out.len() < out.capacity() {
                    break;
                }
                if consumed == 0 && out.len() == out_before && out.len() < out.capacity() {
                    return Err(SpdyError::Compression("the header block is truncated".into()));
                }
            }
            Err(e) => match e.needs_dictionary() {
                Some(id) if id == adler32(&DICTIONARY) => {
                    z.set_dictionary(&DICTIONARY).map_err(|e| SpdyError::Compression(e.to_string()))?;
                }
                Some(id) => return Err(SpdyError::Compression(format!("unknown dictionary {id:#010x}"))),
                None => return Err(SpdyError::Compression(e.to_string())),
            },
        }
    }
    Ok(out)
}

/// `count`, then per pair: name length, name, value length, value (several values
/// of one name are joined by NUL).
fn parse_header_block(mut raw: &[u8]) -> Result<Headers, SpdyError> {
    fn take<'a>(raw: &mut &'a [u8]) -> Result<&'a [u8], SpdyError> {
        if raw.len() < 4 {
            return Err(SpdyError::HeaderBlock("truncated length".into()));
        }
        let n = raw.get_u32() as usize;
        if raw.len() < n {
            return Err(SpdyError::HeaderBlock("truncated string".into()));
        }
        let (s, rest) = raw.split_at(n);
        *raw = rest;
        Ok(s)
    }
    if raw.len() < 4 {
        return Err(SpdyError::HeaderBlock("no pair count".into()));
    }
    let count = raw.get_u32() as usize;
    // Each pair takes at least 8 bytes: refuse counts the block cannot hold before allocating.
    if count > raw.len() / 8 {
        return Err(SpdyError::HeaderBlock(format!("{count} pairs do not fit in the block")));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = take(&mut raw)?;
        let value = take(&mut raw)?;
        if name.is_empty() {
            return Err(SpdyError::HeaderBlock("empty header name".into()));
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        for v in value.split(|&b| b == 0) {
            headers.push((name.clone(), String::from_utf8_lossy(v).into_owned()));
        }
    }
    Ok(headers)
}

fn header_block(headers: &Headers) -> Vec<u8> {
    // Repeated names travel as one pair with NUL-separated values.
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match pairs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push(0);
                joined.extend_from_slice(value.as_bytes());
            }
            None => pairs.push((name, value.as_bytes().to_vec())),
        }
    }
    let mut out = Vec::new();
    out.put_u32(pairs.len() as u32);
    for (name, value) in pairs {
        out.put_u32(name.len() as u32);
        out.extend_from_slice(name.as_bytes());
        out.put_u32(value.len() as u32);
        out.extend_from_slice(&value);
    }
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// Writes frames; owns the sending direction's compression context.
pub struct FrameEncoder {
    deflate: Compress,
}

impl FrameEncoder {
    pub fn new() -> Result<Self, SpdyError> {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate.set_dictionary(&DICTIONARY).map_err(|e| SpdyError::Compression(e.to_string()))?;
        Ok(FrameEncoder { deflate })
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), SpdyError> {
        match frame {
            Frame::Data { stream, fin, data } => {
                if data.len() > MAX_PAYLOAD {
                    return Err(SpdyError::TooLarge(data.len()));
                }
                out.put_u32(stream & 0x7fff_ffff);
                out.put_u32(u32::from(flag(*fin, FLAG_FIN)) << 24 | data.len() as u32);
                out.extend_from_slice(data);
            }
            Frame::SynStream { stream, associated, priority, fin, unidirectional, headers } => {
                let block = self.deflate_block(headers)?;
                let mut p = BytesMut::with_capacity(10 + block.len());
                p.put_u32(*stream);
                p.put_u32(*associated);
                p.put_u8(priority << 5);
                p.put_u8(0);
                p.extend_from_slice(&block);
                control(out, SYN_STREAM, flag(*fin, FLAG_FIN) | flag(*unidirectional, FLAG_UNIDIRECTIONAL), &p)?;
            }
            Frame::SynReply { stream, fin, headers } | Frame::Headers { stream, fin, headers } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) { SYN_REPLY } else { HEADERS };
                let block = self.deflate_block(headers)?;
                let mut p = BytesMut::with_capacity(4 + block.len());
                p.put_u32(*stream);
                p.extend_from_slice(&block);
                control(out, kind, flag(*fin, FLAG_FIN), &p)?;
            }
            Frame::RstStream { stream, status } => control(out, RST_STREAM, 0, &words(&[*stream, *status]))?,
            Frame::Settings { entries } => {
                let mut p = BytesMut::with_capacity(4 + 8 * entries.len());
                p.put_u32(entries.len() as u32);
                for (flags, id, value) in entries {
                    p.put_u32(u32::from(*flags) << 24 | (id & 0x00ff_ffff));
                    p.put_u32(*value);
                }
                control(out, SETTINGS, 0, &p)?;
            }
            Frame::Ping { id } => control(out, PING, 0, &words(&[*id]))?,
            Frame::GoAway { last_good, status } => control(out, GOAWAY, 0, &words(&[*last_good, *status]))?,
            Frame::WindowUpdate { stream, delta } => control(out, WINDOW_UPDATE, 0, &words(&[*stream, *delta]))?,
            Frame::Unknown { kind } => control(out, *kind, 0, &[])?,
        }
        Ok(())
    }

    fn deflate_block(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let raw = header_block(headers);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = raw.as_slice();
        loop {
            if out.len() == out.capacity() {
                out.reserve(256);
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            // A sync flush is complete once all input is taken and zlib left room in the buffer.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        Ok(out)
    }
}

fn flag(on: bool, bit: u8) -> u8 {
    if on {
        bit
    } else {
        0
    }
}

fn words(values: &[u32]) -> BytesMut {
    let mut p = BytesMut::with_capacity(4 * values.len());
    for v in values {
        p.put_u32(*v);
    }
    p
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]) -> Result<(), SpdyError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(SpdyError::TooLarge(payload.len()));
    }
    out.put_u16(u16::from(CONTROL_BIT) << 8 | VERSION);
    out.put_u16(kind);
    out.put_u32(u32::from(flags) << 24 | payload.len() as u32);
    out.extend_from_slice(payload);
    Ok(())
}

#[cfg(test)]
#[path = "spdy_tests.rs"]
mod tests;
