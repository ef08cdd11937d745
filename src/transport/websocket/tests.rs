//! The transport on real sockets (127.0.0.1, port 0): a client writing raw frames, as a
//! browser would, and reading what the server wrote.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::frame::{client_frame, Op};
use super::{Limits, WsTransport};
use crate::core::conn::{Inbound, Transport};

const MASK: [u8; 4] = [1, 2, 3, 4];

fn limits() -> Limits {
    Limits {
        max_message: 1000,
        read_chunk: 256,
        write_buffer: 512,
        max_write_buffer: 4096,
        close_wait: Duration::from_millis(500),
    }
}

async fn pair() -> (WsTransport<TcpStream>, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    (WsTransport::new(server, &[], limits()), client)
}

/// Read one unmasked server frame: (first byte, payload).
async fn server_frame(c: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    c.read_exact(&mut h).await.unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            c.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            c.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    c.read_exact(&mut p).await.unwrap();
    (h[0], p)
}

fn text(i: Inbound) -> String {
    match i {
        Inbound::Text(t) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_cut_anywhere_and_sent_together_read_back_in_order() {
    let (mut t, mut c) = pair().await;
    let mut bytes = Vec::new();
    for i in 0..20 {
        bytes.extend(client_frame(
            true,
            Op::Text,
            format!("m{i}").as_bytes(),
            MASK,
        ));
    }
    // A fragmented message with a ping in its middle.
    bytes.extend(client_frame(false, Op::Text, "héllo ".as_bytes(), MASK));
    bytes.extend(client_frame(true, Op::Ping, b"p", MASK));
    bytes.extend(client_frame(
        false,
        Op::Continuation,
        "wor".as_bytes(),
        MASK,
    ));
    bytes.extend(client_frame(true, Op::Continuation, "ld".as_bytes(), MASK));
    let writer = tokio::spawn(async move {
        for chunk in bytes.chunks(7) {
            c.write_all(chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        c
    });
    for i in 0..20 {
        assert_eq!(text(t.recv().await), format!("m{i}"));
    }
    assert_eq!(text(t.recv().await), "héllo world");
    let mut c = writer.await.unwrap();
    assert_eq!(
        server_frame(&mut c).await,
        (0x8A, b"p".to_vec()),
        "the pong"
    );
    // Nothing is held once every frame was taken.
    assert_eq!(t.inbuf.capacity(), 0);
    assert_eq!(t.out.capacity(), 0);
}

#[tokio::test]
async fn fed_frames_leave_together_and_the_buffer_is_let_go() {
    let (mut t, mut c) = pair().await;
    for i in 0..3 {
        t.feed(Bytes::from(format!("{{\"n\":{i}}}"))).await.unwrap();
    }
    t.flush().await.unwrap();
    assert_eq!(t.out.capacity(), 0);
    for i in 0..3 {
        assert_eq!(
            server_frame(&mut c).await,
            (0x81, format!("{{\"n\":{i}}}").into_bytes())
        );
    }
    // Bigger than the write buffer: written as it is fed.
    t.send(Bytes::from("x".repeat(3000))).await.unwrap();
    assert_eq!(server_frame(&mut c).await.1.len(), 3000);
    // Bigger than the cap (a visitor list of a busy site): written whole, in order with
    // the frames around it, nothing of it copied into the buffer.
    let big: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let reader = tokio::spawn(async move {
        let frames = [
            server_frame(&mut c).await,
            server_frame(&mut c).await,
            server_frame(&mut c).await,
        ];
        (c, frames)
    });
    t.feed(Bytes::from("before")).await.unwrap();
    t.feed(Bytes::from(big.clone())).await.unwrap();
    assert_eq!(t.out.capacity(), 0);
    t.feed(Bytes::from("after")).await.unwrap();
    t.flush().await.unwrap();
    let (_c, [a, b, z]) = reader.await.unwrap();
    assert_eq!(a.1, b"before");
    assert_eq!(b.1, big.as_bytes());
    assert_eq!(z.1, b"after");
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_before_its_payload_arrives() {
    let (mut t, mut c) = pair().await;
    let big = client_frame(true, Op::Text, &[b'a'; 5000], MASK);
    // Only the header: the limit is known from it.
    c.write_all(&big[..8]).await.unwrap();
    assert!(matches!(t.recv().await, Inbound::TooBig));
    // A message over the limit in small fragments is refused too.
    let (mut t2, mut c2) = pair().await;
    for op in [Op::Text, Op::Continuation, Op::Continuation] {
        c2.write_all(&client_frame(false, op, &[b'a'; 400], MASK))
            .await
            .unwrap();
    }
    assert!(matches!(t2.recv().await, Inbound::TooBig));
    // The close that follows is the server's 1009; the rest of the frame is discarded.
    let closing = tokio::spawn(async move {
        t.close(1009, "frame too big").await;
    });
    c.write_all(&big[8..]).await.unwrap();
    let (b0, p) = server_frame(&mut c).await;
    assert_eq!(b0, 0x88);
    assert_eq!(&p[..2], &1009u16.to_be_bytes());
    assert_eq!(&p[2..], b"frame too big");
    drop(c);
    closing.await.unwrap();
}

#[tokio::test]
async fn bad_text_and_protocol_errors_close_with_their_codes() {
    let (mut t, mut c) = pair().await;
    c.write_all(&client_frame(true, Op::Text, &[0xff, 0xfe], MASK))
        .await
        .unwrap();
    assert!(matches!(t.recv().await, Inbound::BadUtf8));
    assert!(matches!(
        {
            c.write_all(&client_frame(true, Op::Binary, b"b", MASK))
                .await
                .unwrap();
            t.recv().await
        },
        Inbound::Binary
    ));
    // An unmasked frame: the link is failed with 1002.
    let mut unmasked = Vec::new();
    super::frame::write(&mut unmasked, Op::Text, b"hi");
    c.write_all(&unmasked).await.unwrap();
    assert!(matches!(t.recv().await, Inbound::Closed));
    let (b0, p) = server_frame(&mut c).await;
    assert_eq!(b0, 0x88);
    assert_eq!(&p[..2], &1002u16.to_be_bytes());
    // A continuation with no message before it: 1002 too.
    let (mut t, mut c) = pair().await;
    c.write_all(&client_frame(true, Op::Continuation, b"x", MASK))
        .await
        .unwrap();
    assert!(matches!(t.recv().await, Inbound::Closed));
    assert_eq!(&server_frame(&mut c).await.1[..2], &1002u16.to_be_bytes());
}

/// The client closes with `code`: the link ends, and the server's Close says `answer`.
async fn client_closes_with(code: u16, answer: u16) {
    let (mut t, mut c) = pair().await;
    c.write_all(&client_frame(true, Op::Close, &code.to_be_bytes(), MASK))
        .await
        .unwrap();
    assert!(matches!(t.recv().await, Inbound::Closed));
    assert_eq!(
        server_frame(&mut c).await,
        (0x88, answer.to_be_bytes().to_vec()),
        "{code}"
    );
}

#[tokio::test]
async fn the_clients_close_is_answered_and_ours_waits_for_its_reply() {
    client_closes_with(1001, 1001).await;
    // Codes no peer may send (1005 means "no code" and is never on the wire): 1002.
    client_closes_with(1005, 1002).await;
    client_closes_with(2999, 1002).await;
    // Ours: the server waits for the client's Close, reading past other frames.
    let (mut t, mut c) = pair().await;
    let closing = tokio::spawn(async move {
        let started = std::time::Instant::now();
        t.close(4001, "slow").await;
        started.elapsed()
    });
    let (b0, p) = server_frame(&mut c).await;
    assert_eq!((b0, &p[..2]), (0x88, &4001u16.to_be_bytes()[..]));
    c.write_all(&client_frame(true, Op::Text, b"late", MASK))
        .await
        .unwrap();
    c.write_all(&client_frame(true, Op::Close, &4001u16.to_be_bytes(), MASK))
        .await
        .unwrap();
    let took = closing.await.unwrap();
    assert!(took < Duration::from_millis(400), "{took:?}");
    // And the server does not answer a Close it caused.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut rest))
        .await
        .expect("the server closed the socket")
        .unwrap();
    assert_eq!(n, 0, "{rest:?}");
}

#[tokio::test]
async fn bytes_read_with_the_handshake_come_first() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    let mut first = client_frame(true, Op::Text, b"one", MASK);
    let second = first.split_off(4);
    let mut t = WsTransport::new(server, &first, limits());
    c.write_all(&second).await.unwrap();
    assert_eq!(text(t.recv().await), "one");
}
