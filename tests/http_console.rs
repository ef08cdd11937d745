//! The agent console's files as the server serves them: the page, every ES module it
//! loads (followed from its script tag through each static `import`) and its stylesheet,
//! each with its content type and the console's headers; nothing else under `/console/`.

mod support;

use std::collections::{BTreeSet, VecDeque};

use support::*;

/// The header `name` of a lower-cased response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// The quoted strings right after each `marker` in `text`.
fn quoted_after(text: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = rest[1..].find(q) {
            out.push(rest[1..1 + end].to_string());
        }
    }
    out
}

/// The module specifiers of a module's static imports and re-exports.
fn imports(js: &str) -> Vec<String> {
    let mut specs = quoted_after(js, " from ");
    specs.extend(quoted_after(js, "import "));
    specs
}

/// `spec` (relative) resolved against the URL path of the module that imports it.
fn resolve(base: &str, spec: &str) -> String {
    assert!(
        spec.starts_with("./") || spec.starts_with("../"),
        "{base} imports {spec:?}: only relative imports, of the console's own files"
    );
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for seg in spec.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[tokio::test]
async fn the_page_and_every_module_it_loads_are_served_with_the_console_headers() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let (s, page_head, html) = http(srv.addr, "GET", "/console", &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(
        header(&page_head, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&page_head, "content-security-policy").expect("a CSP");
    assert!(html.contains("<script type=\"module\" src=\"/console/main.js\"></script>"));

    let mut queue: VecDeque<String> = quoted_after(&html, " src=").into();
    let styles = quoted_after(&html, " href=");
    assert_eq!(styles, ["/console/app.css"]);
    queue.extend(styles);
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (s, head, body) = http(srv.addr, "GET", &path, &[], "").await;
        assert_eq!(s, 200, "{path}");
        let want = if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        };
        assert_eq!(header(&head, "content-type"), Some(want), "{path}");
        assert_eq!(
            header(&head, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&head, "cache-control"), Some("no-cache"), "{path}");
        assert_eq!(header(&head, "x-frame-options"), Some("deny"), "{path}");
        assert_eq!(
            header(&head, "content-security-policy"),
            Some(csp),
            "{path}"
        );
        if path.ends_with(".js") {
            for spec in imports(&body) {
                queue.push_back(resolve(&path, &spec));
            }
        }
    }
    for want in [
        "/console/main.js",
        "/console/streams.js",
        "/console/socket.js",
        "/console/render/pane.js",
    ] {
        assert!(seen.contains(want), "{want} is loaded: {seen:?}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn nothing_else_under_console_is_served() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    for path in [
        "/console/nope.js",
        "/console/app.js",
        "/console/package.json",
        "/console/package-lock.json",
        "/console/eslint.config.js",
        "/console/test/unit/streams.test.js",
        "/console/node_modules/ws/package.json",
        "/console/../Cargo.toml",
        "/console/render/../main.js",
        "/console/%2e%2e/Cargo.toml",
        "/console//main.js",
        "/console/main.js/",
    ] {
        let (s, _, _) = http(srv.addr, "GET", path, &[], "").await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _, _) = http(srv.addr, "POST", "/console/main.js", &[], "").await;
    assert_ne!(s, 200, "POST");
    srv.stop().await;
}
