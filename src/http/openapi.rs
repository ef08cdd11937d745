//! The OpenAPI 3.1 description of the HTTP API (`openapi.json`, served at
//! `/v1/openapi.json`), and what the router takes from it: which methods each path
//! answers, so that a known path asked with another method is a 405 whose `Allow` header
//! lists them. The document is checked against the running server by schemathesis
//! (`scripts/schemathesis.sh`) and by `tests/openapi.rs`.
//!
//! Owns: the document, and matching a request path to its templates (`{id}` is one
//! segment). Knows nothing of the handlers.

use std::sync::LazyLock;

/// The document, as served.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

/// The methods a path may document, in the order `Allow` lists them.
const ORDER: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Each documented path template, split into segments, with its methods (upper case).
static PATHS: LazyLock<Vec<(Vec<String>, Vec<String>)>> = LazyLock::new(|| {
    let doc: serde_json::Value =
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON (tested)");
    let paths = doc["paths"].as_object().expect("openapi.json has paths");
    paths
        .iter()
        .map(|(path, ops)| {
            let segments = path.split('/').map(str::to_string).collect();
            // In the usual order (GET, POST, PUT, PATCH, DELETE), not the document's.
            let methods = ORDER
                .iter()
                .filter(|m| ops.get(m.to_ascii_lowercase()).is_some())
                .map(|m| m.to_string())
                .collect();
            (segments, methods)
        })
        .collect()
});

/// The pages outside the API: each answers GET only.
const PAGES: &[&str] = &["/", "/widget.js", "/demo", "/demo.js"];

/// The `Allow` header of `path`: the methods the document gives it (and OPTIONS, which
/// every `/v1/` path answers as a CORS preflight), GET for a page; `None` for a path
/// that is not kefu's.
pub(crate) fn allow(path: &str) -> Option<String> {
    if PAGES.contains(&path) || path == "/console" || path.starts_with("/console/") {
        return Some("GET".into());
    }
    let asked: Vec<&str> = path.split('/').collect();
    let (_, methods) = PATHS.iter().find(|(template, _)| {
        template.len() == asked.len()
            && template.iter().zip(&asked).all(|(t, a)| {
                if t.starts_with('{') {
                    !a.is_empty()
                } else {
                    t == a
                }
            })
    })?;
    let mut methods = methods.clone();
    if path.starts_with("/v1/") {
        methods.push("OPTIONS".into());
    }
    Some(methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_templates_and_list_their_methods() {
        assert_eq!(allow("/v1/canned/7").as_deref(), Some("DELETE, OPTIONS"));
        assert_eq!(
            allow("/v1/conversations/3/messages").as_deref(),
            Some("POST, OPTIONS")
        );
        assert_eq!(allow("/v1/agents").as_deref(), Some("GET, POST, OPTIONS"));
        assert_eq!(
            allow("/v1/webhooks/7").as_deref(),
            Some("PATCH, DELETE, OPTIONS"),
            "in the usual order, whatever the document's"
        );
        assert_eq!(allow("/healthz").as_deref(), Some("GET"));
        assert_eq!(allow("/demo").as_deref(), Some("GET"));
        assert_eq!(allow("/v1/canned/"), None, "an empty segment is no id");
        assert_eq!(allow("/v1/nothing"), None);
        assert_eq!(allow("/v1/conversations/3/messages/x"), None);
    }
}
