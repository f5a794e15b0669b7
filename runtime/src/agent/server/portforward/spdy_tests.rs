//! Tests of `spdy.rs`.

use super::*;

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn sample_frames() -> Vec<Frame> {
    vec![
        Frame::SynStream {
            stream: 1,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
        },
        Frame::Ping { id: 1 },
        Frame::SynStream {
            stream: 3,
            associated: 0,
            priority: 2,
            fin: false,
            unidirectional: false,
            headers: headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
        },
        Frame::SynReply { stream: 1, fin: false, headers: vec![] },
        Frame::Data { stream: 3, fin: false, data: Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n") },
        Frame::WindowUpdate { stream: 3, delta: 18 },
        Frame::WindowUpdate { stream: 0, delta: 18 },
        Frame::Settings { entries: vec![(0, SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)] },
        Frame::Headers { stream: 3, fin: true, headers: headers(&[("x", "1"), ("x", "2")]) },
        Frame::Data { stream: 3, fin: true, data: Bytes::new() },
        Frame::RstStream { stream: 5, status: rst::CANCEL },
        Frame::GoAway { last_good: 3, status: 0 },
    ]
}

fn encode_all(frames: &[Frame]) -> Vec<u8> {
    let mut enc = FrameEncoder::new().expect("encoder");
    let mut out = BytesMut::new();
    for f in frames {
        enc.encode(f, &mut out).expect("encodes");
    }
    out.to_vec()
}

#[test]
fn the_dictionary_is_the_spdy3_one() {
    assert_eq!(DICTIONARY.len(), 1423);
    assert_eq!(adler32(&DICTIONARY), 0xe3c6_a7c2);
    assert_eq!(&DICTIONARY[..11], b"\0\0\0\x07options");
}

#[test]
fn frames_survive_any_split_of_the_byte_stream() {
    let frames = sample_frames();
    let bytes = encode_all(&frames);
    for cut in 0..=bytes.len() {
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for piece in [&bytes[..cut], &bytes[cut..]] {
            dec.push(piece);
            while let Some(f) = dec.next_frame().expect("decodes") {
                got.push(f);
            }
        }
        assert_eq!(got, frames, "split at {cut}");
    }
    // And one byte at a time, as kubectl's tunnel sometimes delivers them.
    let mut dec = FrameDecoder::new();
    let mut got = Vec::new();
    for b in &bytes {
        dec.push(std::slice::from_ref(b));
        while let Some(f) = dec.next_frame().expect("decodes") {
            got.push(f);
        }
    }
    assert_eq!(got, frames);
}

#[test]
fn repeated_header_names_share_one_pair() {
    let h = headers(&[("X", "1"), ("y", ""), ("x", "2")]);
    let raw = header_block(&h);
    assert_eq!(parse_header_block(&raw).expect("parses"), headers(&[("x", "1"), ("x", "2"), ("y", "")]));
}

#[test]
fn header_blocks_use_the_dictionary_and_one_context_per_direction() {
    let mut enc = FrameEncoder::new().expect("encoder");
    let h = headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "7")]);
    let first = enc.deflate_block(&h).expect("compresses");
    // zlib header with FDICT set, then the dictionary's Adler-32.
    assert_eq!(first[1] & 0x20, 0x20);
    assert_eq!(u32::from_be_bytes([first[2], first[3], first[4], first[5]]), 0xe3c6_a7c2);
    // The second block continues the stream: no header, and it is smaller.
    let second = enc.deflate_block(&h).expect("compresses");
    assert!(second.len() < first.len(), "{} !< {}", second.len(), first.len());
    let mut z = Decompress::new(true);
    assert_eq!(parse_header_block(&inflate(&mut z, &first).expect("inflates")).expect("parses"), h);
    assert_eq!(parse_header_block(&inflate(&mut z, &second).expect("inflates")).expect("parses"), h);
    // Decoded out of order, the second block means nothing.
    let mut fresh = Decompress::new(true);
    assert!(inflate(&mut fresh, &second).is_err());
}

#[test]
fn a_large_header_block_round_trips() {
    let big = "v".repeat(100_000);
    let frames = vec![Frame::SynReply { stream: 1, fin: false, headers: headers(&[("big", &big)]) }];
    let bytes = encode_all(&frames);
    let mut dec = FrameDecoder::new();
    dec.push(&bytes);
    assert_eq!(dec.next_frame().expect("decodes"), Some(frames[0].clone()));
}

#[test]
fn refuses_what_it_cannot_read() {
    let mut dec = FrameDecoder::new();
    dec.push(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert_eq!(dec.next_frame(), Err(SpdyError::Version(2)));
    let mut dec = FrameDecoder::new();
    dec.push(&[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert!(matches!(dec.next_frame(), Err(SpdyError::Malformed { kind: 3, len: 4 })));
    // A header block that is not zlib.
    let mut dec = FrameDecoder::new();
    dec.push(&[0x80, 0x03, 0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 1, 1, 2, 3, 4]);
    assert!(matches!(dec.next_frame(), Err(SpdyError::Compression(_))));
    // Unknown control types are skipped, not errors.
    let mut dec = FrameDecoder::new();
    dec.push(&[0x80, 0x03, 0x00, 0x0a, 0, 0, 0, 2, 9, 9]);
    assert_eq!(dec.next_frame(), Ok(Some(Frame::Unknown { kind: 10 })));
}

#[test]
fn a_header_block_cannot_claim_more_pairs_than_it_holds() {
    let mut raw = Vec::new();
    raw.put_u32(u32::MAX);
    assert!(parse_header_block(&raw).is_err());
    let mut raw = Vec::new();
    raw.put_u32(1);
    raw.put_u32(100);
    raw.put_u32(0);
    assert!(parse_header_block(&raw).is_err());
}
