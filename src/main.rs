//! The `billing` command line: serve (default), migrate, schema, token, demo.
use anyhow::{Context, bail};
use billing::config::{Config, Environment, LogFormat};
use billing::domain::{Role, TenantId};
use billing::startup::{App, build_state};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "billing",
    version,
    about = "Multi-tenant billing platform with a GraphQL API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Mint a JWT signed with the configured secret.
    Token {
        #[arg(long)]
        role: String,
        /// Tenant id (`ten_...`), required for owner, billing and member.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value = "cli")]
        subject: String,
    },
    /// Load the demo catalog and a demo tenant with an owner user.
    Demo,
    /// Ask the server on `BILLING_LISTEN` (or `--address`) for `/health`: exit 0 when it
    /// answers 200 within 3 s, else 1. For container health checks; needs no curl.
    Healthcheck {
        #[arg(long)]
        address: Option<String>,
    },
}

/// Stack of each runtime thread. Async state machines nest deeply (GraphQL resolver, billing
/// jobs, outbox, payment provider, database driver), and unoptimised builds (`cargo run`) give
/// each frame far more room than release builds do; 8 MiB, the usual main-thread size, leaves
/// a wide margin for both.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", billing::graphql::sdl());
        return Ok(());
    }
    let config = Config::load().context("loading configuration")?;
    if let Some(Command::Healthcheck { address }) = &cli.command {
        let address = address.clone().unwrap_or_else(|| config.listen.clone());
        match healthcheck(&address).await {
            Ok(()) => {
                println!("healthy: http://{address}/health answered 200");
                return Ok(());
            }
            Err(e) => {
                eprintln!("unhealthy: {e:#}");
                std::process::exit(1);
            }
        }
    }
    init_logging(&config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            build_state(config).await.map_err(|e| anyhow::anyhow!(e))?;
            println!("database is up to date");
            Ok(())
        }
        Command::Schema | Command::Healthcheck { .. } => Ok(()),
        Command::Token {
            role,
            tenant,
            subject,
        } => {
            let role = Role::parse("role", &role).map_err(|e| anyhow::anyhow!("{e}"))?;
            let tenant = tenant
                .map(|t| TenantId::parse("tenant", &t))
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if role.is_tenant_role() && tenant.is_none() {
                bail!("--tenant is required for role {}", role.as_str());
            }
            if role == Role::Admin && tenant.is_some() {
                bail!("an admin token has no tenant");
            }
            if let Some(id) = tenant {
                let state = build_state(config.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!(e))
                    .context("opening the database to check the tenant")?;
                let found = billing::accounts::tenants::find(&state, id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if found.is_none() {
                    bail!("no tenant {id} in this database: create it first (createTenant)");
                }
            }
            let keys =
                billing::auth::AuthKeys::from_config(&config).map_err(|e| anyhow::anyhow!(e))?;
            let (token, _) = keys.mint(&subject, role, tenant, chrono::Utc::now())?;
            println!("{token}");
            Ok(())
        }
        Command::Demo => {
            let state = build_state(config).await.map_err(|e| anyhow::anyhow!(e))?;
            let out = billing::demo::load(&state).await?;
            println!(
                "Demo catalog loaded: plans free, starter, professional, enterprise, tokens-400;"
            );
            println!("credit packs start, growth, pro, master; coupon WELCOME20.");
            println!("Demo tenant: {} (slug demo)", out.tenant_id);
            println!("Owner login: {} / {}", out.owner_email, out.owner_password);
            Ok(())
        }
    }
}

/// `GET /health` over a plain TCP connection; a wildcard listen address is asked on loopback.
async fn healthcheck(address: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = address
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&target)
            .await
            .with_context(|| format!("cannot connect to {target}"))?;
        let request =
            format!("GET /health HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        if line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            bail!(
                "{target} answered {:?}",
                line.lines().next().unwrap_or_default()
            )
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), exchange)
        .await
        .map_err(|_| anyhow::anyhow!("{target} did not answer within 3 s"))?
}

/// Logs go to stdout, filtered by `BILLING_LOG`, as text or as one JSON object per line
/// (`BILLING_LOG_FORMAT`). `Config::load` has already refused a filter that does not parse.
fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = config
        .log_filter()
        .with_context(|| format!("BILLING_LOG is not a valid log filter ({:?})", config.log))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.uses_dev_secret() {
        tracing::warn!(
            "USING THE DEVELOPMENT JWT SECRET: anyone can mint tokens. Set BILLING_JWT_SECRET."
        );
    }
    let env = config.env;
    let database = match billing::store::sqlite_file(&config.database_url) {
        Some(path) => format!(
            "SQLite file {}",
            std::fs::canonicalize(&path)
                .map(|p| p.display().to_string())
                .unwrap_or(path)
        ),
        None if config.database_url.starts_with("sqlite:") => "SQLite (in memory)".to_owned(),
        None => "PostgreSQL".to_owned(),
    };
    let app = App::build(config).await.map_err(|e| anyhow::anyhow!(e))?;
    let addr = app.addr;
    let state = app.state.clone();
    let clock = match (env, state.config.clock_start) {
        (Environment::Production, _) => "system time".to_owned(),
        (_, Some(start)) => format!("standing at {start} until advanced (advanceClock)"),
        (_, None) => "system time, can be advanced (advanceClock)".to_owned(),
    };
    let jobs = match state.config.jobs_interval_seconds {
        0 => "on demand only (runBillingJobs)".to_owned(),
        n => format!("every {n} s"),
    };
    tracing::info!(
        database = %database,
        cache = state.cache.backend(),
        payments = state.payments.name(),
        clock = %clock,
        jobs = %jobs,
        "billing listening on http://{addr}"
    );
    // With JSON logs stdout carries only JSON lines, so the banner for people goes to stderr.
    let json_logs = state.config.log_format == LogFormat::Json;
    macro_rules! say {
        ($($arg:tt)*) => {
            if json_logs { eprintln!($($arg)*) } else { println!($($arg)*) }
        };
    }
    say!("billing is running on http://{addr}");
    say!("  database: {database} (migrated)");
    say!("  cache:    {}", state.cache.backend());
    say!("  payments: {}", state.payments.name());
    say!("  clock:    {clock}; billing jobs {jobs}");
    if env != Environment::Production {
        let (token, expires) =
            state
                .auth
                .mint("bootstrap-admin", Role::Admin, None, chrono::Utc::now())?;
        say!("  GraphiQL: http://{addr}/graphql");
        say!();
        say!("Admin token (valid until {expires}):");
        say!("  export TOKEN={token}");
        say!();
        say!("Try it:");
        say!(
            "  curl -s http://{addr}/graphql -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n    -d '{{\"query\":\"{{ me {{ role }} plans {{ edges {{ node {{ code name monthlyPrice {{ formatted }} }} }} }} }}\"}}'"
        );
        say!("Load the demo catalog and tenant: cargo run -- demo");
    }
    app.run().await.context("server failed")
}
