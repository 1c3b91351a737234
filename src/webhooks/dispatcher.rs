//! The background task that delivers outbox events.
//!
//! It wakes on [`Ledger::outbox_signal`] (after every durable batch that wrote events)
//! and every `webhooks.poll_interval_ms` (for retries that became due), reads the due
//! deliveries (see [`super::deliveries`]), and attempts each one: `POST` of the exact
//! payload to the tenant's `webhook_url` with the signature headers of
//! [`super::signing`] and a timeout of `webhooks.timeout_secs`. Each outcome is one
//! unit of work on the ledger. Per account, only the oldest pending event is ever
//! attempted, so a receiver sees one account's events in outbox order; different
//! accounts (and events without an account) run concurrently, up to
//! `webhooks.concurrency` attempts at once.
//!
//! Nodes that share one PostgreSQL database run a dispatcher each: every node's
//! writer sends `NOTIFY rc_outbox` with the events it commits, and each node's
//! store wakes its dispatcher on them (`LISTEN`). Before an attempt a node leases the
//! delivery for `webhooks.lease_secs` (see
//! [`Deliveries::lease`](super::deliveries::Deliveries::lease)): one event goes out
//! once while all nodes run, and again only when its node died mid-attempt and the
//! lease ran out. Leases of attempts abandoned at a graceful shutdown are given
//! back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::deliveries::{self, Due, EndpointReads, EndpointRow, Outcome, Status};
use super::signing::{self, WebhookFormat};
use super::WebhookConfig;
use crate::ledger::{Ledger, LedgerError};

/// `last_error` of deliveries whose tenant has no `webhook_url`.
pub const NO_ENDPOINT: &str = "no webhook_url configured";

/// Longest wait, at shutdown, for attempts in flight to finish (bounded by
/// `webhooks.timeout_secs` too). Attempts still running after it are abandoned: their
/// deliveries stay pending and are attempted again after the restart.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Most bytes of a failed answer's body kept in `last_error`.
const ERROR_BODY_CHARS: usize = 200;

/// Most bytes of an answer read before the connection is given back.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The endpoints as last read, refreshed at every scan: by id, and the active ones of
/// each tenant (for events written when the tenant had none).
#[derive(Default)]
struct Endpoints {
    by_id: HashMap<String, Arc<(EndpointRow, String)>>,
    by_tenant: HashMap<String, Vec<Arc<(EndpointRow, String)>>>,
}

impl Endpoints {
    fn of(rows: Vec<(EndpointRow, String)>) -> Endpoints {
        let mut e = Endpoints::default();
        for row in rows {
            let row = Arc::new(row);
            if row.0.active {
                e.by_tenant
                    .entry(row.0.tenant.clone())
                    .or_default()
                    .push(row.clone());
            }
            e.by_id.insert(row.0.id.clone(), row);
        }
        e
    }

    /// Where `due` goes: its endpoint if active; for an event written without one,
    /// the first active endpoint of its tenant that wants it.
    fn resolve(&self, due: &Due) -> Option<Arc<(EndpointRow, String)>> {
        if due.endpoint.is_empty() {
            return self
                .by_tenant
                .get(&due.tenant)?
                .iter()
                .find(|e| e.0.wants(&due.event_type))
                .cloned();
        }
        self.by_id
            .get(&due.endpoint)
            .filter(|e| e.0.active)
            .cloned()
    }
}

/// What every attempt shares.
struct Context {
    ledger: Ledger,
    client: reqwest::Client,
    endpoints: std::sync::RwLock<Arc<Endpoints>>,
    formats: HashMap<String, Arc<dyn WebhookFormat>>,
    schedule_secs: Vec<u64>,
    timeout_secs: u64,
    /// Lease of an attempt when the storage is shared, ms; 0 when it is not.
    lease_ms: i64,
    /// The leases this node holds: (event, endpoint) → until (unix ms), given back at
    /// shutdown for the attempts it abandons.
    leases: std::sync::Mutex<HashMap<(i64, String), i64>>,
}

impl Context {
    /// Reads the endpoints table again (a failure keeps the last copy).
    async fn refresh(&self) {
        match self
            .ledger
            .read(|r| r.repo::<dyn EndpointReads>()?.endpoints())
            .await
        {
            Ok(rows) => {
                if let Ok(mut e) = self.endpoints.write() {
                    *e = Arc::new(Endpoints::of(rows));
                }
            }
            Err(e) => {
                let e: LedgerError = e;
                tracing::error!(error = %e, "webhook dispatcher: reading the endpoints failed");
            }
        }
    }

    fn endpoints(&self) -> Arc<Endpoints> {
        self.endpoints.read().map(|e| e.clone()).unwrap_or_default()
    }
}

