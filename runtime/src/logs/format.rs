//! The CRI log line format that kubelet, containerd and CRI-O share:
//! `<RFC 3339 time, 9 fractional digits> <stdout|stderr> <F|P> <text>\n`.
//! `F` ends a line of the container's output; `P` is a chunk of a longer
//! line that continues in the next entry (the reader joins them).

use jiff::Timestamp;

/// Which of the container's streams a log entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "stdout" => Some(LogStream::Stdout),
            "stderr" => Some(LogStream::Stderr),
            _ => None,
        }
    }
}

/// One parsed entry of a log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry<'a> {
    pub time: Timestamp,
    pub stream: LogStream,
    /// `P`: the text continues in the next entry of the same stream.
    pub partial: bool,
    /// The text without the trailing newline.
    pub text: &'a [u8],
}

/// Appends one entry (with its trailing `\n`) to `out`. `text` must not contain a newline.
pub fn encode_entry(out: &mut Vec<u8>, time: Timestamp, stream: LogStream, partial: bool, text: &[u8]) {
    debug_assert!(!text.contains(&b'\n'), "a log entry's text cannot hold a newline");
    out.extend_from_slice(format_time(time).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// Fixed width (always nine fractional digits) so entries sort as text too.
pub fn format_time(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%S.%NZ").to_string()
}

/// Parses one line (without its `\n`); `None` for a line that is not in the format,
/// which readers skip rather than fail on (a torn write, a foreign file).
pub fn parse_entry(line: &[u8]) -> Option<LogEntry<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?.parse::<Timestamp>().ok()?;
    let stream = LogStream::parse(std::str::from_utf8(fields.next()?).ok()?)?;
    let partial = match fields.next()? {
        b"F" => false,
        b"P" => true,
        _ => return None,
    };
    // An empty line written as `... F ` still has its separator; be lenient if it lost it.
    let text = fields.next().unwrap_or_default();
    Some(LogEntry { time, stream, partial, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    #[test]
    fn encodes_with_nine_fractional_digits() {
        let mut out = Vec::new();
        encode_entry(&mut out, at("2026-11-23T14:00:00.5Z"), LogStream::Stdout, false, b"hello world");
        assert_eq!(out, b"2026-11-23T14:00:00.500000000Z stdout F hello world\n");
        out.clear();
        encode_entry(&mut out, at("2026-11-23T14:00:00Z"), LogStream::Stderr, true, b"");
        assert_eq!(out, b"2026-11-23T14:00:00.000000000Z stderr P \n");
    }

    #[test]
    fn parses_what_it_encodes() {
        let mut out = Vec::new();
        let time = at("2026-11-23T14:00:00.123456789Z");
        encode_entry(&mut out, time, LogStream::Stderr, true, b"a b  c");
        let entry = parse_entry(&out[..out.len() - 1]).expect("parses");
        assert_eq!(entry, LogEntry { time, stream: LogStream::Stderr, partial: true, text: b"a b  c" });
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(parse_entry(b"not a log line"), None);
        assert_eq!(parse_entry(b"2026-11-23T14:00:00Z stdin F x"), None);
        assert_eq!(parse_entry(b"2026-11-23T14:00:00Z stdout X x"), None);
        assert_eq!(parse_entry(b""), None);
    }
}
