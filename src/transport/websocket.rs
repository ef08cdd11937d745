//! WebSocket transport: RFC 6455 frames read and written on the upgraded socket itself.
//!
//! Owns: a connection's buffers and size limits, which exist only while bytes are in
//! flight — an idle connection holds no read or write buffer (`docs/benchmarks.md`,
//! memory per connection); answering pings and the client's Close; failing a connection
//! that breaks the protocol (1002), sends an oversized frame or message (1009, refused
//! from the header, before its payload is read) or text that is not UTF-8 (1007).
//! The handshake is answered by `http::ws`; frames themselves are `frame`'s. Knows
//! nothing of what frames mean.

pub(crate) mod frame;

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use crate::config::Config;
use crate::core::conn::{Inbound, Transport, TransportClosed};
use crate::core::hub::TransportKind;
use frame::{Fault, Op};

/// The socket under a WebSocket: the server's counted connection, or a bare stream.
pub(crate) trait Socket: Send + Sync + 'static {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for crate::server::Counted {
    fn tcp(&self) -> &TcpStream {
        crate::server::Counted::tcp(self)
    }
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// The limits of one connection, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest frame payload and largest message (`max_frame_bytes`).
    pub max_message: usize,
    /// Bytes asked of the socket at a time when no frame is half read (`ws_read_buffer`).
    pub read_chunk: usize,
    /// Fed frames gathered before they are written (`ws_write_buffer`).
    pub write_buffer: usize,
    /// Most bytes gathered before they are written; a frame larger than this is written
    /// from where it lies, not copied (`ws_max_write_buffer`).
    pub max_write_buffer: usize,
    /// How long `close` waits for the client's Close (`ws_close_wait_ms`).
    pub close_wait: Duration,
}

impl Limits {
    pub(crate) fn of(c: &Config) -> Limits {
        Limits {
            max_message: c.max_frame_bytes,
            read_chunk: c.ws_read_buffer,
            write_buffer: c.ws_write_buffer,
            max_write_buffer: c.ws_max_write_buffer,
            close_wait: Duration::from_millis(c.ws_close_wait_ms),
        }
    }
}

pub(crate) struct WsTransport<S: Socket = crate::server::Counted> {
    sock: S,
    limits: Limits,
    /// Bytes read and not yet taken as frames; `inpos` is where the next frame starts.
    /// Empty and unallocated between frames.
    inbuf: Vec<u8>,
    inpos: usize,
    /// A fragmented message being put together, and what kind it is.
    message: Vec<u8>,
    message_op: Option<Op>,
    /// Frames waiting to be written; `outpos` is how much of them already was.
    /// Empty and unallocated after each flush.
    out: Vec<u8>,
    outpos: usize,
    /// A frame payload too large to gather, written after `out` (which holds its
    /// header); `bigpos` is how much of it already was.
    big: Option<Bytes>,
    bigpos: usize,
    /// The client's Close arrived (or the link ended).
    peer_closed: bool,
    /// Our Close was queued.
    close_sent: bool,
    /// The byte stream can no longer be read as frames (a frame was refused).
    broken: bool,
}

impl<S: Socket> WsTransport<S> {
    /// The server side of a WebSocket on `sock`, which already carried `read` (bytes the
    /// HTTP server read past the handshake).
    pub(crate) fn new(sock: S, read: &[u8], limits: Limits) -> WsTransport<S> {
        WsTransport {
            sock,
            limits,
            inbuf: read.to_vec(),
            inpos: 0,
            message: Vec::new(),
            message_op: None,
            out: Vec::new(),
            outpos: 0,
            big: None,
            bigpos: 0,
            peer_closed: false,
            close_sent: false,
            broken: false,
        }
    }

    /// Take the next complete message or event out of what was read, if there is one.
    /// Once every byte read was taken, the read buffer is let go.
    fn take(&mut self) -> Option<Inbound> {
        let m = self.take_frames();
        if self.inpos == self.inbuf.len() {
            self.inbuf = Vec::new();
            self.inpos = 0;
        }
        m
    }