/// Starts the webhook dispatcher.
pub struct Dispatcher;

impl Dispatcher {
    /// Spawns the dispatcher on the current Tokio runtime with the `[webhooks]`
    /// settings. It reads the endpoints (`webhook_endpoints`) at every pass, and signs
    /// with the [`WebhookFormat`] of each tenant's mode in `formats`. It resumes
    /// at once every delivery left pending in the ledger (after a restart too).
    ///
    /// Deliveries whose endpoint is gone or inactive (or of a tenant with none) are
    /// marked dead with `last_error` = [`NO_ENDPOINT`] when they come due, so that they
    /// show up among the dead letters and can be replayed once an endpoint exists.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn spawn(
        ledger: Ledger,
        formats: Vec<(&'static str, Arc<dyn WebhookFormat>)>,
        config: WebhookConfig,
    ) -> DispatcherHandle {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!(
                "rendezvous-credits/",
                env!("CARGO_PKG_VERSION"),
                " webhooks"
            ))
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "webhook HTTP client: falling back to the defaults");
                reqwest::Client::new()
            });
        let ledger_shared = ledger.shared();
        let ctx = Arc::new(Context {
            ledger,
            client,
            endpoints: std::sync::RwLock::default(),
            formats: formats
                .into_iter()
                .map(|(mode, f)| (mode.to_string(), f))
                .collect(),
            schedule_secs: config.schedule_secs.clone(),
            timeout_secs: config.timeout_secs,
            leases: std::sync::Mutex::default(),
            lease_ms: if ledger_shared {
                i64::try_from(config.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
            } else {
                0
            },
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(ctx, config, stopped));
        DispatcherHandle { stop, task }
    }
}

/// The running dispatcher.
pub struct DispatcherHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl DispatcherHandle {
    /// Stops the dispatcher: no new attempt starts; attempts in flight get up to
    /// [`SHUTDOWN_GRACE`] (at most `webhooks.timeout_secs`) to finish and record their
    /// outcome; the rest are abandoned and stay pending (attempted again after the
    /// restart: at-least-once). Call it before the ledger shuts down.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the webhook dispatcher task failed");
        }
    }
}

/// What may be attempted at once: per endpoint, one event per account, any events
/// without one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lane {
    Account(i64, String),
    Event(i64, String),
}

impl Lane {
    /// The lane of `due` going to `endpoint` (its own, or the one an event written
    /// without an endpoint resolves to, so that it stays in order with that
    /// endpoint's events of the same account).
    fn of(due: &Due, endpoint: &str) -> Lane {
        match due.account {
            Some(a) => Lane::Account(a, endpoint.to_string()),
            None => Lane::Event(due.outbox_id, endpoint.to_string()),
        }
    }
}

async fn run(ctx: Arc<Context>, config: WebhookConfig, mut stopped: watch::Receiver<bool>) {
    let signal = ctx.ledger.outbox_signal();
    let poll = Duration::from_millis(config.poll_interval_ms.max(1));
    let concurrency = config.concurrency.max(1);
    let first_delay_ms = i64::try_from(
        config
            .schedule_secs
            .first()
            .copied()
            .unwrap_or(0)
            .saturating_mul(1000),
    )
    .unwrap_or(i64::MAX);
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut lanes: HashMap<tokio::task::Id, Lane> = HashMap::new();
    let mut busy: HashSet<Lane> = HashSet::new();
    // A scan looks for the heads of every lane; it runs at start, when new events are
    // committed, every poll interval (retries that became due), and after a
    // completion while the last scan may have left heads behind. A completion
    // otherwise only looks up the next event of its own account.
    let mut scan = true;
    let mut saturated = false;
    ctx.refresh().await;
    tracing::info!(
        endpoints = ctx.endpoints().by_id.len(),
        concurrency,
        "webhook dispatcher started"
    );
    loop {
        if *stopped.borrow() {
            break;
        }
        let free = concurrency.saturating_sub(busy.len());
        if scan && free > 0 {
            scan = false;
            // In-flight heads are still pending and come back from the query: ask
            // for enough rows to fill every free slot anyway.
            let limit = free + busy.len();
            ctx.refresh().await;
            let ledger = ctx.ledger.clone();
            let now = deliveries::now_millis();
            let durable = ledger.durable_outbox_id();
            let read = ledger
                .read(move |r| deliveries::due(r, now, first_delay_ms, durable, limit))
                .await;
            match read {
                Ok(due) => {
                    saturated = due.len() >= limit;
                    let mut free = free;
                    for d in due {
                        if free == 0 {
                            break;
                        }
                        if start(&ctx, &mut tasks, &mut lanes, &mut busy, d) {
                            free -= 1;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "webhook dispatcher: reading due deliveries failed")
                }
            }
        }
        tokio::select! {
            changed = stopped.changed() => {
                // A dropped handle stops the dispatcher as `shutdown` does.
                if changed.is_err() {
                    break;
                }
            }
            () = signal.notified() => scan = true,
            () = tokio::time::sleep(poll) => scan = true,
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "a webhook attempt task failed; the delivery stays pending");
                        e.id()
                    }
                };
                let Some(lane) = lanes.remove(&id) else { continue };
                busy.remove(&lane);
                let next = match lane {
                    Lane::Account(account, endpoint) => {
                        let now = deliveries::now_millis();
                        let durable = ctx.ledger.durable_outbox_id();
                        ctx.ledger
                            .read(move |r| {
                                deliveries::next_for_account(
                                    r,
                                    account,
                                    &endpoint,
                                    now,
                                    first_delay_ms,
                                    durable,
                                )
                            })
                            .await
                            .ok()
                            .flatten()
                    }
                    Lane::Event(..) => None,
                };
                match next {
                    Some(d) => {
                        start(&ctx, &mut tasks, &mut lanes, &mut busy, d);
                    }
                    None => scan |= saturated,
                }
            }
        }
    }
    let grace = SHUTDOWN_GRACE.min(Duration::from_secs(config.timeout_secs.max(1)));
    if !tasks.is_empty() {
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(
                abandoned = tasks.len(),
                "webhook attempts still in flight at shutdown stay pending and will be retried"
            );
            tasks.shutdown().await;
        }
    }
    release_leases(&ctx).await;
    tracing::info!("webhook dispatcher stopped");
}

