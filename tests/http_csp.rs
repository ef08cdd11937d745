//! The Content-Security-Policy headers of the pages kefu serves, exactly: the demo page
//! runs scripts from files only and connects to the base URL; the agent console connects
//! to the host it was loaded from, named from a `Host` header that cannot add to the
//! policy however hostile.

mod support;

use support::*;

const CONSOLE_FIXED: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                             img-src 'self' data:; connect-src ";
const CONSOLE_TAIL: &str = "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The one `content-security-policy` header of a lower-cased response head.
fn csp_of(head: &str) -> String {
    let all: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("content-security-policy: "))
        .collect();
    assert_eq!(all.len(), 1, "exactly one CSP header: {head}");
    all[0].to_string()
}

async fn get_with_host(srv: &TestServer, path: &str, host: &[u8]) -> (u16, String, String) {
    let mut req = format!("GET {path} HTTP/1.1\r\n").into_bytes();
    req.extend_from_slice(b"host: ");
    req.extend_from_slice(host);
    req.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    http_raw(srv.addr, &req).await
}

#[tokio::test]
async fn the_demo_runs_scripts_from_files_and_connects_to_the_base_url() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let a = srv.addr;
    let (s, head, html) = http(a, "GET", "/demo", &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(
        csp_of(&head),
        format!(
            "default-src 'none'; script-src 'self' http://{a}; \
             style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self' http://{a} ws://{a}; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        )
    );
    // The policy allows no inline script, so the page has none: every <script> has a src.
    let tags: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(tags.len(), 2, "{html}");
    for t in &tags {
        let open = t.split('>').next().unwrap();
        assert!(
            open.contains(" src=\""),
            "a script without src: <script{open}>"
        );
        assert!(
            t[open.len() + 1..].starts_with("</script>"),
            "inline script text"
        );
    }
    assert!(html.contains(&format!(
        "<script src=\"/demo.js\" data-site=\"{}\"></script>",
        srv.site_key
    )));
    assert!(html.contains(&format!("<script async src=\"http://{a}/widget.js\"")));
    // The page's script is served, as script, from the same origin.
    let (s, js_head, js) = http(a, "GET", "/demo.js", &[], "").await;
    assert_eq!(s, 200);
    assert!(js_head.contains("content-type: application/javascript"));
    assert!(js_head.contains("x-content-type-options: nosniff"));
    assert!(js.contains("kefu(\"init\""), "the loader snippet: {js}");
    // The demo's policy does not depend on the Host header either.
    let (_, head2, _) = get_with_host(&srv, "/demo", b"evil.example").await;
    assert_eq!(csp_of(&head2), csp_of(&head));
    srv.stop().await;
}

#[tokio::test]
async fn the_console_connects_to_its_own_host_only() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    for (host, connect) in [
        (
            "chat.example.com:8443",
            "'self' ws://chat.example.com:8443 wss://chat.example.com:8443",
        ),
        ("localhost", "'self' ws://localhost wss://localhost"),
        ("[::1]:9000", "'self' ws://[::1]:9000 wss://[::1]:9000"),
    ] {
        for path in ["/console", "/console/main.js", "/console/app.css"] {
            let (s, head, _) = get_with_host(&srv, path, host.as_bytes()).await;
            assert_eq!(s, 200, "{path}");
            assert_eq!(
                csp_of(&head),
                format!("{CONSOLE_FIXED}{connect}{CONSOLE_TAIL}"),
                "{path} Host: {host}"
            );
            assert!(head.contains("x-frame-options: deny"), "{head}");
        }
    }
    // The usual request, with the server's own address as Host.
    let a = srv.addr;
    let (_, head, _) = http(a, "GET", "/console", &[], "").await;
    assert_eq!(
        csp_of(&head),
        format!("{CONSOLE_FIXED}'self' ws://{a} wss://{a}{CONSOLE_TAIL}")
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_hostile_host_header_cannot_add_to_the_console_policy() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let self_only = format!("{CONSOLE_FIXED}'self'{CONSOLE_TAIL}");
    let hostile: [&[u8]; 12] = [
        b"evil.example; script-src *",
        b"evil.example; report-uri https://evil.example/r",
        b"evil.example 'unsafe-inline' 'unsafe-eval'",
        b"evil.example, default-src *",
        b"*",
        b"evil.example/path",
        b"user:pw@evil.example",
        b"evil.example:80:81",
        b"[::1] https://evil.example",
        b"'self'",
        b"\xe9vil.example",
        b"evil.example\tdata:",
    ];
    for host in hostile {
        let shown = String::from_utf8_lossy(host);
        let (s, head, _) = get_with_host(&srv, "/console", host).await;
        assert_eq!(s, 200, "Host: {shown}");
        let csp = csp_of(&head);
        assert_eq!(csp, self_only, "Host: {shown}");
        assert!(!csp.contains("evil"), "{csp}");
    }
    // No Host header at all.
    let (s, head, _) = http_raw(
        srv.addr,
        b"GET /console HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s, 200, "{head}");
    assert_eq!(csp_of(&head), self_only);
    srv.stop().await;
}