    fn take_frames(&mut self) -> Option<Inbound> {
        loop {
            if self.inpos == self.inbuf.len() {
                return None;
            }
            let buf = &mut self.inbuf[self.inpos..];
            let f = match frame::parse(buf, self.limits.max_message) {
                Ok(Some(f)) => f,
                Ok(None) => return None,
                Err(Fault::TooBig) => return Some(self.fail_too_big()),
                Err(Fault::Protocol(why)) => return Some(self.fail(1002, why)),
            };
            let at = self.inpos;
            self.inpos += f.len();
            let payload = at + f.payload.start..at + f.payload.end;
            match f.op {
                Op::Ping if !self.close_sent => {
                    let p = self.inbuf[payload].to_vec();
                    frame::write(&mut self.out, Op::Pong, &p);
                    self.write_now();
                }
                Op::Ping => {}
                Op::Pong => {}
                Op::Close => return Some(self.on_close(payload)),
                Op::Text | Op::Binary if self.message_op.is_some() => {
                    return Some(self.fail(1002, "a message began inside another"));
                }
                Op::Text | Op::Binary if f.fin => {
                    return Some(message(f.op, self.inbuf[payload].to_vec()));
                }
                Op::Text | Op::Binary => {
                    self.message_op = Some(f.op);
                    self.message = self.inbuf[payload].to_vec();
                }
                Op::Continuation => {
                    let Some(op) = self.message_op else {
                        return Some(self.fail(1002, "a continuation with no message"));
                    };
                    if self.message.len() + payload.len() > self.limits.max_message {
                        return Some(self.fail_too_big());
                    }
                    self.message.extend_from_slice(&self.inbuf[payload]);
                    if f.fin {
                        self.message_op = None;
                        return Some(message(op, std::mem::take(&mut self.message)));
                    }
                }
            }
        }
    }

    /// The client's Close: answer it with its code (or 1000), and the link is done.
    fn on_close(&mut self, payload: std::ops::Range<usize>) -> Inbound {
        self.peer_closed = true;
        let p = &self.inbuf[payload];
        let code = match p.len() {
            0 => 1000,
            1 => return self.fail(1002, "a close frame with a one-byte payload"),
            _ => u16::from_be_bytes([p[0], p[1]]),
        };
        // Codes a peer may send (RFC 6455 §7.4); any other is answered with 1002.
        let code = match code {
            1000..=1003 | 1007..=1011 | 3000..=4999 => code,
            _ => 1002,
        };
        if std::str::from_utf8(&p[2.min(p.len())..]).is_err() {
            return self.fail(1007, "a close reason that is not UTF-8");
        }
        if !self.close_sent {
            self.close_sent = true;
            frame::write_close(&mut self.out, code, "");
            self.write_now();
        }
        Inbound::Closed
    }

    /// A frame the client must not send: close with `code` (what can be written at
    /// once), and read no more frames.
    fn fail(&mut self, code: u16, why: &'static str) -> Inbound {
        tracing::debug!(code, why, "websocket protocol error");
        self.broken = true;
        self.peer_closed = true;
        self.discard_input();
        if !self.close_sent {
            self.close_sent = true;
            frame::write_close(&mut self.out, code, why);
            self.write_now();
        }
        Inbound::Closed
    }

    /// An oversized frame or message: the connection closes with 1009 after its `bye`.
    fn fail_too_big(&mut self) -> Inbound {
        self.broken = true;
        self.discard_input();
        Inbound::TooBig
    }

    fn discard_input(&mut self) {
        self.inbuf = Vec::new();
        self.inpos = 0;
        self.message = Vec::new();
        self.message_op = None;
    }