/// Starts an attempt on `due` unless its lane is busy; says whether it started.
fn start(
    ctx: &Arc<Context>,
    tasks: &mut JoinSet<()>,
    lanes: &mut HashMap<tokio::task::Id, Lane>,
    busy: &mut HashSet<Lane>,
    due: Due,
) -> bool {
    let endpoint = ctx
        .endpoints()
        .resolve(&due)
        .map_or_else(|| due.endpoint.clone(), |e| e.0.id.clone());
    let lane = Lane::of(&due, &endpoint);
    if !busy.insert(lane.clone()) {
        return false;
    }
    let ctx = ctx.clone();
    let handle = tasks.spawn(async move { deliver(&ctx, due).await });
    lanes.insert(handle.id(), lane);
    true
}

/// Leases `due` for this node (see [`deliveries::Deliveries::lease`]); false when it
/// could not (another node has it, or it was settled meanwhile, or the storage
/// failed: it stays due and comes back at a later scan).
async fn lease(ctx: &Context, due: &Due) -> bool {
    let (id, before, endpoint) = (due.outbox_id, due.attempts, due.endpoint.clone());
    let now = deliveries::now_millis();
    let until = now.saturating_add(ctx.lease_ms);
    let leased = ctx
        .ledger
        .run(move |tx| {
            tx.repo::<dyn deliveries::Deliveries>()?
                .lease(id, &endpoint, before, now, until)
        })
        .await;
    match leased {
        Ok(true) => {
            if let Ok(mut leases) = ctx.leases.lock() {
                leases.insert((due.outbox_id, due.endpoint.clone()), until);
            }
            true
        }
        Ok(false) => false,
        Err(e) => {
            let e: LedgerError = e;
            tracing::error!(error = %e, "webhook dispatcher: leasing a delivery failed");
            false
        }
    }
}

/// Gives back the leases of the attempts abandoned at shutdown, so that the next node
/// (or this one restarted) attempts them at once rather than after the lease.
async fn release_leases(ctx: &Context) {
    let leases: Vec<((i64, String), i64)> = match ctx.leases.lock() {
        Ok(mut leases) => leases.drain().collect(),
        Err(_) => return,
    };
    for ((id, endpoint), until) in leases {
        let released = ctx
            .ledger
            .run(move |tx| {
                tx.repo::<dyn deliveries::Deliveries>()?
                    .release(id, &endpoint, until)
            })
            .await;
        if let Err(e) = released {
            let e: LedgerError = e;
            tracing::warn!(error = %e, "a webhook lease could not be given back; it runs out by itself");
        }
    }
}

