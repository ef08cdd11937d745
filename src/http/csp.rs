//! Content-Security-Policy of the pages kefu serves: the agent console and the demo.
//!
//! Owns: every CSP string, and which hosts may appear in them. Scripts only ever come
//! from files (never inline), and connections only go to the server itself. CSP level 2
//! browsers do not match `ws:`/`wss:` under `'self'`, so the socket's origin is named
//! explicitly: for the console, from the request's `Host` header (validated: anything but
//! `host[:port]` falls back to `'self'` alone, so a header can never add a directive);
//! for the demo, from the configured base URL, which is where its widget connects.

/// The `Host` header's value if it is a plain `host[:port]`: a DNS name or IPv4 address
/// (`[A-Za-z0-9.-]`) or a bracketed IPv6 address, then optionally `:` and 1–5 digits.
pub(super) fn valid_host(host: &str) -> Option<&str> {
    if host.len() > 260 {
        return None;
    }
    let port = match host.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']')?;
            let ip_ok = !ip.is_empty()
                && ip
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if !ip_ok {
                return None;
            }
            match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            }
        }
        None => {
            let (name, port) = match host.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (host, None),
            };
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !name_ok {
                return None;
            }
            port
        }
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok.then_some(host)
}

/// `/console`: its own files only; the API over fetch and the socket to this host, or to
/// the node of the cluster serving the agent's site (`nodes`: the live nodes' base URLs).
pub(super) fn console(host: Option<&str>, nodes: &[String]) -> String {
    let mut connect = match host.and_then(valid_host) {
        Some(h) => format!("'self' ws://{h} wss://{h}"),
        None => "'self'".to_string(),
    };
    for (_, ws) in nodes.iter().filter_map(|n| base_origin(n)) {
        if !connect.split(' ').any(|o| o == ws) {
            connect.push(' ');
            connect.push_str(&ws);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// `/demo`: the page's script (`/demo.js`) and the widget's, both from files, and the
/// widget's connections (WebSocket, XHR, JSONP scripts) to the base URL, and to the live
/// nodes of its cluster (`nodes`, their base URLs), where the router may send it.
/// Styles may be inline: the widget adds its style sheet, coloured by its `color` option,
/// at run time.
pub(super) fn demo(base_url: &str, nodes: &[String]) -> String {
    let (mut script, mut connect) = ("'self'".to_string(), "'self'".to_string());
    for (http, ws) in std::iter::once(base_url)
        .chain(nodes.iter().map(String::as_str))
        .filter_map(base_origin)
    {
        if !script.split(' ').any(|o| o == http) {
            script = format!("{script} {http}");
            connect = format!("{connect} {http} {ws}");
        }
    }
    format!(
        "default-src 'none'; script-src {script}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src {connect}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// `http://host[:port]` and `ws://host[:port]` (or `https`/`wss`) of a base URL; `None`
/// for any other scheme or an authority that is not a plain `host[:port]`.
fn base_origin(base_url: &str) -> Option<(String, String)> {
    let (scheme, ws, rest) = if let Some(r) = base_url.strip_prefix("https://") {
        ("https", "wss", r)
    } else if let Some(r) = base_url.strip_prefix("http://") {
        ("http", "ws", r)
    } else {
        return None;
    };
    let host = valid_host(rest.split('/').next().unwrap_or(""))?;
    Some((format!("{scheme}://{host}"), format!("{ws}://{host}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_host_and_port_only() {
        for ok in [
            "localhost",
            "127.0.0.1:8080",
            "chat.example.com",
            "chat-1.example.com:443",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::1]:80",
        ] {
            assert_eq!(valid_host(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "a:",
            "a:123456",
            "a:8x",
            "a b",
            "a;b",
            "a,b",
            "a'b",
            "example.com; script-src *",
            "example.com:80 *",
            "*",
            "a/b",
            "user@host",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:",
            "[::g]",
            "h\u{e9}te",
            "a\r\nb",
        ] {
            assert_eq!(valid_host(bad), None, "{bad:?}");
        }
        assert_eq!(valid_host(&"a".repeat(300)), None);
    }

    #[test]
    fn the_console_connects_to_its_own_host_only() {
        assert_eq!(
            console(Some("chat.example.com:8080"), &[]),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' ws://chat.example.com:8080 wss://chat.example.com:8080; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        let plain = console(None, &[]);
        assert!(plain.contains("connect-src 'self'; "), "{plain}");
        for hostile in ["x; script-src *", "x 'unsafe-inline'", "x,y", "*"] {
            assert_eq!(console(Some(hostile), &[]), plain, "{hostile}");
        }
        // The sockets of a cluster's nodes, nothing of a URL that is not a plain base.
        let nodes = [
            "https://n1.chat.example".to_string(),
            "http://10.0.0.2:8080/".to_string(),
            "javascript:alert(1)".to_string(),
            "https://x; script-src *".to_string(),
        ];
        assert!(
            console(None, &nodes)
                .contains("connect-src 'self' wss://n1.chat.example ws://10.0.0.2:8080; "),
            "{}",
            console(None, &nodes)
        );
    }

    #[test]
    fn the_demo_allows_its_base_url() {
        assert_eq!(
            demo("https://chat.example.com/kefu", &[]),
            "default-src 'none'; script-src 'self' https://chat.example.com; \
             style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self' https://chat.example.com wss://chat.example.com; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        let d = demo("http://127.0.0.1:9000", &[]);
        assert!(d.contains("connect-src 'self' http://127.0.0.1:9000 ws://127.0.0.1:9000;"));
        // A cluster's nodes, once each.
        let nodes = [
            "http://127.0.0.1:9000".to_string(),
            "https://n2.example".to_string(),
            "x;y".to_string(),
        ];
        let d = demo("http://127.0.0.1:9000", &nodes);
        assert!(
            d.contains("script-src 'self' http://127.0.0.1:9000 https://n2.example; ")
                && d.contains(
                    "connect-src 'self' http://127.0.0.1:9000 ws://127.0.0.1:9000 \
                     https://n2.example wss://n2.example; "
                ),
            "{d}"
        );
        for odd in ["ftp://x", "http://a b", "http://x;y/", "x"] {
            let d = demo(odd, &[]);
            assert!(
                d.contains("script-src 'self'; ") && d.contains("connect-src 'self'; "),
                "{odd}: {d}"
            );
        }
    }
}
