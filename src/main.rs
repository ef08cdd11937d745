//! The `kefu` binary: flags, config file, environment, tracing, exit codes.
//!
//! Precedence: defaults < `--config FILE` (TOML) < `KEFU_*` environment < flags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kefu::config::Config;
use kefu::core::Shutdown;
use kefu::vocab::{AgentRole, TransportKind};

#[derive(Parser, Debug)]
#[command(
    name = "kefu",
    version,
    about = "Live-chat gateway with durable conversation streams"
)]
struct Cli {
    /// TOML config file (see docs/config.md).
    #[arg(long, env = "KEFU_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "KEFU_LISTEN", global = true)]
    listen: Option<String>,
    /// Store location, e.g. sqlite://data/kefu.db
    #[arg(long, env = "KEFU_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Public base URL (printed, and allowed as the first site's origin).
    #[arg(long, env = "KEFU_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Server heartbeat interval in ms.
    #[arg(long, global = true)]
    heartbeat_ms: Option<u64>,
    /// Most simultaneous connections.
    #[arg(long, global = true)]
    max_connections: Option<u64>,
    /// Log lines as text (colored on a terminal only) or as JSON objects, one per line.
    #[arg(long, env = "KEFU_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage sites.
    Site {
        #[command(subcommand)]
        action: SiteAction,
    },
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        action: AgentAction,
    },
    /// Apply the pending migrations of the configured database, print what was applied,
    /// and exit. (A server applies them too when it starts.)
    Migrate,
    /// Run a routing server alone: it answers `GET /v1/route?site=KEY` (which node
    /// serves a site) from the nodes' heartbeats and leases in the database, and nothing
    /// else.
    Router,
    /// List the nodes of the cluster on this database, their liveness and their sites.
    Nodes,
    /// Show or check configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the effective configuration, every field with where its value came from
    /// (default, file, env, flag); secrets masked.
    Print,
    /// Check a TOML config file: unknown fields, wrong types and invalid values, with
    /// their line numbers. Exits non-zero when it is not valid.
    Check { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum AgentAction {
    /// Add an agent to a site; prints its password when it was generated.
    Add {
        /// The site's key (see `kefu site list`).
        #[arg(long)]
        site: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// `agent` or `admin`.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Generated when omitted.
        #[arg(long)]
        password: Option<String>,
    },
    /// List a site's agents.
    List {
        #[arg(long)]
        site: String,
    },
    /// Set an agent's password; prints it when it was generated.
    Passwd {
        #[arg(long)]
        site: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum SiteAction {
    /// List sites with their keys and allowed origins.
    List,
    /// Add a site.
    Add {
        name: String,
        /// An allowed origin (repeatable), e.g. https://www.example.com
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// Change a site's name and (when any `--origin` is given) its allowed origins.
    Update {
        /// The site's key.
        site: String,
        #[arg(long)]
        name: Option<String>,
        /// An allowed origin (repeatable); the given list replaces the old one.
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// Choose the transports a site allows, e.g. `kefu site transports KEY lp xdr jsonp`
    /// for a site whose visitors sit behind proxies that break WebSocket.
    Transports {
        /// The site's key.
        site: String,
        /// Any of ws, lp, xdr, jsonp.
        #[arg(required = true)]
        transports: Vec<String>,
    },
    /// Require (or stop requiring) verified visitor identities (signed identity tokens)
    /// on a site.
    Identity {
        /// The site's key.
        site: String,
        #[arg(long, action = clap::ArgAction::Set)]
        required: bool,
    },
    /// Print an identity token signed with the site's secret, as a host site's server
    /// would make it (docs/identity.md): to test an integration, or for scripts.
    Sign {
        /// The site's key.
        site: String,
        /// The host site's user id (the token's `sub`).
        #[arg(long)]
        id: String,
        /// The user's name, shown to agents.
        #[arg(long)]
        name: Option<String>,
        /// A custom attribute `key=value` (repeatable).
        #[arg(long = "attr", value_parser = parse_attr)]
        attrs: Vec<(String, String)>,
        /// How long the token is valid, in seconds (at most 7 days).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
}

fn parse_attr(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// Env vars that are not config fields.
const NOT_FIELDS: &[&str] = &[
    "KEFU_CONFIG",
    "KEFU_LOG",
    "KEFU_LOG_FORMAT",
    "KEFU_LISTEN",
    "KEFU_DATABASE_URL",
    "KEFU_PUBLIC_URL",
];

/// Build the config: defaults < file < KEFU_* env < flags.
fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let (table, _) = layers(cli)?;
    let config: Config = table.try_into().context("invalid configuration")?;
    config.validate()?;
    Ok(config)
}

/// The fields set by the file, the environment and the flags, over the defaults, and
/// which of them set each one (the last wins).
fn layers(
    cli: &Cli,
) -> anyhow::Result<(toml::Table, std::collections::HashMap<String, &'static str>)> {
    let mut from = std::collections::HashMap::new();
    let mut table = match &cli.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            text.parse::<toml::Table>()
                .with_context(|| format!("parsing {}", p.display()))?
        }
        None => toml::Table::new(),
    };
    for k in table.keys() {
        from.insert(k.clone(), "file");
    }
    let fields = Config::field_names();
    for (k, v) in std::env::vars() {
        let Some(field) = k.strip_prefix("KEFU_") else {
            continue;
        };
        if NOT_FIELDS.contains(&k.as_str()) {
            continue;
        }
        let field = field.to_ascii_lowercase();
        if !fields.contains(&field) {
            // Other programs' KEFU_* variables (and typos) must not stop the server.
            tracing::warn!("ignoring {k}: not a configuration field (see docs/config.md)");
            continue;
        }
        from.insert(field.clone(), "env");
        table.insert(field, env_value(&v));
    }
    let mut set = |k: &str, v: toml::Value| {
        // These three may come from a flag or from their variable (clap reads both).
        let env = format!("KEFU_{}", k.to_ascii_uppercase());
        let by_env = std::env::var(&env).is_ok_and(|e| v.as_str() == Some(e.as_str()));
        from.insert(k.to_string(), if by_env { "env" } else { "flag" });
        table.insert(k.to_string(), v);
    };
    if let Some(v) = &cli.listen {
        set("listen", toml::Value::String(v.clone()));
    }
    if let Some(v) = &cli.database_url {
        set("database_url", toml::Value::String(v.clone()));
    }
    if let Some(v) = &cli.public_url {
        set("public_url", toml::Value::String(v.clone()));
    }
    if let Some(v) = cli.heartbeat_ms {
        set("heartbeat_ms", toml::Value::Integer(v as i64));
    }
    if let Some(v) = cli.max_connections {
        set("max_connections", toml::Value::Integer(v as i64));
    }
    Ok((table, from))
}

/// Fields whose values are secrets: shown as set or not, never in full.
const SECRETS: &[&str] = &["admin_password", "metrics_token"];

/// `kefu config print` and `kefu config check FILE`.
fn config_command(cli: &Cli, action: &ConfigAction) -> anyhow::Result<()> {
    match action {
        ConfigAction::Print => {
            let config = load_config(cli)?;
            let (_, from) = layers(cli)?;
            let all = toml::Table::try_from(&config).context("showing the configuration")?;
            for name in Config::field_names() {
                let Some(v) = all.get(&name) else { continue };
                let shown = if SECRETS.contains(&name.as_str()) {
                    let set = v.as_str().is_some_and(|s| !s.is_empty());
                    toml::Value::String(if set { "********" } else { "" }.into()).to_string()
                } else if name == "database_url" {
                    toml::Value::String(masked_url(v.as_str().unwrap_or(""))).to_string()
                } else {
                    v.to_string()
                };
                let source = from.get(&name).copied().unwrap_or("default");
                println!("{name} = {shown}  # {source}");
            }
            Ok(())
        }
        ConfigAction::Check { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            // The parser's messages name the line and column, and the unknown field or the
            // wrong type.
            let config: Config =
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            config.validate().map_err(|e| {
                // A value out of range: the line that sets the field the message names.
                let msg = e.to_string();
                let field = msg.trim_start_matches("invalid configuration: ");
                let field = field.split([' ', ':']).next().unwrap_or("");
                let line = text.lines().position(|l| {
                    l.trim_start()
                        .strip_prefix(field)
                        .is_some_and(|r| r.trim_start().starts_with('='))
                });
                match line {
                    Some(n) if !field.is_empty() => {
                        anyhow::anyhow!("{}:{}: {msg}", file.display(), n + 1)
                    }
                    _ => anyhow::anyhow!("{}: {msg}", file.display()),
                }
            })?;
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}

/// A database URL with the password of its user part, if any, masked.
fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:********@{host}")
        }
        _ => url.to_string(),
    }
}

/// An env value as TOML: a number where it reads as one, else a string.
fn env_value(v: &str) -> toml::Value {
    match format!("v = {v}").parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(val @ (toml::Value::Integer(_) | toml::Value::Boolean(_))) => val,
            _ => toml::Value::String(v.to_string()),
        },
        Err(_) => toml::Value::String(v.to_string()),
    }
}

/// `KEFU_LOG` (default `info`), with the libraries that see raw frames and headers held
/// at `debug`: at `trace` they would log every frame, agent tokens and passwords included.
/// kefu's own logs never carry a secret at any level.
fn log_filter(spec: Option<&str>) -> tracing_subscriber::EnvFilter {
    let spec = spec.filter(|s| !s.trim().is_empty()).unwrap_or("info");
    let capped = format!(
        "{spec},tungstenite=debug,tokio_tungstenite=debug,hyper=debug,hyper_util=debug,h2=off"
    );
    tracing_subscriber::EnvFilter::try_new(&capped)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = log_filter(std::env::var("KEFU_LOG").ok().as_deref());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Each line an object: level, target, fields, and the spans it is in with their
        // fields (a connection's site, role, transport, session).
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            logs.with_ansi(std::io::stderr().is_terminal()).init()
        }
    }
    if let Some(Command::Config { action }) = &cli.command {
        return match config_command(&cli, action) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kefu: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = load_config(&cli).and_then(|config| match cli.command {
        None | Some(Command::Serve) => serve(config),
        Some(Command::Site { action }) => site(config, action),
        Some(Command::Agent { action }) => agent(config, action),
        Some(Command::Migrate) => migrate(&config),
        Some(Command::Router) => router(config),
        Some(Command::Nodes) => nodes(config),
        Some(Command::Config { .. }) => unreachable!("handled above"),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kefu: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A line of the start-up banner on stdout. A server must not die because whoever started
/// it stopped reading its output (a closed pipe would make `println!` panic).
macro_rules! banner {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let p = kefu::prepare(config).await?;
        let base = p.hub.config().base_url();
        banner!("kefu is listening on http://{}", p.addr);
        if base != format!("http://{}", p.addr) {
            banner!("  public URL: {base}");
        }
        if let Some(b) = &p.bootstrap {
            banner!("  created site \"{}\" with key {}", b.site.name, b.site.key);
            match &b.admin_password {
                Some(pw) => {
                    banner!("  created admin {} with password {pw}", b.admin_email);
                    banner!("  (the password is shown only this once)");
                }
                None => banner!(
                    "  created admin {} with the configured admin_password",
                    b.admin_email
                ),
            }
            banner!(
                "  lost it? kefu agent passwd --site {} --email {}",
                b.site.key,
                b.admin_email
            );
        }
        let ws = p.hub.config().ws_url();
        banner!("  demo page:  {base}/demo");
        banner!("  WebSocket:  {ws}   health: {base}/healthz");
        banner!("  agent console: {base}/console");
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested: draining");
            trigger.fire();
        });
        kefu::server::run(p.listener, p.hub, shutdown).await;
        Ok(())
    })
}

