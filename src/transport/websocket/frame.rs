//! WebSocket frames (RFC 6455 §5), server side: reading a client's frame out of bytes,
//! writing the server's frames.
//!
//! Owns: the frame header and its rules — client frames masked, no extension bits,
//! known opcodes, control frames short and unfragmented, lengths in their shortest form
//! read but not required, a frame over the limit refused from its header alone (before
//! its payload is read). Knows nothing of sockets or of what a message means.

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Op {
    fn of(code: u8) -> Option<Op> {
        Some(match code {
            0x0 => Op::Continuation,
            0x1 => Op::Text,
            0x2 => Op::Binary,
            0x8 => Op::Close,
            0x9 => Op::Ping,
            0xA => Op::Pong,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        match self {
            Op::Continuation => 0x0,
            Op::Text => 0x1,
            Op::Binary => 0x2,
            Op::Close => 0x8,
            Op::Ping => 0x9,
            Op::Pong => 0xA,
        }
    }

    pub(crate) fn is_control(self) -> bool {
        matches!(self, Op::Close | Op::Ping | Op::Pong)
    }
}

/// A frame the client must not send: the connection is failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Against the protocol (close code 1002); the text says how.
    Protocol(&'static str),
    /// Its payload is over the limit (close code 1009).
    TooBig,
}

/// One frame read from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub fin: bool,
    pub op: Op,
    /// Where the (unmasked) payload lies in the buffer.
    pub payload: std::ops::Range<usize>,
}

impl Frame {
    /// Bytes of the buffer the frame took.
    pub(crate) fn len(&self) -> usize {
        self.payload.end
    }
}

/// The longest header a client frame has: 2 bytes, an 8-byte length, a 4-byte mask.
pub(crate) const MAX_HEADER: usize = 14;

/// Read one frame from the front of `buf`, unmasking its payload in place.
/// `Ok(None)`: the frame is not complete yet (`need` tells how long it is once its
/// header is there). Frames with payloads over `max` are refused from their header.
pub(crate) fn parse(buf: &mut [u8], max: usize) -> Result<Option<Frame>, Fault> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(Fault::Protocol("reserved bits set"));
    }
    let fin = b0 & 0x80 != 0;
    let op = Op::of(b0 & 0x0F).ok_or(Fault::Protocol("unknown opcode"))?;
    if b1 & 0x80 == 0 {
        return Err(Fault::Protocol("client frames must be masked"));
    }
    let (len, at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let n = u64::from_be_bytes(b.try_into().expect("eight bytes"));
                if n >> 63 != 0 {
                    return Err(Fault::Protocol("payload length too large"));
                }
                (n, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if op.is_control() && (!fin || len > 125) {
        return Err(Fault::Protocol(
            "control frames must be unfragmented and at most 125 bytes",
        ));
    }
    if len > max as u64 {
        return Err(Fault::TooBig);
    }
    let len = len as usize;
    let start = at + 4;
    if buf.len() < start + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    for (i, b) in buf[start..start + len].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
    Ok(Some(Frame {
        fin,
        op,
        payload: start..start + len,
    }))
}

/// How many bytes the frame at the front of `buf` needs in all, once its header is
/// there (`None` before that). Lets a reader ask for the whole frame at once.
pub(crate) fn need(buf: &[u8]) -> Option<usize> {
    let b1 = *buf.get(1)?;
    let (len, at) = match b1 & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let mask: usize = if b1 & 0x80 != 0 { 4 } else { 0 };
    Some((at + mask).saturating_add(len))
}

/// Append one unfragmented, unmasked server frame to `out`.
pub(crate) fn write(out: &mut Vec<u8>, op: Op, payload: &[u8]) {
    out.reserve(10 + payload.len());
    write_header(out, op, payload.len());
    out.extend_from_slice(payload);
}

/// Append the header of an unfragmented, unmasked server frame of `len` bytes.
pub(crate) fn write_header(out: &mut Vec<u8>, op: Op, len: usize) {
    out.push(0x80 | op.code());
    match len {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
}

/// Append a Close frame with `code` and as much of `reason` as fits (123 bytes, cut on a
/// character boundary).
pub(crate) fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    write(out, Op::Close, &payload);
}

/// A client frame, as a browser would send it (for tests and fuzzing).
pub(crate) fn client_frame(fin: bool, op: Op, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, op, payload);
    if !fin {
        out[0] &= 0x7F;
    }
    let at = match out[1] {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    out[1] |= 0x80;
    let body = out.split_off(at);
    out.extend_from_slice(&mask);
    out.extend(body.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A frame read: fin, opcode, payload, bytes taken.
    type Read = (bool, Op, Vec<u8>, usize);

    fn one(bytes: &[u8], max: usize) -> Result<Option<Read>, Fault> {
        let mut b = bytes.to_vec();
        Ok(parse(&mut b, max)?.map(|f| (f.fin, f.op, b[f.payload.clone()].to_vec(), f.len())))
    }

    #[test]
    fn a_masked_text_frame_reads_back_at_every_length_form() {
        for n in [0usize, 1, 125, 126, 1000, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let bytes = client_frame(true, Op::Text, &payload, MASK);
            assert_eq!(need(&bytes), Some(bytes.len()), "{n}");
            let (fin, op, got, used) = one(&bytes, 1 << 20).unwrap().unwrap();
            assert!(fin);
            assert_eq!(op, Op::Text);
            assert_eq!(got, payload, "{n}");
            assert_eq!(used, bytes.len());
            // Every prefix is incomplete, never an error.
            for cut in [0, 1, 2, bytes.len() / 2, bytes.len() - 1] {
                assert_eq!(one(&bytes[..cut], 1 << 20), Ok(None), "{n} cut at {cut}");
            }
        }
    }

    #[test]
    fn the_rfc_example_reads_as_hello() {
        // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (fin, op, got, _) = one(&bytes, 100).unwrap().unwrap();
        assert!(fin);
        assert_eq!(op, Op::Text);
        assert_eq!(got, b"Hello");
        // And the server's own unmasked frame is the RFC's too.
        let mut out = Vec::new();
        write(&mut out, Op::Text, b"Hello");
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn frames_against_the_protocol_are_refused() {
        let text = client_frame(true, Op::Text, b"hi", MASK);
        let mut unmasked = Vec::new();
        write(&mut unmasked, Op::Text, b"hi");
        assert_eq!(
            one(&unmasked, 100),
            Err(Fault::Protocol("client frames must be masked"))
        );
        let mut rsv = text.clone();
        rsv[0] |= 0x40;
        assert_eq!(one(&rsv, 100), Err(Fault::Protocol("reserved bits set")));
        let mut op = text.clone();
        op[0] = (op[0] & 0xF0) | 0x3;
        assert_eq!(one(&op, 100), Err(Fault::Protocol("unknown opcode")));
        let long_ping = client_frame(true, Op::Ping, &[0; 126], MASK);
        assert!(matches!(one(&long_ping, 1000), Err(Fault::Protocol(_))));
        let split_close = client_frame(false, Op::Close, &[3, 232], MASK);
        assert!(matches!(one(&split_close, 1000), Err(Fault::Protocol(_))));
        let mut huge = vec![0x81, 0xFF];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            one(&huge, 100),
            Err(Fault::Protocol("payload length too large"))
        );
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_header_alone() {
        let big = client_frame(true, Op::Text, &[b'x'; 2000], MASK);
        // Only the header has arrived: refused already, nothing buffered waits for it.
        assert_eq!(one(&big[..8], 1999), Err(Fault::TooBig));
        assert!(one(&big, 2000).unwrap().is_some());
    }

    #[test]
    fn a_close_reason_is_cut_on_a_character_boundary() {
        let mut out = Vec::new();
        write_close(&mut out, 4001, &"界".repeat(60));
        assert_eq!(out[1] as usize, out.len() - 2);
        assert!(out.len() - 2 <= 125);
        assert_eq!(&out[2..4], &4001u16.to_be_bytes());
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
