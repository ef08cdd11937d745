//! Static assets compiled into the binary: the visitor widget, the demo page and the
//! agent console.
//!
//! Owns: their URLs, ETags and cache headers (their CSPs are `csp`'s). The widget bundle is
//! the concatenation of `widget-js/bundle.txt`'s files, and the console's files are a table
//! of every file under `console/` but its package (tests, installed packages, package
//! files, lint config), both made by `build.rs`: a file added there is served with no
//! change here. Only the table's paths are served, so no request path can reach anything
//! else.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;

use super::csp;
use super::error::HttpError;
use super::{Body, HttpCtx};

/// The widget bundle (empty when the widget sources are absent).
const WIDGET_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/widget.js"));
/// The demo page, with `{{BASE_URL}}` and `{{SITE_KEY}}` placeholders.
const DEMO_HTML: &str = include_str!("../../widget-js/demo.html");
/// The demo page's own script: its cart and the widget's loader snippet.
const DEMO_JS: &str = include_str!("../../widget-js/demo.js");

// `CONSOLE_FILES`: the agent console (HTML, ES modules and CSS for current browsers).
include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// The content type and bytes of the console file at `path` (relative to `/console/`).
fn console_file(path: &str) -> Option<(&'static str, &'static [u8])> {
    let i = CONSOLE_FILES
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()?;
    let (_, ct, body) = CONSOLE_FILES[i];
    Some((ct, body))
}

/// `GET /console` (its page) and `/console/<path>` (its files). The page forbids inline
/// scripts and any other origin for scripts (CSP), so user text can never run; it
/// connects to the host it was loaded from (`host`: the request's `Host` header) only,
/// and by WebSocket to the live nodes of its cluster (`nodes`, their base URLs).
pub(super) fn console(
    path: &str,
    host: Option<&str>,
    nodes: &[String],
) -> Result<Response<Body>, HttpError> {
    let file = match path {
        "/console" | "/console/" => "index.html",
        p => p.strip_prefix("/console/").ok_or(HttpError::NotFound)?,
    };
    let (ct, body) = console_file(file).ok_or(HttpError::NotFound)?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, ct)
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", csp::console(host, nodes))
        .header("x-frame-options", "DENY")
        .body(Full::new(Bytes::from_static(body)))
        .expect("static response parts are valid"))
}

fn widget_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        // FNV-1a: stable across builds for the same bytes; not a security boundary.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in WIDGET_JS.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("\"w{h:016x}\"")
    })
}

/// `GET /widget.js`: the widget, cacheable for five minutes and revalidated by ETag.
pub(super) fn widget<B>(req: &Request<B>) -> Result<Response<Body>, HttpError> {
    if WIDGET_JS.is_empty() {
        return Err(HttpError::NotFound);
    }
    let etag = widget_etag();
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let builder = Response::builder()
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header("x-content-type-options", "nosniff");
    let resp = if fresh {
        builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Full::default())
    } else {
        builder
            .status(StatusCode::OK)
            .header(
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            )
            .body(Full::new(Bytes::from_static(WIDGET_JS.as_bytes())))
    };
    Ok(resp.expect("static response parts are valid"))
}

/// `GET /demo`: a page with the widget embedded for the first site, under a CSP that
/// runs scripts from files only (`/demo.js`, the widget) and connects to the base URL.
pub(super) async fn demo(ctx: &HttpCtx) -> Result<Response<Body>, HttpError> {
    let site = ctx
        .hub
        .directory()
        .first_site()
        .await?
        .ok_or_else(|| HttpError::Unavailable("no site exists yet".into()))?;
    let base = ctx.hub.config().base_url();
    let html = DEMO_HTML
        .replace("{{BASE_URL}}", &base)
        .replace("{{SITE_KEY}}", &site.key);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff")
        .header(
            "content-security-policy",
            csp::demo(&base, &ctx.hub.node_urls()),
        )
        .body(Full::new(Bytes::from(html)))
        .expect("static response parts are valid"))
}

/// `GET /demo.js`: the demo page's own script.
pub(super) fn demo_js() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-content-type-options", "nosniff")
        .body(Full::new(Bytes::from_static(DEMO_JS.as_bytes())))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_table_holds_the_console_and_not_its_package() {
        let paths: Vec<&str> = CONSOLE_FILES.iter().map(|(p, _, _)| *p).collect();
        for want in ["index.html", "app.css"] {
            assert!(paths.contains(&want), "{want} in {paths:?}");
        }
        for p in &paths {
            assert!(
                !p.starts_with("test/")
                    && !p.starts_with("node_modules/")
                    && !p.starts_with('.')
                    && !["package.json", "package-lock.json", "eslint.config.js"].contains(p),
                "{p} is not the console's to serve"
            );
        }
        assert!(
            paths.windows(2).all(|w| w[0] < w[1]),
            "sorted, for the lookup"
        );
        assert!(
            console_file("main.js").is_some_and(|(ct, _)| ct.starts_with("application/javascript"))
        );
    }

    #[test]
    fn only_the_table_is_served() {
        for path in [
            "/console/nope.js",
            "/console/../Cargo.toml",
            "/console/render/../main.js",
            "/console//main.js",
            "/console/package.json",
            "/console/test/unit/streams.test.js",
            "/console/node_modules/ws/package.json",
            "/consolex",
            "/console/main.js/",
        ] {
            assert!(
                matches!(console(path, None, &[]), Err(HttpError::NotFound)),
                "{path}"
            );
        }
        let ok = console("/console/", None, &[]).expect("the page");
        assert_eq!(
            ok.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
    }
}
