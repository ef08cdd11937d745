//! kefu's own HTTP requests to the outside: webhook deliveries.
//!
//! Owns: turning a `Post` into one HTTP/1.1 POST on a fresh connection (plain, or TLS
//! with rustls and Mozilla's roots for `https://`), which addresses a request may go to
//! (never loopback, private, link-local or other special-purpose addresses unless
//! `webhook_allow_private_addresses` is set; the address checked is the one connected
//! to, so a name that resolves elsewhere later gains nothing), and how much of an answer
//! is read (its status, and at most `MAX_ANSWER` bytes of its body, for the error kept
//! with a failed delivery). Knows nothing of what is posted or why: the core's
//! `webhooks` builds, signs, times and records each delivery.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::core::webhooks::{Post, PostError, Poster};

/// Most bytes of an answer's body read (and kept, cut to a line, as its error).
const MAX_ANSWER: usize = 1024;

/// Posts deliveries over HTTP/1.1, one connection per request.
pub(crate) struct HttpPoster {
    tls: TlsConnector,
    allow_private: bool,
}

impl HttpPoster {
    /// A poster; `allow_private`: also to loopback and private addresses.
    pub(crate) fn new(allow_private: bool) -> HttpPoster {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // ring rather than aws-lc-rs: nothing but Rust and a C compiler to build (no cmake).
        // rustls marks ring's provider deprecated for lacking post-quantum key exchange;
        // deliveries carry events already signed, and TLS 1.3 with X25519 protects them.
        #[allow(deprecated)]
        let provider = tokio_rustls::rustls::crypto::ring::default_provider();
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        HttpPoster {
            tls: TlsConnector::from(Arc::new(config)),
            allow_private,
        }
    }

    async fn send(&self, post: Post) -> Result<u16, PostError> {
        let uri: Uri = post
            .url
            .parse()
            .map_err(|e| PostError::Refused(format!("bad URL: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(PostError::Refused(
                    "the URL must be http:// or https://".into(),
                ))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| PostError::Refused("the URL has no host".into()))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let mut last = None;
        let mut tcp = None;
        for addr in self.addresses(bare, port).await? {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(format!("connect {addr}: {e}")),
            }
        }
        let tcp = tcp.ok_or_else(|| PostError::Failed(last.unwrap_or_default()))?;
        let _ = tcp.set_nodelay(true);
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut req = Request::post(path)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("kefu/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &post.headers {
            req = req.header(*name, value);
        }
        let req = req
            .body(Full::new(post.body))
            .map_err(|e| PostError::Refused(format!("bad request: {e}")))?;
        if tls {
            let name = ServerName::try_from(bare.to_string())
                .map_err(|e| PostError::Refused(format!("bad host name: {e}")))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| PostError::Failed(format!("TLS with {host}: {e}")))?;
            exchange(TokioIo::new(stream), req).await
        } else {
            exchange(TokioIo::new(tcp), req).await
        }
    }

    /// The addresses to try, in order: `host` resolved, those it may go to (at least
    /// one, else why not).
    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, PostError> {
        let found: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| PostError::Failed(format!("resolve {host}: {e}")))?
                .collect(),
        };
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| self.allow_private || is_public(a.ip()))
            .collect();
        match (allowed.is_empty(), found.first()) {
            (false, _) => Ok(allowed),
            (true, None) => Err(PostError::Failed(format!("{host} has no address"))),
            (true, Some(a)) => Err(PostError::Refused(format!(
                "{host} is {}, a loopback, private or special-purpose address \
                 (webhook_allow_private_addresses permits it)",
                a.ip()
            ))),
        }
    }
}

/// One request on a connection: the answer's status, or why there is none. A non-2xx
/// answer is a `Failed` carrying the status and the start of its body.
async fn exchange<T>(io: TokioIo<T>, req: Request<Full<Bytes>>) -> Result<u16, PostError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| PostError::Failed(format!("HTTP: {e}")))?;
    let driver = tokio::spawn(conn);
    let answer = sender.send_request(req).await;
    let result = match answer {
        Err(e) => Err(PostError::Failed(format!("HTTP: {e}"))),
        Ok(res) => {
            let status = res.status().as_u16();
            if res.status().is_success() {
                Ok(status)
            } else {
                let body = Limited::new(res.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&body);
                let line: String = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect();
                Err(PostError::Status(status, line))
            }
        }
    };
    driver.abort();
    result
}

/// May a webhook go to `ip`? Not to loopback, unspecified, private (RFC 1918, unique
/// local), shared (100.64/10), link-local, multicast, broadcast, documentation or
/// benchmarking addresses, nor to an IPv4 one of those written as IPv6.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

impl Poster for HttpPoster {
    fn post(
        &self,
        post: Post,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<u16, PostError>> + Send + '_>> {
        Box::pin(self.send(post))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_allowed() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_private_address_is_refused_unless_allowed() {
        let post = || Post {
            url: "http://127.0.0.1:9/hook".into(),
            headers: Vec::new(),
            body: Bytes::from_static(b"{}"),
        };
        match HttpPoster::new(false).post(post()).await {
            Err(PostError::Refused(why)) => {
                assert!(why.contains("webhook_allow_private_addresses"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        // Allowed, it is tried (and fails to connect: nothing listens on port 9).
        match HttpPoster::new(true).post(post()).await {
            Err(PostError::Failed(why)) => assert!(why.contains("connect"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn https_speaks_tls() {
        // A plain HTTP listener: a TLS client hello gets no TLS answer, so the TLS
        // handshake fails (the request is never sent in the clear).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 1];
            s.read_exact(&mut first).await.unwrap();
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
            first[0]
        });
        let post = Post {
            url: format!("https://localhost:{port}/hook"),
            headers: Vec::new(),
            body: Bytes::from_static(b"{}"),
        };
        match HttpPoster::new(true).post(post).await {
            Err(PostError::Failed(why)) => assert!(why.contains("TLS"), "{why}"),
            other => panic!("{other:?}"),
        }
        // 0x16: a TLS handshake record.
        assert_eq!(server.await.unwrap(), 0x16);
    }
}
