//! The PROXY protocol header (HAProxy's, versions 1 and 2) that a trusted proxy in front
//! of kefu sends first on each connection, saying which client it carries.
//!
//! Owns: reading exactly the header's bytes (never one byte of the request behind it),
//! its bounds (107 bytes for version 1, 16 + 216 for version 2), and what it means: the
//! client's address, or none (a health check's `LOCAL`, an `UNKNOWN` family, a socket
//! that is not TCP). Knows nothing of who is trusted: the accept loop decides that.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1: "PROXY TCP6 " + two addresses + two ports + CRLF, at most 107 bytes.
const V1_MAX: usize = 107;
/// Version 2: addresses (and TLVs) after the 16-byte header; more is refused.
const V2_MAX_BODY: usize = 216;

/// Why a header was refused (the connection is then closed).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum BadHeader {
    #[error("no PROXY protocol header")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    #[error("connection closed inside the PROXY protocol header")]
    Eof,
}

/// Read one header from `r`: the client address it names (`None`: use the peer's).
pub(super) async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<SocketAddr>, BadHeader> {
    let mut first = [0u8; 5];
    r.read_exact(&mut first).await.map_err(|_| BadHeader::Eof)?;
    if &first == b"PROXY" {
        // Version 1: one line; read byte by byte so nothing after it is consumed.
        let mut line = first.to_vec();
        while !line.ends_with(b"\r\n") {
            if line.len() >= V1_MAX {
                return Err(BadHeader::Malformed("line too long"));
            }
            line.push(r.read_u8().await.map_err(|_| BadHeader::Eof)?);
        }
        return v1(&line[..line.len() - 2]);
    }
    if first != V2_SIGNATURE[..5] {
        return Err(BadHeader::Missing);
    }
    let mut head = [0u8; 11];
    r.read_exact(&mut head).await.map_err(|_| BadHeader::Eof)?;
    if head[..7] != V2_SIGNATURE[5..] {
        return Err(BadHeader::Missing);
    }
    let (ver_cmd, family) = (head[7], head[8]);
    let len = usize::from(u16::from_be_bytes([head[9], head[10]]));
    if ver_cmd >> 4 != 2 {
        return Err(BadHeader::Malformed("unknown version"));
    }
    if len > V2_MAX_BODY {
        return Err(BadHeader::Malformed("too long"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.map_err(|_| BadHeader::Eof)?;
    v2(ver_cmd & 0x0f, family, &body)
}

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT` or `PROXY UNKNOWN …` (without its CRLF).
fn v1(line: &[u8]) -> Result<Option<SocketAddr>, BadHeader> {
    let line = std::str::from_utf8(line).map_err(|_| BadHeader::Malformed("not text"))?;
    let mut w = line.split(' ');
    if w.next() != Some("PROXY") {
        return Err(BadHeader::Malformed("no PROXY"));
    }
    let proto = w.next().ok_or(BadHeader::Malformed("no protocol"))?;
    if proto == "UNKNOWN" {
        return Ok(None);
    }
    let (src, _dst, sport, _dport) = match (w.next(), w.next(), w.next(), w.next(), w.next()) {
        (Some(a), Some(b), Some(c), Some(d), None) => (a, b, c, d),
        _ => return Err(BadHeader::Malformed("wrong number of fields")),
    };
    let ip: IpAddr = src
        .parse()
        .map_err(|_| BadHeader::Malformed("bad source address"))?;
    let port: u16 = sport
        .parse()
        .map_err(|_| BadHeader::Malformed("bad source port"))?;
    match (proto, ip) {
        ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(Some(SocketAddr::new(ip, port))),
        _ => Err(BadHeader::Malformed("address does not match its protocol")),
    }
}

/// A version 2 body: `cmd` 0 LOCAL (the proxy's own check), 1 PROXY.
fn v2(cmd: u8, family: u8, body: &[u8]) -> Result<Option<SocketAddr>, BadHeader> {
    match cmd {
        0 => return Ok(None),
        1 => {}
        _ => return Err(BadHeader::Malformed("unknown command")),
    }
    match family {
        // TCP over IPv4: src(4) dst(4) sport(2) dport(2).
        0x11 if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Ok(Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([body[8], body[9]]),
            )))
        }
        // TCP over IPv6: src(16) dst(16) sport(2) dport(2).
        0x21 if body.len() >= 36 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Ok(Some(SocketAddr::new(Ipv6Addr::from(a).into(), port)))
        }
        0x11 | 0x21 => Err(BadHeader::Malformed("addresses cut short")),
        // UNSPEC, UDP, UNIX sockets: no client address to use.
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> (Result<Option<SocketAddr>, BadHeader>, Vec<u8>) {
        let mut r = bytes;
        let got = read(&mut r).await;
        (got, r.to_vec())
    }

    #[tokio::test]
    async fn version_1_gives_the_client_and_leaves_the_request() {
        let (got, rest) =
            parse(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(got, Ok(Some("203.0.113.7:51000".parse().unwrap())));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (got, _) = parse(b"PROXY TCP6 2001:db8::5 2001:db8::1 4000 80\r\n").await;
        assert_eq!(got, Ok(Some("[2001:db8::5]:4000".parse().unwrap())));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").await.0, Ok(None));
        assert_eq!(
            parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").await.0,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn version_1_refuses_what_is_not_one() {
        for bad in [
            &b"PROXY TCP4 203.0.113.7 10.0.0.1 51000\r\n"[..],
            b"PROXY TCP4 2001:db8::5 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 70000 443\r\n",
            b"PROXY TCP5 203.0.113.7 10.0.0.1 1 2\r\n",
            b"PROXY  TCP4 203.0.113.7 10.0.0.1 1 2\r\n",
        ] {
            assert!(
                matches!(parse(bad).await.0, Err(BadHeader::Malformed(_))),
                "{bad:?}"
            );
        }
        let long = [&b"PROXY TCP4 "[..], &[b'1'; 200]].concat();
        assert_eq!(
            parse(&long).await.0,
            Err(BadHeader::Malformed("line too long"))
        );
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4").await.0, Err(BadHeader::Eof));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n\r\n").await.0,
            Err(BadHeader::Missing)
        );
        assert_eq!(parse(b"GE").await.0, Err(BadHeader::Eof));
    }

    fn v2_header(cmd: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[tokio::test]
    async fn version_2_gives_the_client_and_leaves_the_request() {
        let mut body = vec![198, 51, 100, 9, 10, 0, 0, 1];
        body.extend_from_slice(&4242u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0, 1, 0]); // a TLV, skipped
        let mut bytes = v2_header(1, 0x11, &body);
        bytes.extend_from_slice(b"GET /");
        let (got, rest) = parse(&bytes).await;
        assert_eq!(got, Ok(Some("198.51.100.9:4242".parse().unwrap())));
        assert_eq!(rest, b"GET /");
        let mut six = [0u8; 36];
        six[0] = 0x20;
        six[1] = 0x01;
        six[15] = 7;
        six[32..34].copy_from_slice(&5u16.to_be_bytes());
        assert_eq!(
            parse(&v2_header(1, 0x21, &six)).await.0,
            Ok(Some("[2001::7]:5".parse().unwrap()))
        );
        assert_eq!(parse(&v2_header(0, 0x11, &body)).await.0, Ok(None), "LOCAL");
        assert_eq!(
            parse(&v2_header(1, 0x31, &[0; 216])).await.0,
            Ok(None),
            "a UNIX socket"
        );
    }

    #[tokio::test]
    async fn version_2_refuses_what_is_not_one() {
        assert_eq!(
            parse(&v2_header(1, 0x11, &[1, 2, 3])).await.0,
            Err(BadHeader::Malformed("addresses cut short"))
        );
        assert_eq!(
            parse(&v2_header(1, 0x11, &[0; 217])).await.0,
            Err(BadHeader::Malformed("too long"))
        );
        assert_eq!(
            parse(&v2_header(2, 0x11, &[0; 12])).await.0,
            Err(BadHeader::Malformed("unknown command"))
        );
        let mut wrong = v2_header(1, 0x11, &[0; 12]);
        wrong[12] = 0x31;
        assert_eq!(
            parse(&wrong).await.0,
            Err(BadHeader::Malformed("unknown version"))
        );
        let cut = v2_header(1, 0x11, &[0; 12]);
        assert_eq!(parse(&cut[..20]).await.0, Err(BadHeader::Eof));
        assert_eq!(
            parse(b"\r\n\r\n\0\r\nQUIx\n\x21\x11\0\0").await.0,
            Err(BadHeader::Missing)
        );
    }
}