fn router(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let p = kefu::prepare_router(config).await?;
        banner!("kefu router is listening on http://{}", p.addr);
        banner!("  route:  {}/v1/route?site=KEY", p.hub.config().base_url());
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            wait_for_signal().await;
            trigger.fire();
        });
        kefu::server::run(p.listener, p.hub, shutdown).await;
        Ok(())
    })
}

fn nodes(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let now = kefu::store::now_ms();
    let dead_after = config.node_dead_after().as_millis() as i64;
    let leases = store.leases()?;
    let sites = store.sites()?;
    let key = |id| {
        sites
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_string(), |s| s.key.clone())
    };
    let nodes = store.nodes()?;
    if nodes.is_empty() {
        println!("no node has joined a cluster on this database");
    }
    for n in nodes {
        let ago = now - n.beat_at;
        let state = match n.beat_at {
            0 => "stopped",
            _ if ago <= dead_after => "live",
            _ => "dead",
        };
        let held: Vec<String> = leases
            .iter()
            .filter(|l| l.node == n.id && l.expires_at >= now)
            .map(|l| format!("{}@{}", key(l.site), l.epoch))
            .collect();
        println!(
            "{}\t{}\t{state}\tbeat {} ms ago\t{} site(s)\t{}",
            n.id,
            n.url,
            ago.max(0),
            held.len(),
            held.join(" ")
        );
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn site(config: Config, action: SiteAction) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    match action {
        SiteAction::List => {
            for s in store.sites()? {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.id,
                    s.key,
                    s.name,
                    s.allowed_origins.join(" ")
                );
            }
        }
        SiteAction::Add { name, origins } => {
            check_origins(&origins)?;
            let s = store.add_site(&name, &origins)?;
            println!("{}\t{}\t{}\tsecret {}", s.id, s.key, s.name, s.secret);
        }
        SiteAction::Update {
            site,
            name,
            origins,
        } => {
            if name.is_none() && origins.is_empty() {
                anyhow::bail!("nothing to change: give --name and/or --origin");
            }
            check_origins(&origins)?;
            let s = store
                .site_by_key(&site)?
                .ok_or_else(|| anyhow::anyhow!("no site with key {site}"))?;
            let origins = (!origins.is_empty()).then_some(origins);
            store.update_site(s.id, name.as_deref(), origins.as_deref())?;
            let s = store
                .site_by_key(&site)?
                .ok_or_else(|| anyhow::anyhow!("no site with key {site}"))?;
            println!("{}\t{}\t{}", s.key, s.name, s.allowed_origins.join(" "));
        }
        SiteAction::Transports { site, transports } => {
            let transports = transports
                .iter()
                .map(|t| t.parse())
                .collect::<Result<Vec<TransportKind>, _>>()?;
            let s = store
                .site_by_key(&site)?
                .ok_or_else(|| anyhow::anyhow!("no site with key {site}"))?;
            store.set_transports(s.id, &transports)?;
            let names: Vec<&str> = transports.iter().map(|t| t.as_str()).collect();
            println!("{}\ttransports: {}", s.key, names.join(" "));
        }
        SiteAction::Identity { site, required } => {
            let s = store
                .site_by_key(&site)?
                .ok_or_else(|| anyhow::anyhow!("no site with key {site}"))?;
            store.set_require_identity(s.id, required)?;
            println!("{}\tverified identity required: {required}", s.key);
        }
        SiteAction::Sign {
            site,
            id,
            name,
            attrs,
            ttl,
        } => {
            use kefu::core::auth::{sign_identity, IdentityClaims};
            let s = store
                .site_by_key(&site)?
                .ok_or_else(|| anyhow::anyhow!("no site with key {site}"))?;
            let now = kefu::store::now_ms() / 1000;
            let claims = IdentityClaims::new(&id, name.as_deref().unwrap_or(""), attrs, now, ttl)?;
            println!("{}", sign_identity(&s.secret, &claims));
        }
    }
    Ok(())
}