/// One attempt on `due` and the record of its outcome. On shared storage the delivery
/// is leased first; when another node holds it (or settled it meanwhile) nothing is
/// sent.
async fn deliver(ctx: &Context, due: Due) {
    if ctx.lease_ms > 0 && !lease(ctx, &due).await {
        return;
    }
    let outcome = match ctx.endpoints().resolve(&due) {
        Some(endpoint) => attempt(ctx, &endpoint.0, &endpoint.1, &due).await,
        None => Outcome::Dead {
            status: None,
            error: NO_ENDPOINT.into(),
            attempted: false,
        },
    };
    let schedule = ctx.schedule_secs.clone();
    let (id, before, endpoint) = (due.outbox_id, due.attempts, due.endpoint.clone());
    let recorded_outcome = outcome.clone();
    let recorded = ctx
        .ledger
        .run(move |tx| deliveries::record(tx, id, &endpoint, before, &recorded_outcome, &schedule))
        .await;
    // Recorded: the outcome ended the lease.
    if recorded.is_ok() && ctx.lease_ms > 0 {
        if let Ok(mut leases) = ctx.leases.lock() {
            leases.remove(&(id, due.endpoint.clone()));
        }
    }
    let event = signing::webhook_id(id);
    let (label, status, reason) = match &outcome {
        Outcome::Delivered { status } => ("delivered", Some(*status), None),
        Outcome::Failed { status, error } => ("failed", *status, Some(error)),
        Outcome::Dead { status, error, .. } => ("dead", *status, Some(error)),
    };
    metrics::counter!("webhook_attempts_total", "tenant" => due.tenant.clone(), "outcome" => label)
        .increment(1);
    // The reason is logged only when the receiver did not answer: an answer's body
    // (kept in last_error for the tenant's admin) is not logged.
    let reason = if status.is_none() {
        reason.map(String::as_str)
    } else {
        None
    };
    match recorded {
        Ok(Some((Status::Delivered, attempts))) => tracing::info!(
            event, tenant = %due.tenant, event_type = %due.event_type, status, attempts,
            "webhook delivered"
        ),
        Ok(Some((Status::Pending, attempts))) => tracing::warn!(
            event, tenant = %due.tenant, event_type = %due.event_type, status, reason, attempts,
            "webhook attempt failed; will retry"
        ),
        Ok(Some((Status::Dead, attempts))) => tracing::warn!(
            event, tenant = %due.tenant, event_type = %due.event_type, status, reason, attempts,
            "webhook dead-lettered"
        ),
        Ok(None) => tracing::debug!(
            event, tenant = %due.tenant,
            "webhook delivery changed during the attempt; outcome not recorded"
        ),
        Err(e) => tracing::error!(
            event, tenant = %due.tenant, error = %e,
            "recording a webhook outcome failed; the delivery stays pending"
        ),
    }
}

/// `POST`s the payload and classifies the answer: 2xx delivered, 410 dead, anything
/// else (other statuses, timeout, connection error) a failed attempt.
async fn attempt(ctx: &Context, endpoint: &EndpointRow, mode: &str, due: &Due) -> Outcome {
    let timestamp = jiff::Timestamp::now().as_second();
    let body = due.payload.as_bytes().to_vec();
    let mut request = ctx
        .client
        .post(&endpoint.url)
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in signing::headers(
        ctx.formats.get(mode).map(|f| f.as_ref()),
        endpoint.secret.expose(),
        due.outbox_id,
        timestamp,
        &body,
    ) {
        request = request.header(name, value);
    }
    if let Some(trace) = &due.trace {
        request = request.header("X-Request-Trace", trace.as_str());
    }
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Failed {
                status: None,
                error: describe(&e, ctx.timeout_secs),
            }
        }
    };
    let status = response.status();
    let answer = read_answer(response).await;
    if status.is_success() {
        return Outcome::Delivered {
            status: status.as_u16(),
        };
    }
    let mut error = format!("HTTP {}", status.as_u16());
    let snippet: String = String::from_utf8_lossy(&answer)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_BODY_CHARS)
        .collect();
    if !snippet.trim().is_empty() {
        error.push_str(": ");
        error.push_str(snippet.trim());
    }
    if status == reqwest::StatusCode::GONE {
        Outcome::Dead {
            status: Some(status.as_u16()),
            error,
            attempted: true,
        }
    } else {
        Outcome::Failed {
            status: Some(status.as_u16()),
            error,
        }
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer (so that the connection can be
/// reused); a body error ends the read.
async fn read_answer(mut response: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    out
}

/// A request error as `last_error`: the kind and the innermost cause, never the URL.
fn describe(e: &reqwest::Error, timeout_secs: u64) -> String {
    if e.is_timeout() {
        return format!("timeout after {timeout_secs} s");
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let kind = if e.is_connect() {
        "connection error"
    } else {
        "request error"
    };
    if std::ptr::addr_eq(cause, e) {
        let text = e.to_string();
        let text = match e.url() {
            Some(url) => text.replace(url.as_str(), "<webhook_url>"),
            None => text,
        };
        format!("{kind}: {text}")
    } else {
        format!("{kind}: {cause}")
    }
}
