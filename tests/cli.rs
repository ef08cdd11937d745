//! The command line: sites and agents managed on the database the server uses.

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::*;

fn kefu(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(args)
        .env("KEFU_DATABASE_URL", db)
        .env("KEFU_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn sites_and_agents_from_the_command_line() {
    let dir = temp_dir();
    let db = database_url(dir.path());
    let (ok, out, err) = kefu(
        &db,
        &["site", "add", "Shop", "--origin", "https://shop.example"],
    );
    assert!(ok, "{err}");
    let key = out.split('\t').nth(1).unwrap().to_string();
    let (ok, out, _) = kefu(&db, &["site", "list"]);
    assert!(ok && out.contains(&key) && out.contains("https://shop.example"));
    let (ok, out, err) = kefu(
        &db,
        &[
            "agent", "add", "--site", &key, "--email", "ann@shop", "--name", "Ann",
        ],
    );
    assert!(ok, "{err}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_string();
    let (ok, _, err) = kefu(
        &db,
        &[
            "agent", "add", "--site", &key, "--email", "x@shop", "--name", "X", "--role", "boss",
        ],
    );
    assert!(!ok && err.contains("role"), "{err}");
    let (ok, _, err) = kefu(
        &db,
        &["agent", "passwd", "--site", &key, "--email", "nobody@shop"],
    );
    assert!(!ok && err.contains("no agent"), "{err}");
    let (ok, out, _) = kefu(&db, &["agent", "list", "--site", &key]);
    assert!(ok && out.contains("ann@shop"));
    let (ok, _, err) = kefu(&db, &["site", "transports", &key, "ws", "carrier-pigeon"]);
    assert!(!ok && err.contains("carrier-pigeon"), "{err}");
    let (ok, out, err) = kefu(&db, &["site", "transports", &key, "ws", "lp", "jsonp"]);
    assert!(ok && out.contains("ws lp jsonp"), "{err}");
    let (ok, out, _) = kefu(&db, &["site", "identity", &key, "--required", "false"]);
    assert!(ok && out.contains("false"));

    // The owner's real domain replaces the placeholder; bad origins are refused.
    let (ok, _, err) = kefu(&db, &["site", "update", &key]);
    assert!(!ok && err.contains("nothing to change"), "{err}");
    let (ok, _, err) = kefu(
        &db,
        &[
            "site",
            "update",
            &key,
            "--origin",
            "https://shop.example/path",
        ],
    );
    assert!(!ok && err.contains("without a path"), "{err}");
    let (ok, out, err) = kefu(
        &db,
        &[
            "site",
            "update",
            &key,
            "--name",
            "The Shop",
            "--origin",
            "https://www.shop.example",
            "--origin",
            "https://shop.example",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("The Shop") && out.contains("https://www.shop.example https://shop.example"),
        "{out}"
    );

    // The server on the same database signs Ann in, on her site.
    let srv = start(dir.path()).await;
    let url = format!("{}?site={key}", srv.ws_url());
    let mut c = Client::connect_with(&url, Some("https://www.shop.example"))
        .await
        .expect("the new origin is allowed");
    c.hello(&key, None, None).await;
    let refused = Client::connect_with(&url, Some("https://old.example")).await;
    assert!(refused.is_err(), "other origins stay refused");
    let login = |pw: &str| json!({"email":"ann@shop","password":pw}).to_string();
    let (s, _, b) = http(srv.addr, "POST", "/v1/login", &[], &login(&password)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["agent"]["site"],
        key.as_str()
    );
    let (ok, _, err) = kefu(
        &db,
        &[
            "agent",
            "passwd",
            "--site",
            &key,
            "--email",
            "ann@shop",
            "--password",
            "new-password-1",
        ],
    );
    assert!(ok, "{err}");
    let (s, _, _) = http(srv.addr, "POST", "/v1/login", &[], &login(&password)).await;
    assert_eq!(s, 401, "the old password no longer works");
    let (s, _, _) = http(srv.addr, "POST", "/v1/login", &[], &login("new-password-1")).await;
    assert_eq!(s, 200);
    srv.stop().await;
}

#[test]
fn migrate_applies_the_pending_migrations_once_and_exits() {
    let dir = temp_dir();
    let db = database_url(dir.path());
    let (ok, out, err) = kefu(&db, &["migrate"]);
    assert!(ok, "{err}");
    let applied: Vec<&str> = out.lines().collect();
    assert!(
        !applied.is_empty() && applied.iter().all(|l| l.starts_with("applied 20")),
        "{out}"
    );
    let (ok, out, err) = kefu(&db, &["migrate"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "nothing to apply: the schema is up to date");
    // The schema is there: the database is ready for a server, or the other commands.
    let (ok, out, err) = kefu(&db, &["site", "add", "Shop"]);
    assert!(ok && out.contains("Shop"), "{err}");
    let (ok, _, err) = kefu("mysql-ish://nowhere", &["migrate"]);
    assert!(!ok && err.contains("unsupported database url"), "{err}");
}

#[tokio::test]
async fn site_sign_prints_a_token_signed_with_the_site_secret() {
    let dir = temp_dir();
    let db = database_url(dir.path());
    let (ok, out, err) = kefu(&db, &["site", "add", "Shop"]);
    assert!(ok, "{err}");
    let key = out.split('\t').nth(1).unwrap().to_string();
    let secret = out.trim_end().rsplit(' ').next().unwrap().to_string();
    let (ok, out, err) = kefu(
        &db,
        &[
            "site",
            "sign",
            &key,
            "--id",
            "u_1842",
            "--name",
            "Ann Lee",
            "--attr",
            "plan=gold",
            "--attr",
            "note=a=b",
            "--ttl",
            "600",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    let now = kefu::store::now_ms() / 1000;
    let c = kefu::core::auth::verify_identity(&secret, out.trim(), now).unwrap();
    assert_eq!((c.sub.as_str(), c.name.as_str()), ("u_1842", "Ann Lee"));
    assert_eq!(c.attrs["plan"], "gold");
    assert_eq!(c.attrs["note"], "a=b", "split at the first =");
    let iat = c.iat.unwrap();
    assert!((now - iat).abs() < 60 && c.exp == iat + 600);
    // The default lifetime is an hour.
    let (ok, out, err) = kefu(&db, &["site", "sign", &key, "--id", "u"]);
    assert!(ok, "{err}");
    let c = kefu::core::auth::verify_identity(&secret, out.trim(), now).unwrap();
    assert_eq!(c.exp - c.iat.unwrap(), 3600);
    // What the server would refuse is refused here.
    for (args, want) in [
        (vec!["--id", "u", "--ttl", "604801"], "7 days"),
        (vec!["--id", "u", "--ttl", "0"], "7 days"),
        (vec!["--id", ""], "sub"),
        (vec!["--id", "u", "--attr", "plan"], "key=value"),
    ] {
        let mut all = vec!["site", "sign", &key];
        all.extend(args);
        let (ok, out, err) = kefu(&db, &all);
        assert!(
            !ok && out.is_empty() && err.contains(want),
            "{all:?}: {err}"
        );
    }
    let (ok, _, err) = kefu(&db, &["site", "sign", "s_nope", "--id", "u"]);
    assert!(!ok && err.contains("no site"), "{err}");
}

#[test]
fn config_print_shows_each_value_and_its_source_with_secrets_masked() {
    let dir = temp_dir();
    let file = dir.path().join("kefu.toml");
    std::fs::write(
        &file,
        "heartbeat_ms = 5000\nadmin_password = \"file-secret-pw\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args([
            "--config",
            file.to_str().unwrap(),
            "--max-connections",
            "77",
        ])
        .args(["config", "print"])
        .env(
            "KEFU_DATABASE_URL",
            "postgres://kefu:db-secret@db.example/kefu",
        )
        .env("KEFU_METRICS_TOKEN", "env-secret-token")
        .env("KEFU_POLL_TIMEOUT_MS", "20000")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    for line in [
        "heartbeat_ms = 5000  # file",
        "max_connections = 77  # flag",
        "poll_timeout_ms = 20000  # env",
        "listen = \"127.0.0.1:8080\"  # default",
        "admin_password = \"********\"  # file",
        "metrics_token = \"********\"  # env",
        "database_url = \"postgres://kefu:********@db.example/kefu\"  # env",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
    for secret in ["file-secret-pw", "env-secret-token", "db-secret"] {
        assert!(!text.contains(secret), "{secret} shown");
    }
    assert_eq!(
        text.lines().count(),
        kefu::config::Config::field_names().len(),
        "every field, once"
    );
}

#[test]
fn config_check_names_the_line_of_what_is_wrong() {
    let dir = temp_dir();
    let check = |name: &str, body: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kefu"))
            .args(["config", "check", f.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = check(
        "good.toml",
        "heartbeat_ms = 5000\nassignment = \"round-robin\"\n",
    );
    assert!(ok && text.contains("good.toml: ok"), "{text}");
    let (ok, text) = check("typo.toml", "heartbeat_ms = 5000\nmax_conections = 3\n");
    assert!(
        !ok && text.contains("line 2") && text.contains("unknown field `max_conections`"),
        "{text}"
    );
    let (ok, text) = check("type.toml", "# kefu\n\nnode_beat_ms = \"soon\"\n");
    assert!(
        !ok && text.contains("line 3") && text.contains("expected u64"),
        "{text}"
    );
    let (ok, text) = check("range.toml", "max_connections = 10\nheartbeat_ms = 50\n");
    assert!(
        !ok && text.contains("range.toml:2:") && text.contains("heartbeat_ms must be at least 100"),
        "{text}"
    );
    let (ok, text) = check("broken.toml", "heartbeat_ms = \n");
    assert!(!ok && text.contains("line 1"), "{text}");
}