/// The store, for one command: one reader is enough.
fn migrate(config: &Config) -> anyhow::Result<()> {
    let applied = kefu::store::migrate(&config.database_url)?;
    if applied.is_empty() {
        println!("nothing to apply: the schema is up to date");
    }
    for version in &applied {
        println!("applied {version}");
    }
    Ok(())
}

fn open_store(config: &Config) -> anyhow::Result<Box<dyn kefu::store::Store>> {
    let options = kefu::store::Options {
        pool_size: 1,
        ..kefu::store::Options::from_config(config)
    };
    Ok(kefu::store::open(&config.database_url, &options)?)
}

fn check_origins(origins: &[String]) -> anyhow::Result<()> {
    for o in origins {
        kefu::store::Site::check_origin(o).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn agent(config: Config, action: AgentAction) -> anyhow::Result<()> {
    use kefu::core::auth::hash_password;
    let store = open_store(&config)?;
    let site_of = |key: &str| {
        store
            .site_by_key(key)?
            .ok_or_else(|| anyhow::anyhow!("no site with key {key}"))
    };
    let password_or_new = |p: Option<String>| match p {
        Some(p) => kefu::core::auth::check_password(&p)
            .map(|()| (p, false))
            .map_err(anyhow::Error::msg),
        None => Ok((kefu::ids::random_token(16), true)),
    };
    match action {
        AgentAction::Add {
            site,
            email,
            name,
            role,
            password,
        } => {
            let role: AgentRole = role.parse()?;
            let s = site_of(&site)?;
            let (pw, generated) = password_or_new(password)?;
            let a = store.add_agent(s.id, &email, &name, role, &hash_password(&pw)?)?;
            println!("{}\t{}\t{}\t{}", a.id, a.email, a.name, a.role);
            if generated {
                println!("password: {pw}");
            }
        }
        AgentAction::List { site } => {
            for a in store.agents(site_of(&site)?.id)? {
                let removed = if a.removed_at.is_some() {
                    "\tremoved"
                } else {
                    ""
                };
                println!("{}\t{}\t{}\t{}{removed}", a.id, a.email, a.name, a.role);
            }
        }
        AgentAction::Passwd {
            site,
            email,
            password,
        } => {
            let s = site_of(&site)?;
            let (pw, generated) = password_or_new(password)?;
            if !store.set_password(s.id, &email, &hash_password(&pw)?)? {
                anyhow::bail!("no agent {email} on site {site}");
            }
            println!("password changed for {email}");
            if generated {
                println!("password: {pw}");
            }
        }
    }
    Ok(())
}