    /// Read what the socket has (at least one byte), or fail when it ended.
    async fn read_more(&mut self) -> io::Result<()> {
        if self.inpos > 0 {
            self.inbuf.drain(..self.inpos);
            self.inpos = 0;
        }
        let have = self.inbuf.len();
        // The rest of a frame whose header is here, in one read; else a chunk.
        let want = match frame::need(&self.inbuf) {
            Some(n) if n > have => n - have,
            _ => self.limits.read_chunk,
        }
        .min(self.limits.max_message + frame::MAX_HEADER);
        loop {
            self.sock.tcp().readable().await?;
            self.inbuf.reserve(want);
            match self.sock.tcp().try_read_buf(&mut self.inbuf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.inbuf.is_empty() {
                        self.inbuf = Vec::new();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Write what is queued without waiting (a pong, a Close answer); the rest goes with
    /// the next flush.
    fn write_now(&mut self) {
        if self.big.is_some() {
            // A large frame is half written: what was queued goes after it, at the flush.
            return;
        }
        while self.outpos < self.out.len() {
            match self.sock.tcp().try_write(&self.out[self.outpos..]) {
                Ok(n) => self.outpos += n,
                Err(_) => return,
            }
        }
        self.out = Vec::new();
        self.outpos = 0;
    }

    async fn write_out(&mut self) -> Result<(), TransportClosed> {
        while self.outpos < self.out.len() {
            self.sock
                .tcp()
                .writable()
                .await
                .map_err(|_| TransportClosed)?;
            match self.sock.tcp().try_write(&self.out[self.outpos..]) {
                Ok(n) => self.outpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(TransportClosed),
            }
        }
        self.out = Vec::new();
        self.outpos = 0;
        while let Some(big) = &self.big {
            if self.bigpos == big.len() {
                self.big = None;
                self.bigpos = 0;
                break;
            }
            self.sock
                .tcp()
                .writable()
                .await
                .map_err(|_| TransportClosed)?;
            match self.sock.tcp().try_write(&big[self.bigpos..]) {
                Ok(n) => self.bigpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(TransportClosed),
            }
        }
        Ok(())
    }

    /// After our Close: read until the client's Close or the end, discarding everything,
    /// so the socket is not closed with unread data in it (that would reset it, and the
    /// client could lose the Close frame).
    async fn drain(&mut self) {
        let mut left: usize = 64 * 1024;
        while !self.peer_closed || self.broken {
            if self.broken {
                let mut sink = [0u8; 1024];
                if self.sock.tcp().readable().await.is_err() {
                    return;
                }
                match self.sock.tcp().try_read(&mut sink) {
                    Ok(0) => return,
                    Ok(n) if n >= left => return,
                    Ok(n) => left -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            } else if let Inbound::Closed = self.recv().await {
                return;
            }
        }
    }
}

fn message(op: Op, bytes: Vec<u8>) -> Inbound {
    match op {
        Op::Text => match String::from_utf8(bytes) {
            Ok(t) => Inbound::Text(t),
            Err(_) => Inbound::BadUtf8,
        },
        _ => Inbound::Binary,
    }
}

impl<S: Socket> Transport for WsTransport<S> {
    fn kind(&self) -> TransportKind {
        TransportKind::WebSocket
    }

    async fn recv(&mut self) -> Inbound {
        if self.peer_closed {
            return Inbound::Closed;
        }
        loop {
            if let Some(m) = self.take() {
                return m;
            }
            if self.read_more().await.is_err() {
                self.peer_closed = true;
                return Inbound::Closed;
            }
        }
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportClosed> {
        self.feed(frame).await?;
        self.write_out().await
    }

    async fn feed(&mut self, payload: Bytes) -> Result<(), TransportClosed> {
        if self.close_sent {
            return Err(TransportClosed);
        }
        if self.out.len() + payload.len() + 10 > self.limits.max_write_buffer {
            self.write_out().await?;
        }
        if payload.len() + 10 > self.limits.max_write_buffer {
            // Too large to gather (a visitor list of a busy site): its header, then the
            // payload itself, from where the encoder left it.
            frame::write_header(&mut self.out, Op::Text, payload.len());
            self.big = Some(payload);
            return self.write_out().await;
        }
        frame::write(&mut self.out, Op::Text, &payload);
        if self.out.len() >= self.limits.write_buffer {
            self.write_out().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportClosed> {
        self.write_out().await
    }

    async fn close(&mut self, code: u16, reason: &str) {
        if !self.close_sent {
            self.close_sent = true;
            frame::write_close(&mut self.out, code, reason);
        }
        if self.write_out().await.is_err() {
            return;
        }
        let wait = self.limits.close_wait;
        let _ = tokio::time::timeout(wait, self.drain()).await;
    }
}

#[cfg(test)]
mod tests;
