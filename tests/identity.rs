//! Verified visitor identity end to end (`docs/identity.md`): what agents are shown of a
//! visitor's `hello.user` for good, refused and plain identities and the old `sig`, what
//! a site that requires identity lets in, and that the documented Node and Python
//! examples make tokens the server accepts. The token format's own edge cases are unit
//! tests of `kefu::core::auth`; this file knows only the wire and the public signer.

mod support;

use std::process::Command;

use data_encoding::BASE64URL_NOPAD as B64;
use hmac::Mac;
use kefu::core::auth::{sign_identity, IdentityClaims};
use serde_json::{json, Value};
use support::*;

fn now() -> i64 {
    kefu::store::now_ms() / 1000
}

fn claims(sub: &str, name: &str, attrs: &[(&str, &str)]) -> IdentityClaims {
    let attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    IdentityClaims::new(sub, name, attrs, now(), 600).unwrap()
}

/// A token with any header and payload text, signed with `secret`.
fn forge(secret: &str, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.as_bytes()),
        B64.encode(payload.as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(&mac.finalize().into_bytes()))
}

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Tokens the server must refuse, by what is wrong with them: `secret` is the site's,
/// `other` another site's.
fn refused_tokens(secret: &str, other: &str) -> Vec<(&'static str, String)> {
    let good = sign_identity(secret, &claims("user-42", "Ann", &[]));
    let evil = sign_identity(secret, &claims("user-42", "CEO (billing admin)", &[]));
    let (g, e): (Vec<&str>, Vec<&str>) = (good.split('.').collect(), evil.split('.').collect());
    let payload = |extra: Value| {
        let mut p = json!({"sub": "user-42", "name": "Ann", "exp": now() + 600});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p.to_string()
    };
    let attrs = |n: usize, v: usize| -> Value {
        (0..n)
            .map(|i| (format!("k{i}"), json!("v".repeat(v))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut expired = claims("user-42", "Ann", &[]);
    expired.exp = now() - 120;
    expired.iat = Some(now() - 720);
    vec![
        ("expired", sign_identity(secret, &expired)),
        (
            "signed with another site's secret",
            sign_identity(other, &claims("user-42", "Ann", &[])),
        ),
        (
            "alg none",
            format!("{}.{}.", B64.encode(br#"{"alg":"none","typ":"JWT"}"#), g[1]),
        ),
        (
            "alg HS512",
            forge(
                secret,
                r#"{"alg":"HS512","typ":"JWT"}"#,
                &payload(json!({})),
            ),
        ),
        ("tampered payload", format!("{}.{}.{}", g[0], e[1], g[2])),
        (
            "over 4096 bytes",
            forge(secret, HS256, &payload(json!({"pad": "x".repeat(3100)}))),
        ),
        ("bad base64", format!("{good}==")),
        ("not three parts", format!("{}.{}", g[0], g[1])),
        (
            "a payload that is not an object",
            forge(secret, HS256, "[]"),
        ),
        (
            "21 attributes",
            forge(secret, HS256, &payload(json!({"attrs": attrs(21, 1)}))),
        ),
        (
            "an attribute value over 256 characters",
            forge(secret, HS256, &payload(json!({"attrs": attrs(1, 257)}))),
        ),
        (
            "a name over 128 characters",
            forge(secret, HS256, &payload(json!({"name": "n".repeat(129)}))),
        ),
        (
            "exp 8 days ahead",
            forge(secret, HS256, &payload(json!({"exp": now() + 8 * 86_400}))),
        ),
        ("no exp", forge(secret, HS256, r#"{"sub":"user-42"}"#)),
    ]
}

/// The first identity scheme: hex HMAC-SHA256 of the id alone, correctly computed.
fn old_sig(secret: &str, id: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn site(srv: &TestServer, key: &str) -> kefu::store::Site {
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    store.site_by_key(key).unwrap().unwrap()
}

fn hello(site: &str, user: Value) -> Value {
    json!({"t":"hello","v":1,"site":site,"role":"visitor","user":user})
}

/// An agent of the first site, past its snapshot.
async fn agent(srv: &TestServer) -> Client {
    let token = token_of(srv, "admin@localhost", "test-password").await;
    let mut a = Client::connect(&srv.ws_url()).await;
    a.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"agent","token":token}))
        .await;
    a.recv_type("welcome").await;
    a.recv_type("visitors").await;
    a
}

/// What the agent is shown of the `user` of the next visitor to say `hello` with `user`.
async fn shown(srv: &TestServer, a: &mut Client, user: Value) -> Value {
    let mut v = Client::connect(&srv.ws_url()).await;
    v.send(hello(&srv.site_key, user)).await;
    let w = v.recv_type("welcome").await;
    next_user_of(a, w["session"].as_str().unwrap()).await
}

/// The `user` of the next `visitor` change of visitor `id`.
async fn next_user_of(a: &mut Client, id: &str) -> Value {
    loop {
        let f = a.recv_type("visitor").await;
        if f["v"]["id"] == id {
            return f["v"]["user"].clone();
        }
    }
}

#[tokio::test]
async fn a_good_token_shows_exactly_its_claims_as_verified() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let secret = site(&srv, &srv.site_key).secret;
    let mut a = agent(&srv).await;
    let c = claims(
        "user-42",
        "Ada Lovelace",
        &[("plan", "pro"), ("team", "R&D")],
    );
    let token = sign_identity(&secret, &c);
    let user = shown(&srv, &mut a, json!({ "token": token })).await;
    assert_eq!(
        user,
        json!({"id":"user-42","name":"Ada Lovelace","attrs":{"plan":"pro","team":"R&D"},
               "verified":true,"exp":c.exp}),
        "the token itself is not relayed"
    );
    // A token with only `sub`: no name, no attributes.
    let token = sign_identity(&secret, &claims("user-7", "", &[]));
    let user = shown(&srv, &mut a, json!({ "token": token })).await;
    assert_eq!(user["verified"], true);
    assert_eq!((&user["name"], &user["attrs"]), (&json!(""), &json!({})));
    srv.stop().await;
}

#[tokio::test]
async fn plain_fields_beside_a_good_token_are_ignored() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let secret = site(&srv, &srv.site_key).secret;
    let mut a = agent(&srv).await;
    let c = claims("user-42", "Ann", &[("plan", "free")]);
    let user = shown(
        &srv,
        &mut a,
        json!({"token": sign_identity(&secret, &c), "id": "admin", "name": "CEO (billing admin)",
               "attrs": {"plan": "enterprise", "role": "billing"}}),
    )
    .await;
    assert_eq!(
        user,
        json!({"id":"user-42","name":"Ann","attrs":{"plan":"free"},"verified":true,"exp":c.exp})
    );
    // Nor do they fill in what the token left out.
    let user = shown(
        &srv,
        &mut a,
        json!({"token": sign_identity(&secret, &claims("user-42", "", &[])),
               "name": "CEO (billing admin)", "attrs": {"plan": "enterprise"}}),
    )
    .await;
    assert_eq!(user["verified"], true);
    assert_eq!((&user["name"], &user["attrs"]), (&json!(""), &json!({})));
    srv.stop().await;
}

#[tokio::test]
async fn refused_tokens_and_the_old_sig_are_never_verified() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let other_key = second_site(&srv);
    let secret = site(&srv, &srv.site_key).secret;
    let other = site(&srv, &other_key).secret;
    let mut a = agent(&srv).await;
    let tokens = refused_tokens(&secret, &other);
    assert!(tokens.iter().any(|(_, t)| t.len() > 4096));
    for (why, token) in tokens {
        // With plain fields: those, unverified, and nothing from the token.
        let user = shown(
            &srv,
            &mut a,
            json!({"token": token, "id": "user-42", "name": "Mallory"}),
        )
        .await;
        assert_eq!(
            user,
            json!({"id":"user-42","name":"Mallory","attrs":{},"verified":false}),
            "{why}"
        );
        // Alone: no identity at all.
        let user = shown(&srv, &mut a, json!({ "token": token })).await;
        assert_eq!(user, Value::Null, "{why}");
    }
    // A correct signature of the first scheme (the id alone) verifies nothing any more.
    let user = shown(
        &srv,
        &mut a,
        json!({"id": "user-42", "name": "CEO (billing admin)", "attrs": {"plan": "enterprise"},
               "sig": old_sig(&secret, "user-42")}),
    )
    .await;
    assert_eq!(
        user,
        json!({"id":"user-42","name":"CEO (billing admin)","attrs":{"plan":"enterprise"},
               "verified":false})
    );
    // Plain fields alone, as before: shown, unverified.
    let user = shown(&srv, &mut a, json!({"id": "u-9", "attrs": {"n": 3}})).await;
    assert_eq!(
        user,
        json!({"id":"u-9","name":"","attrs":{"n":3},"verified":false})
    );
    srv.stop().await;
}

#[tokio::test]
async fn plain_fields_keep_their_limits_and_need_an_id_without_a_token() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    for user in [
        json!({"id": "u", "attrs": {"k": "x".repeat(257)}}),
        json!({"id": "u", "attrs": many}),
        json!({"id": "u", "name": "n".repeat(129)}),
        json!({"id": "i".repeat(129)}),
        json!({"name": "no id, no token"}),
        json!({"token": 42}),
    ] {
        let mut v = Client::connect(&srv.ws_url()).await;
        v.send(hello(&srv.site_key, user.clone())).await;
        assert_eq!(v.recv_type("err").await["code"], "bad_frame", "{user}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn each_hello_with_a_user_replaces_what_agents_see() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let secret = site(&srv, &srv.site_key).secret;
    let mut a = agent(&srv).await;
    let mut v = Client::connect(&srv.ws_url()).await;
    v.send(hello(
        &srv.site_key,
        json!({"token": sign_identity(&secret, &claims("user-42", "Ann", &[]))}),
    ))
    .await;
    let w = v.recv_type("welcome").await;
    let (session, visitor) = (w["session"].as_str().unwrap(), w["visitor"].clone());
    assert_eq!(next_user_of(&mut a, session).await["verified"], true);
    // Another tab of the same visitor: a hello without `user` leaves the identity alone…
    let mut t = Client::connect(&srv.ws_url()).await;
    t.send(json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":visitor}))
        .await;
    t.recv_type("welcome").await;
    assert_eq!(next_user_of(&mut a, session).await["name"], "Ann");
    // …but a refused token does not leave the earlier verified identity standing.
    let mut expired = claims("user-42", "Ann", &[]);
    expired.exp = now() - 3600;
    let mut t = Client::connect(&srv.ws_url()).await;
    t.send(
        json!({"t":"hello","v":1,"site":srv.site_key,"role":"visitor","visitor":visitor,
                  "user":{"token": sign_identity(&secret, &expired)}}),
    )
    .await;
    t.recv_type("welcome").await;
    assert_eq!(next_user_of(&mut a, session).await, Value::Null);
    srv.stop().await;
}

#[tokio::test]
async fn a_site_requiring_identity_lets_in_only_good_tokens() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let key = second_site(&srv);
    let store = kefu::store::open(&srv.db_url, &kefu::store::Options::default()).unwrap();
    let s = site(&srv, &key);
    store.set_require_identity(s.id, true).unwrap();
    let first = site(&srv, &srv.site_key).secret;
    let mut refused: Vec<(&str, Value)> = refused_tokens(&s.secret, &first)
        .into_iter()
        .map(|(why, t)| (why, json!({"token": t, "id": "user-42"})))
        .collect();
    refused.push(("plain fields", json!({"id": "user-42", "name": "Ann"})));
    refused.push((
        "the old sig",
        json!({"id": "user-42", "sig": old_sig(&s.secret, "user-42")}),
    ));
    for (why, user) in refused {
        let mut c = Client::connect(&srv.ws_url()).await;
        c.send(hello(&key, user)).await;
        assert_eq!(c.closed_with().await, 4103, "{why}");
    }
    let mut anon = Client::connect(&srv.ws_url()).await;
    anon.send(json!({"t":"hello","v":1,"site":key,"role":"visitor"}))
        .await;
    assert_eq!(anon.closed_with().await, 4103, "no user");
    let mut c = Client::connect(&srv.ws_url()).await;
    let token = sign_identity(&s.secret, &claims("user-42", "Ann", &[]));
    c.send(hello(&key, json!({ "token": token }))).await;
    c.recv_type("welcome").await;
    // Over long-polling too.
    let mut h = HttpClient::open(srv.addr, "lp", &hello(&key, json!({ "token": token }))).await;
    h.recv_type("welcome").await;
    let plain = hello(&key, json!({"id": "user-42"}));
    let mut h = HttpClient::open(srv.addr, "lp", &plain).await;
    assert_eq!(h.recv_type("bye").await["code"], 4103);
    srv.stop().await;
}

/// The one fenced block of `lang` in docs/identity.md.
fn documented(lang: &str) -> String {
    let doc = include_str!("../docs/identity.md");
    let fence = format!("```{lang}\n");
    let blocks: Vec<&str> = doc
        .split(&fence)
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 1, "one {lang} example in docs/identity.md");
    blocks[0].to_string()
}

/// Run `program` with `script` on standard input and `args`; its standard output, trimmed.
/// Fails (never skips) when the program is missing or fails.
fn run(program: &str, stdin_flag: &str, script: &str, args: &[&str]) -> String {
    use std::io::Write;
    let mut child = Command::new(program)
        .arg(stdin_flag)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed to check docs/identity.md: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn the_documented_node_and_python_examples_make_tokens_the_server_accepts() {
    let dir = temp_dir();
    let srv = start(dir.path()).await;
    let secret = site(&srv, &srv.site_key).secret;
    let mut a = agent(&srv).await;
    let name = "Zoë 李 \"Q\" 😀";
    let node = format!(
        "{}\nconst [secret, id, name, plan] = process.argv.slice(2);\n\
         console.log(kefuIdentityToken(secret, id, {{ name, attrs: {{ plan }}, ttl: 600 }}));\n",
        documented("js")
    );
    let python = format!(
        "{}\nimport sys\n\
         print(kefu_identity_token(sys.argv[1], sys.argv[2], sys.argv[3], {{\"plan\": sys.argv[4]}}, ttl=600))\n",
        documented("python")
    );
    let args = [secret.as_str(), "user-42", name, "gold"];
    let tokens = [
        ("node", run("node", "-", &node, &args)),
        ("python3", run("python3", "-", &python, &args)),
    ];
    assert!(documented("php").contains("hash_hmac('sha256'"));
    for (lang, token) in tokens {
        let c = kefu::core::auth::verify_identity(&secret, &token, now())
            .unwrap_or_else(|e| panic!("{lang}: {e}: {token}"));
        assert_eq!(
            (c.sub.as_str(), c.name.as_str()),
            ("user-42", name),
            "{lang}"
        );
        assert_eq!(
            c.attrs.into_iter().collect::<Vec<_>>(),
            [("plan".to_string(), "gold".to_string())]
        );
        let iat = c.iat.expect("iat");
        assert!((now() - iat).abs() < 60 && c.exp == iat + 600, "{lang}");
        let user = shown(&srv, &mut a, json!({ "token": token })).await;
        assert_eq!(
            user,
            json!({"id":"user-42","name":name,"attrs":{"plan":"gold"},"verified":true,"exp":c.exp}),
            "{lang}"
        );
    }
    srv.stop().await;
}
