//! `rendezvous-credits`: the node, a Goop2-style peer client, and operator commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rendezvous_credits::app::{self, StartOptions};
use rendezvous_credits::auth::admin::new_token;
use rendezvous_credits::client::{load_or_create_peer_key, PeerClient};
use rendezvous_credits::config::{Config, RoochipTenant, TenantSettings};
use rendezvous_credits::dialects::goop2::{self, ops, Goop2Error};
use rendezvous_credits::dialects::roochip::{self, RoochipError};
use rendezvous_credits::dialects::rrr;
use rendezvous_credits::ledger::{format_minor, Actor, Amount, Ledger, TenantId};
use rendezvous_credits::p2p::RecordDomain;
use rendezvous_credits::payments::admin::ListQuery;
use rendezvous_credits::store;
use rendezvous_credits::webhooks::deliveries;

#[derive(Parser)]
#[command(
    name = "rendezvous-credits",
    version,
    about = "A libp2p rendezvous node with an embedded credit ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the settings come from (shared by the commands that open the node's data).
#[derive(Args, Clone)]
struct NodeArgs {
    /// TOML settings file (layered over the embedded defaults).
    #[arg(long, env = "RC_CONFIG")]
    config: Option<PathBuf>,
    /// Folder of ledger.db and node.key.
    #[arg(long, env = "RC_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl NodeArgs {
    fn load(&self) -> Result<Config, String> {
        let mut config = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Runs the node: libp2p rendezvous server and HTTP API.
    Serve {
        #[command(flatten)]
        node: NodeArgs,
        /// HTTP listen address, IP:PORT.
        #[arg(long, env = "RC_HTTP_ADDR")]
        http_addr: Option<String>,
        /// libp2p listen multiaddr (repeat or comma-separate for several).
        #[arg(long, env = "RC_P2P_LISTEN", value_delimiter = ',')]
        p2p_listen: Vec<String>,
    },
    /// A Goop2-style peer with its own persistent key.
    Peer {
        /// The node's HTTP base URL.
        #[arg(long, env = "RC_NODE_URL", default_value = "http://127.0.0.1:8080")]
        node: String,
        /// This peer's Ed25519 key file (created if missing).
        #[arg(long, env = "RC_PEER_KEY", default_value = "peer.key")]
        key: PathBuf,
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// Operator commands on the node's own data folder.
    Admin {
        #[command(flatten)]
        node: NodeArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Recomputes every balance and the hash chains; exits 1 naming the first
    /// discrepancy.
    Verify {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Copies the ledger to DEST with SQLite's online backup (safe while serving). On
    /// PostgreSQL, prints the `pg_dump` command that does it, and exits 1.
    Backup {
        #[command(flatten)]
        node: NodeArgs,
        /// The backup file to create.
        dest: PathBuf,
        /// Overwrite DEST if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Creates or migrates the ledger's schema to this build's version, without
    /// serving (the nodes migrate at start too; this does it ahead of a rollout).
    Migrate {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Prints the OpenAPI document of the HTTP API.
    Openapi,
}

#[derive(Subcommand)]
enum PeerCommand {
    /// Registers with the node's rendezvous server over libp2p.
    Register {
        /// Namespace (default: the node's Goop2 namespace).
        #[arg(long)]
        namespace: Option<String>,
        /// Peer record sealing: `standard` (go/js libp2p) or `legacy` (rust-libp2p).
        #[arg(long, default_value = "standard")]
        record: RecordDomain,
    },
    /// Shows the balance.
    Balance,
    /// Lists the catalog with prices and ownership.
    Templates,
    /// Buys a template.
    Buy {
        /// Template name.
        name: String,
    },
    /// Buys a credit bundle with real money: prints the Stripe Checkout URL to open in
    /// a browser; the credits arrive once Stripe confirms the payment.
    BuyCredits {
        /// Bundle id (`credits-500`, `credits-1200`, `credits-3000` by default).
        bundle: String,
    },
    /// Downloads a free or owned template and extracts it into DIR.
    Install {
        /// Template name.
        name: String,
        /// Target folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Authenticates and prints the `Authorization` header value (a bearer token)
    /// for use with curl or a load generator.
    Token,
    /// Shows the transaction history.
    History {
        /// How many entries, newest first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Redeems a campaign code or another peer's invite code.
    Redeem {
        /// The code.
        code: String,
    },
    /// Shows this peer's invite code and the referral rules.
    Referral,
    /// Starts the store UI: a local web app (balance, catalog, purchases with a
    /// confirmation, installs, history, credit bundles) at the printed URL. Stop it with
    /// Ctrl-C.
    Ui {
        /// Where the UI listens; keep it on loopback.
        #[arg(long, default_value = "127.0.0.1:7777")]
        listen: String,
        /// Default parent folder of installs (`DIR/<template>`).
        #[arg(long, default_value = "templates")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Grants credits: to a Goop2 peer (`--peer`, whole credits), or to a user of a
    /// Roochip tenant (`--tenant T --user ID`, ROO such as 5.00), as the admin route
    /// does (a `credits.issued` event with `payment_source: "admin"` when the tenant has
    /// webhooks).
    Grant {
        /// The Goop2 peer id.
        #[arg(long, required_unless_present = "tenant", conflicts_with_all = ["tenant", "user"])]
        peer: Option<String>,
        /// The Roochip tenant id.
        #[arg(long, requires = "user")]
        tenant: Option<String>,
        /// The tenant's external user id.
        #[arg(long, requires = "tenant")]
        user: Option<String>,
        /// Whole credits (Goop2) or ROO with at most 2 decimals (Roochip).
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Why (the entry's note; Roochip: its reason, default `admin_grant`).
        #[arg(long)]
        note: Option<String>,
    },
    /// Refunds an owned template and revokes ownership.
    Refund {
        /// The peer id.
        #[arg(long)]
        peer: String,
        /// Template name.
        #[arg(long)]
        template: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Prints a new admin token and the digest to put in admin.token_sha256.
    Token,
    /// Prints a new tenant API key (X-API-Key) and the digest to list in a tenant's
    /// api_keys or admin_api_keys.
    TenantKey,
    /// Roochip promo codes of a tenant.
    Codes {
        #[command(subcommand)]
        command: CodesCommand,
    },
    /// Webhook deliveries (outbox events).
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Prints a new RedRoomRewards client secret and the digest to put in a
    /// `[[tenants.clients]]` entry's client_secret_sha256.
    RrrClient,
    /// RedRoomRewards tenants.
    Rrr {
        #[command(subcommand)]
        command: RrrCommand,
    },
    /// Real-money payments (Stripe, Apple and Google in-app purchases).
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Goop2 campaign codes (promotional credits).
    Campaigns {
        #[command(subcommand)]
        command: CampaignsCommand,
    },
}

#[derive(Subcommand)]
enum CampaignsCommand {
    /// Makes a campaign code: each peer may redeem it once, inside its window, until
    /// it has been redeemed MAX times.
    Create {
        /// The code (3 to 32 of A-Z 0-9 - _; upper-cased).
        #[arg(long)]
        code: String,
        /// Whole credits per redemption.
        #[arg(long)]
        amount: i64,
        /// Opens at (RFC 3339; default now).
        #[arg(long)]
        starts_at: Option<String>,
        /// Closes at (RFC 3339, exclusive).
        #[arg(long)]
        ends_at: String,
        /// Most redemptions in all.
        #[arg(long)]
        max_redemptions: i64,
        /// The operator's note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Lists the campaigns, newest first, with their redemptions.
    List,
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Lists payments, newest first: provider, external id, account, credits, status,
    /// and what refunds and disputes could not take back.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this provider's: stripe, apple_iap or google_iap.
        #[arg(long)]
        provider: Option<String>,
        /// Only payments whose claw-back left a shortfall.
        #[arg(long)]
        unrecovered: bool,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum RrrCommand {
    /// The RRR admin's approval of a promotion (the third of its three signatures).
    Approve {
        /// The promotion id.
        promotion: String,
        /// The approving RRR admin's id (recorded in the promotion's approvals).
        #[arg(long)]
        actor_id: String,
    },
}

#[derive(Subcommand)]
enum CodesCommand {
    /// Lists code requests.
    List {
        /// The Roochip tenant id.
        #[arg(long)]
        tenant: String,
        /// pending, fulfilled or rejected (default: all).
        #[arg(long)]
        status: Option<String>,
    },
    /// Generates the single-use code of a user (printed once; only its digest is kept).
    Generate {
        /// The Roochip tenant id.
        #[arg(long)]
        tenant: String,
        /// The app's id of the user.
        #[arg(long)]
        user: String,
    },
    /// Rejects a pending code request.
    Reject {
        /// The Roochip tenant id.
        #[arg(long)]
        tenant: String,
        /// The request id (from `list`).
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Lists deliveries, newest first.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// pending, delivered or dead (dead letters).
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Puts a dead or delivered event back in the queue (a running node sends it
    /// within its poll interval).
    Replay {
        /// The event (outbox) id.
        id: i64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,libp2p=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve {
            node,
            http_addr,
            p2p_listen,
        } => {
            let mut config = node.load()?;
            if let Some(addr) = http_addr {
                config.server.http_addr = addr;
            }
            if !p2p_listen.is_empty() {
                config.p2p.listen = p2p_listen;
            }
            let admin_token = std::env::var("RC_ADMIN_TOKEN").ok();
            runtime()?.block_on(serve(config, admin_token))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Peer { node, key, command } => {
            runtime()?.block_on(peer(&node, &key, command))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin { node, command } => admin(node, command),
        Command::Verify { node } => verify(&node.load()?),
        Command::Backup { node, dest, force } => backup(&node.load()?, &dest, force),
        Command::Migrate { node } => {
            let config = node.load()?;
            let location = config.ledger_location();
            let (before, now) = store::migrate(&location).map_err(|e| e.to_string())?;
            if before == now {
                println!("migrate: {location} is at schema version {now}: nothing to do");
            } else {
                println!("migrate: {location} migrated from schema version {before} to {now}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            let doc = app::openapi().to_pretty_json().map_err(|e| e.to_string())?;
            println!("{doc}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config, admin_token: Option<String>) -> Result<(), String> {
    let node = app::start(config, StartOptions { admin_token })
        .await
        .map_err(|e| e.to_string())?;
    println!("peer id: {}", node.peer_id);
    println!("http:    http://{}", node.http_addr);
    for addr in node.node.listen_addrs() {
        println!("libp2p:  {addr}");
    }
    wait_for_signal().await;
    tracing::info!("shutting down: finishing requests and draining the ledger writer");
    node.shutdown().await;
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

async fn peer(node: &str, key: &Path, command: PeerCommand) -> Result<(), String> {
    let keypair = load_or_create_peer_key(key).map_err(|e| e.to_string())?;
    let mut client = PeerClient::new(node, keypair);
    let err = |e: rendezvous_credits::client::ClientError| e.to_string();
    match command {
        PeerCommand::Register { namespace, record } => {
            let ttl = client
                .register(namespace.as_deref(), record)
                .await
                .map_err(err)?;
            println!("registered {} for {ttl} s", client.peer_id());
            let balance = client.balance().await.map_err(err)?;
            println!("balance: {} credits", balance.balance);
        }
        PeerCommand::Balance => {
            let b = client.balance().await.map_err(err)?;
            println!("{}: {} credits", b.peer_id, b.balance);
            if b.low_balance {
                let bundles = client.bundles().await.map_err(err)?;
                match bundles
                    .bundles
                    .first()
                    .filter(|_| bundles.checkout_available)
                {
                    Some(bundle) => println!(
                        "Running low on credits. Get more: rendezvous-credits peer buy-credits {}",
                        bundle.id
                    ),
                    None => println!(
                        "Running low on credits. Contact the server admin for more credits."
                    ),
                }
            }
        }
        PeerCommand::Templates => {
            for t in client.templates().await.map_err(err)? {
                let state = match (t.price, t.owned) {
                    (0, _) => "free".to_string(),
                    (_, true) => "owned".to_string(),
                    (p, false) => format!("{p} credits"),
                };
                println!("{:<16} {:<28} {state}", t.name, t.title);
            }
        }
        PeerCommand::Buy { name } => {
            let r = client.buy(&name).await.map_err(err)?;
            match r.status.as_str() {
                "ok" => println!(
                    "bought {} for {} credits; balance {}",
                    r.template,
                    r.price.unwrap_or(0),
                    r.new_balance.unwrap_or(0)
                ),
                "already_owned" => println!("you already own {}", r.template),
                _ => println!("{} is free: install it", r.template),
            }
        }
        PeerCommand::BuyCredits { bundle } => {
            let r = client.buy_credits(&bundle).await.map_err(err)?;
            println!("open this page to pay for {bundle}:\n{}", r.checkout_url);
            println!(
                "(checkout session {}; the credits arrive once the payment is confirmed)",
                r.session_id
            );
        }
        PeerCommand::Install { name, dir } => {
            let files = client.install(&name, &dir).await.map_err(err)?;
            println!(
                "installed {name} into {} ({} files)",
                dir.display(),
                files.len()
            );
        }
        PeerCommand::Token => {
            println!("{}", client.authorization().await.map_err(err)?);
        }
        PeerCommand::History { limit } => {
            let h = client.history(limit).await.map_err(err)?;
            for t in h.transactions {
                println!(
                    "{:<21} {:>+8} {:>8}  {:<9} {}",
                    t.created_at,
                    t.amount,
                    t.balance,
                    t.kind,
                    t.note.unwrap_or_default()
                );
            }
            println!("{} entries in all", h.total);
        }
        PeerCommand::Redeem { code } => {
            let r = client.redeem(&code).await.map_err(err)?;
            println!(
                "redeemed a {} code: +{} credits; balance {}",
                r.kind, r.amount, r.new_balance
            );
        }
        PeerCommand::Ui { listen, dir } => {
            let running = rendezvous_credits::peer_ui::start(client, node, &listen, dir, true)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "store UI for this peer: {} (Ctrl-C stops it)",
                running.url()
            );
            running.wait().await.map_err(|e| e.to_string())?;
        }
        PeerCommand::Referral => {
            let r = client.referral().await.map_err(err)?;
            println!("your invite code: {}", r.code);
            println!(
                "a new peer who redeems it within {} hours of joining gets {} credits, and so do you ({} of at most {} bonuses received)",
                r.window_hours, r.bonus, r.bonuses_received, r.cap
            );
        }
    }
    Ok(())
}

/// Opens the node's ledger for an operator command, with every configured tenant
/// registered. Returns the ledger and the Goop2 tenant.
fn open_ledger(config: &Config) -> Result<(Ledger, TenantId), String> {
    let ledger = store::open(&config.ledger_location(), config.ledger_options())
        .map_err(|e| e.to_string())?;
    for spec in config.tenant_specs().map_err(|e| e.to_string())? {
        ledger
            .ensure_tenant_blocking(spec)
            .map_err(|e| e.to_string())?;
    }
    let tenant = TenantId::new(config.goop2.tenant.clone()).map_err(|e| e.to_string())?;
    Ok((ledger, tenant))
}

/// The node's ledger, read-only (safe beside a running node).
fn read_only(config: &Config) -> Result<Ledger, String> {
    store::open_read_only(&config.ledger_location()).map_err(|e| e.to_string())
}

/// The Roochip `[[tenants]]` entry `id`.
fn roochip_tenant<'c>(config: &'c Config, id: &str) -> Result<&'c RoochipTenant, String> {
    let t = config
        .tenants
        .iter()
        .find(|t| t.id() == id)
        .ok_or_else(|| format!("no [[tenants]] entry with id {id:?} in the configuration"))?;
    t.roochip()
        .ok_or_else(|| format!("tenant {id:?} has mode {:?}, not \"roochip\"", t.mode()))
}

fn parse_peer(peer: &str) -> Result<String, String> {
    peer.parse::<libp2p::PeerId>()
        .map(|p| p.to_string())
        .map_err(|_| format!("{peer:?} is not a libp2p peer id"))
}

fn admin(node: NodeArgs, command: AdminCommand) -> Result<ExitCode, String> {
    match command {
        AdminCommand::Token => {
            let (token, digest) = new_token();
            println!("token:  {token}");
            println!("digest: {digest}");
            println!("put the digest in the config as admin.token_sha256 = \"{digest}\" (or run the node with RC_ADMIN_TOKEN set to the token); keep the token secret.");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Codes { command } => codes(&node.load()?, command),
        AdminCommand::Webhooks { command } => webhooks(&node.load()?, command),
        AdminCommand::Payments { command } => payments(&node.load()?, command),
        AdminCommand::Campaigns { command } => campaigns(&node.load()?, command),
        AdminCommand::RrrClient => {
            let (secret, digest) = new_token();
            println!("client_secret:        {secret}");
            println!("client_secret_sha256: {digest}");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Rrr {
            command:
                RrrCommand::Approve {
                    promotion,
                    actor_id,
                },
        } => rrr_approve(&node.load()?, &promotion, &actor_id),
        AdminCommand::TenantKey => {
            let (key, digest) = rendezvous_credits::auth::api_key::new_key();
            println!("key:    {key}");
            println!("digest: {digest}");
            println!("list the digest in the tenant's api_keys (server) or admin_api_keys (admin); give the key to the tenant's backend as X-API-Key and keep it secret.");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Grant {
            peer: None,
            tenant: Some(tenant),
            user: Some(user),
            amount,
            note,
        } => roochip_grant(&node.load()?, &tenant, &user, &amount, note),
        AdminCommand::Grant {
            peer, amount, note, ..
        } => {
            let peer = parse_peer(&peer.ok_or("--peer or --tenant and --user are required")?)?;
            let amount = amount
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(Amount::new)
                .ok_or("--amount must be a whole number > 0")?;
            let (ledger, tenant) = open_ledger(&node.load()?)?;
            let result =
                ledger.run_blocking(move |tx| ops::grant(tx, &tenant, &peer, amount, note));
            ledger.shutdown();
            let balance = result.map_err(|e: Goop2Error| e.to_string())?;
            println!("granted {amount} credits; new balance {balance}");
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Refund {
            peer,
            template,
            note,
        } => {
            let peer = parse_peer(&peer)?;
            let (ledger, tenant) = open_ledger(&node.load()?)?;
            let name = template.clone();
            let result =
                ledger.run_blocking(move |tx| ops::refund(tx, &tenant, &peer, &name, note));
            ledger.shutdown();
            let (refunded, balance) = result.map_err(|e: Goop2Error| e.to_string())?;
            println!("refunded {refunded} credits for {template}; new balance {balance}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn campaigns(config: &Config, command: CampaignsCommand) -> Result<ExitCode, String> {
    let print = |c: &goop2::repo::Campaign| {
        println!(
            "{:<20} {:>8} credits  {:>6}/{:<6} {} .. {}",
            c.code, c.amount, c.redeemed, c.max_redemptions, c.starts_at, c.ends_at
        )
    };
    match command {
        CampaignsCommand::Create {
            code,
            amount,
            starts_at,
            ends_at,
            max_redemptions,
            note,
        } => {
            let campaign = goop2::repo::NewCampaign {
                code,
                amount,
                starts_at: starts_at.unwrap_or_else(|| jiff::Timestamp::now().to_string()),
                ends_at,
                max_redemptions,
                note,
            };
            let (ledger, tenant) = open_ledger(config)?;
            let made = ledger
                .run_blocking(move |tx| goop2::campaigns::create_campaign(tx, &tenant, campaign));
            ledger.shutdown();
            let made = made.map_err(|e: Goop2Error| e.to_string())?;
            print(&made);
            println!("campaign {} created", made.code);
        }
        CampaignsCommand::List => {
            let tenant = TenantId::new(config.goop2.tenant.clone()).map_err(|e| e.to_string())?;
            let all = read_only(config)?
                .read_blocking(|r| goop2::campaigns::campaigns(r, &tenant))
                .map_err(|e| e.to_string())?;
            for c in &all {
                print(c);
            }
            println!("{} campaigns", all.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `admin grant --tenant T --user ID --amount 5.00`: the Roochip admin grant, through
/// the same issuance (and webhook event) as `POST /v1/admin/users/{id}/grant`.
fn roochip_grant(
    config: &Config,
    tenant: &str,
    user: &str,
    amount: &str,
    note: Option<String>,
) -> Result<ExitCode, String> {
    let t = roochip_tenant(config, tenant)?;
    let user = roochip::routes::external_user_id(user).map_err(|e| format!("--user: {e}"))?;
    let amount = Amount::parse_decimal(
        amount.trim(),
        roochip::settings::SCALE,
        roochip::settings::CEILING,
    )
    .map_err(|e| format!("--amount {amount:?}: {e}"))?;
    let reason = note.unwrap_or_else(|| "admin_grant".into());
    if reason.trim().is_empty() || reason.chars().count() > roochip::routes::MAX_TEXT {
        return Err(format!(
            "--note: 1 to {} characters",
            roochip::routes::MAX_TEXT
        ));
    }
    let wallet = roochip::caller::WalletContext {
        tenant: TenantId::new(t.id.clone()).map_err(|e| e.to_string())?,
        webhooks: t.webhooks(),
        actor: Actor::Admin,
    };
    let movement = roochip::ops::Movement {
        amount,
        reason,
        reference_id: None,
    };
    let (ledger, _) = open_ledger(config)?;
    let for_user = user.clone();
    let result =
        ledger.run_blocking(move |tx| roochip::ops::grant(tx, &wallet, &for_user, &movement));
    ledger.shutdown();
    let balance = result.map_err(|e: RoochipError| e.to_string())?;
    println!(
        "granted {} ROO to {user} in {tenant}; new balance {}",
        format_minor(amount.minor(), roochip::settings::SCALE),
        format_minor(balance, roochip::settings::SCALE)
    );
    Ok(ExitCode::SUCCESS)
}

fn rrr_approve(config: &Config, promotion: &str, actor_id: &str) -> Result<ExitCode, String> {
    let tenants: Vec<_> = config
        .tenants
        .iter()
        .filter_map(TenantSettings::rrr)
        .cloned()
        .collect();
    if tenants.is_empty() {
        return Err("no [[tenants]] entry has mode = \"rrr\"".into());
    }
    let (ledger, _) = open_ledger(config)?;
    let state = rrr::RrrState::new(
        ledger.clone(),
        &tenants,
        b"",
        rendezvous_credits::auth::AdminAuth::new("", None),
        config.server.max_body_bytes,
    )
    .map_err(|e| e.to_string());
    let result = state.and_then(|s| {
        rrr::promotions::approve_from_cli(&s, promotion, actor_id).map_err(|e| e.to_string())
    });
    ledger.shutdown();
    println!("{}", result?);
    Ok(ExitCode::SUCCESS)
}

fn codes(config: &Config, command: CodesCommand) -> Result<ExitCode, String> {
    let err = |e: RoochipError| e.to_string();
    match command {
        CodesCommand::List { tenant, status } => {
            let t = roochip_tenant(config, &tenant)?;
            if let Some(s) = &status {
                if !["pending", "fulfilled", "rejected"].contains(&s.as_str()) {
                    return Err("--status must be pending, fulfilled or rejected".into());
                }
            }
            let id = TenantId::new(t.id.clone()).map_err(|e| e.to_string())?;
            let ledger = read_only(config)?;
            let (total, requests) = ledger
                .read_blocking(|r| {
                    roochip::ops::code_requests(r, &id, status.as_deref(), 10_000, 0)
                })
                .map_err(|e| e.to_string())?;
            for r in &requests {
                println!(
                    "{}  {:<9}  {}  {}",
                    r.id, r.status, r.created_at, r.external_user_id
                );
            }
            println!("{total} requests");
        }
        CodesCommand::Generate { tenant, user } => {
            let t = roochip_tenant(config, &tenant)?;
            let credits = roochip::settings::promo_code_credits(t)?;
            let wallet = roochip::caller::WalletContext {
                tenant: TenantId::new(t.id.clone()).map_err(|e| e.to_string())?,
                webhooks: t.webhooks(),
                actor: Actor::Admin,
            };
            let (ledger, _) = open_ledger(config)?;
            let for_user = user.clone();
            let code = ledger.run_blocking(move |tx| {
                roochip::ops::generate_code(tx, &wallet, &for_user, credits)
            });
            ledger.shutdown();
            let code = code.map_err(err)?;
            println!("{code}");
            println!(
                "single-use code worth {} ROO for {user}; it is not stored and cannot be shown again",
                format_minor(credits.minor(), 2)
            );
        }
        CodesCommand::Reject { tenant, id } => {
            let t = roochip_tenant(config, &tenant)?;
            let wallet = roochip::caller::WalletContext {
                tenant: TenantId::new(t.id.clone()).map_err(|e| e.to_string())?,
                webhooks: false,
                actor: Actor::Admin,
            };
            let (ledger, _) = open_ledger(config)?;
            let result =
                ledger.run_blocking(move |tx| roochip::ops::reject_request(tx, &wallet, &id));
            ledger.shutdown();
            let request = result.map_err(err)?;
            println!("request {} is {}", request.id, request.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn webhooks(config: &Config, command: WebhooksCommand) -> Result<ExitCode, String> {
    match command {
        WebhooksCommand::List {
            tenant,
            status,
            limit,
        } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(
                    deliveries::Status::parse(s)
                        .ok_or("--status must be pending, delivered or dead")?,
                ),
            };
            let tenant = tenant
                .map(|t| TenantId::new(t).map_err(|e| e.to_string()))
                .transpose()?;
            let list = read_only(config)?
                .read_blocking(|r| {
                    deliveries::list_deliveries(r, tenant.as_ref(), status, limit, 0)
                })
                .map_err(|e| e.to_string())?;
            for d in &list {
                println!(
                    "{:>8}  {:<10} {:<16} {:<9} attempts {:<2} {}",
                    d.id,
                    d.tenant,
                    d.event_type,
                    d.status,
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} deliveries shown", list.len());
        }
        WebhooksCommand::Replay { id } => {
            let (ledger, _) = open_ledger(config)?;
            let result = ledger.run_blocking(move |tx| deliveries::replay(tx, id, None));
            ledger.shutdown();
            let d = result.map_err(|e| e.to_string())?;
            println!("event {} is {} again (attempts reset)", d.id, d.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn payments(config: &Config, command: PaymentsCommand) -> Result<ExitCode, String> {
    let PaymentsCommand::List {
        tenant,
        provider,
        unrecovered,
        limit,
    } = command;
    let filter = rendezvous_credits::payments::admin::filter(ListQuery {
        tenant,
        provider,
        unrecovered,
        before: None,
        limit: Some(limit),
    })?;
    let list = read_only(config)?
        .read_blocking(move |r| rendezvous_credits::payments::admin::list(r, filter))
        .map_err(|e| e.to_string())?;
    for p in &list {
        let shortfall = if p.shortfall > 0 {
            format!("  shortfall {}", p.shortfall)
        } else {
            String::new()
        };
        println!(
            "{:>6}  {:<10} {:<10} {:<9} {:>8} credits  {} {} {}  {}  {}{shortfall}",
            p.id,
            p.provider,
            p.tenant,
            p.status,
            p.credits,
            p.amount,
            p.currency,
            p.package,
            p.external_id,
            p.account,
        );
    }
    println!("{} payments shown", list.len());
    Ok(ExitCode::SUCCESS)
}

fn verify(config: &Config) -> Result<ExitCode, String> {
    let ledger = read_only(config)?;
    let outcome = rendezvous_credits::app::verify(&ledger, &mut |n| {
        eprintln!("verify: {n} entries checked…")
    })
    .map_err(|e| e.to_string())?;
    match outcome {
        Ok(report) => {
            println!(
                "verify: OK: {} entries, {} accounts, {} tenants",
                report.entries, report.accounts, report.tenants
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(discrepancy) => {
            println!("verify: FAILED: {discrepancy}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn backup(config: &Config, dest: &Path, force: bool) -> Result<ExitCode, String> {
    let location = config.ledger_location();
    if let Some(command) = store::backup_command(&location, dest) {
        eprintln!(
            "backup: the ledger is in {location}; its backups are PostgreSQL's: take them \
             with pg_dump (a consistent snapshot while the nodes serve), or with your \
             database's point-in-time recovery. Nothing was written. The command, with the \
             password in PGPASSWORD or ~/.pgpass:"
        );
        println!("{command}");
        return Ok(ExitCode::FAILURE);
    }
    if dest.exists() {
        if !force {
            return Err(format!(
                "{} exists (use --force to overwrite)",
                dest.display()
            ));
        }
        std::fs::remove_file(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    eprintln!("backup: copying {} …", config.ledger_path().display());
    let pages = store::sqlite::backup(&config.ledger_path(), dest)?;
    println!(
        "backup: {} written and checked ({pages} pages)",
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}
