//! The OpenAPI document (`/v1/openapi.json`) and the server agree: it is served as it is
//! kept, every endpoint `docs/api.md` lists is in it and every endpoint of it is listed
//! (the channels and the WebSocket in `docs/protocol.md`), and a documented path asked
//! with another method is a 405 whose `Allow` header gives the document's methods.
//! (schemathesis drives every operation against the document: `scripts/schemathesis.sh`.)

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::*;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(srv: &TestServer) -> Value {
    let (status, head, body) = http(srv.addr, "GET", "/v1/openapi.json", &[], "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    serde_json::from_str(&body).expect("the document is JSON")
}

/// `(METHOD, path)` of every operation of the document, with its tags.
fn operations(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let tags = op["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|t| t.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                ops.push((m.to_uppercase(), path.clone(), tags));
            }
        }
    }
    ops
}

/// `(METHOD, path)` of every row of `docs/api.md`'s table, its query left out.
fn listed() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
        .expect("docs/api.md");
    text.lines()
        .filter_map(|l| {
            let cell = l.strip_prefix("| `")?.split('`').next()?;
            let (method, path) = cell.split_once(' ')?;
            let path = path.split('?').next()?;
            METHODS
                .contains(&method.to_lowercase().as_str())
                .then(|| (method.to_string(), path.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn the_document_describes_every_endpoint_the_api_lists() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let doc = document(&srv).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    let mut ids = BTreeSet::new();
    for (m, p, _) in &ops {
        let id = doc["paths"][p][m.to_lowercase()]["operationId"].as_str();
        assert!(
            ids.insert(id.expect("every operation has an id")),
            "{m} {p}: id taken"
        );
    }
    let documented: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|(_, p, tags)| !tags.iter().any(|t| t == "channels") && p != "/v1/ws")
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let in_pages: BTreeSet<(String, String)> = ["/", "/widget.js", "/console", "/demo", "/demo.js"]
        .iter()
        .map(|p| ("GET".to_string(), p.to_string()))
        .collect();
    let listed: BTreeSet<(String, String)> = listed().difference(&in_pages).cloned().collect();
    let missing: Vec<_> = listed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "in docs/api.md, not in the document: {missing:?}"
    );
    let unlisted: Vec<_> = documented.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "in the document, not in docs/api.md: {unlisted:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_other_methods_are_405_with_allow() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let doc = document(&srv).await;
    for (method, path, _) in operations(&doc) {
        let concrete = path
            .replace("{id}", "999999")
            .replace("{visitor}", "v999999");
        // Routed: whatever it answers (a refusal of this empty request, say), it is not
        // "no such path" or "wrong method".
        let (status, _, body) = http(srv.addr, &method, &concrete, &[], "").await;
        assert!(
            status != 405
                && !(status == 404 && body.contains("\"not found\"") && !path.contains('{')),
            "{method} {path}: {status} {body}"
        );
        let allowed: Vec<String> = METHODS
            .iter()
            .filter(|m| doc["paths"][&path].get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        let other = METHODS
            .iter()
            .map(|m| m.to_uppercase())
            .find(|m| !allowed.contains(m))
            .expect("some method is not documented");
        let (status, head, _) = http(srv.addr, &other, &concrete, &[], "").await;
        assert_eq!(status, 405, "{other} {path}");
        let mut want = allowed.join(", ");
        if path.starts_with("/v1/") {
            want.push_str(", OPTIONS");
        }
        assert!(
            head.contains(&format!("allow: {}\r\n", want.to_lowercase())),
            "{other} {path}: Allow should be {want:?}:\n{head}"
        );
    }
}
