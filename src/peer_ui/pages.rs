//! The store UI's pages: the store (catalog, confirmation, install), the history, the
//! credit bundles, and the form posts behind them. Each post does one thing on the
//! node and leaves a notice for the page it redirects to (post/redirect/get), so the
//! navbar's balance is read again after every action.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::{Local, LocalPost, StoreUi};
use crate::client::{ClientError, PeerClient};
use crate::dialects::goop2::wire::{BalanceResponse, TemplateListing};
use crate::p2p::RecordDomain;
use crate::web::html::{document, grouped, money, notice, respond, see_other};

/// History entries per page.
pub const HISTORY_PAGE: u32 = 20;

/// Mounts the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(store))
        .route("/history", web::get().to(history))
        .route("/credits", web::get().to(credits))
        .route("/register", web::post().to(register))
        .route("/buy", web::post().to(buy))
        .route("/install", web::post().to(install))
        .route("/checkout", web::post().to(checkout));
}

/// `N credits`, grouped.
pub fn credits_text(n: i64) -> String {
    if n == 1 {
        "1 credit".into()
    } else {
        format!("{} credits", grouped(n))
    }
}

/// What every page shows in its navbar: the balance, or why it is unknown.
struct Top {
    balance: Result<BalanceResponse, String>,
    checkout: bool,
}

async fn top(client: &mut PeerClient) -> Top {
    let balance = client.balance().await.map_err(|e| e.to_string());
    let low = balance.as_ref().is_ok_and(|b| b.low_balance);
    let checkout = if low {
        client
            .bundles()
            .await
            .map(|b| b.checkout_available && !b.bundles.is_empty())
            .unwrap_or(false)
    } else {
        false
    };
    Top { balance, checkout }
}

fn shell(ui: &StoreUi, top: &Top, current: &str, title: &str, body: Markup) -> HttpResponse {
    let links = [
        ("/", "Store"),
        ("/history", "History"),
        ("/credits", "Get credits"),
    ];
    let markup = html! {
        header.bar {
            a.brand href="/" { "Goop2 template store" }
            nav aria-label="Store" { ul {
                @for (href, label) in links {
                    li { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } }
                }
            } }
            @match &top.balance {
                Ok(b) => span.balance id="balance" aria-live="polite" title="Your balance" { (credits_text(b.balance)) },
                Err(_) => span.balance id="balance" { "balance unavailable" },
            }
        }
        main id="main" {
            h1 { (title) }
            @if let Some((kind, text)) = ui.take_notice() { (notice(kind, &text)) }
            @if let Err(e) = &top.balance { (notice("error", &format!("The node could not be asked for your balance: {e}"))) }
            @if top.balance.as_ref().is_ok_and(|b| b.low_balance) {
                div.notice.warn role="status" id="low-balance" {
                    strong { "Running low on credits. " }
                    @if top.checkout { a href="/credits" { "Get more credits" } }
                    @else { "Contact the server admin for more credits." }
                }
            }
            (body)
            p.muted { "Node: " (ui.node_url) }
        }
    };
    respond(
        StatusCode::OK,
        document(
            &format!("{title} — Goop2 store"),
            &[crate::web::assets::url("", "app.css")],
            &[],
            markup,
        ),
    )
}

/// An error page of the UI.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let markup = html! {
        header.bar { a.brand href="/" { "Goop2 template store" } }
        main id="main" { h1 { "Refused" } (notice("error", message)) p { a href="/" { "Back to the store" } } }
    };
    respond(
        status,
        document(
            "Refused — Goop2 store",
            &[crate::web::assets::url("", "app.css")],
            &[],
            markup,
        ),
    )
}

fn csrf(ui: &StoreUi) -> Markup {
    html! { input type="hidden" name="csrf" value=(ui.csrf); }
}

#[derive(Deserialize)]
struct StoreQuery {
    confirm: Option<String>,
}

async fn store(Local(ui): Local, query: web::Query<StoreQuery>) -> HttpResponse {
    let mut client = ui.client.lock().await;
    let top = top(&mut client).await;
    let joined = client.history_page(1, 0).await.map(|h| h.total > 0);
    let templates = client.templates().await;
    drop(client);
    let balance = top.balance.as_ref().map(|b| b.balance).ok();
    let confirm = query.confirm.as_deref().and_then(|name| {
        templates
            .as_ref()
            .ok()?
            .iter()
            .find(|t| t.name == name && !t.owned && t.price > 0)
    });
    let body = html! {
        @if let Ok(false) = joined {
            section.card aria-labelledby="join" {
                h2 id="join" { "Join this node" }
                p { "You are not registered with this rendezvous node yet. Registering gives you your starter credits." }
                form method="post" action="/register" { (csrf(&ui)) button type="submit" { "Register" } }
            }
        }
        @match &templates {
            Err(e) => (notice("error", &format!("The catalog could not be loaded: {e}"))),
            Ok(list) => ul.catalog aria-label="Templates" {
                @for t in list { (template_card(&ui, t)) }
            },
        }
        @if let (Some(t), Some(balance)) = (confirm, balance) { (confirmation(&ui, t, balance)) }
    };
    shell(&ui, &top, "/", "Templates", body)
}

fn template_card(ui: &StoreUi, t: &TemplateListing) -> Markup {
    let default_dir = ui.install_root.join(&t.name);
    html! {
        li data-template=(t.name) {
            h2 { (t.title) }
            p.muted { (t.name) " · version " (t.version) }
            p {
                @if t.price == 0 { span.badge.free { "Free" } }
                @else if t.owned { span.badge.owned { "Owned" } }
                @else { span.price { (credits_text(t.price)) } }
            }
            @if t.owned || t.price == 0 {
                form.stack method="post" action="/install" {
                    (csrf(ui))
                    input type="hidden" name="template" value=(t.name);
                    label for={"dir-" (t.name)} { "Install into folder" }
                    input id={"dir-" (t.name)} name="dir" type="text" value=(default_dir.display().to_string());
                    button type="submit" { "Install" }
                }
            } @else {
                a.button href={"/?confirm=" (t.name)} { "Buy for " (credits_text(t.price)) }
            }
        }
    }
}

/// The confirmation of a purchase (goop2-credit-system.md, "Client-Side Flows").
fn confirmation(ui: &StoreUi, t: &TemplateListing, balance: i64) -> Markup {
    let after = balance - t.price;
    html! {
        div.modal-backdrop {
            dialog open aria-modal="true" aria-labelledby="confirm-title" aria-describedby="confirm-text" {
                h2 id="confirm-title" { "Confirm purchase" }
                p id="confirm-text" {
                    "Purchase '" (t.title) "' for " (credits_text(t.price)) "? Your balance: " (credits_text(balance))
                    @if after >= 0 { " → " (credits_text(after)) }
                    @else { " (" (credits_text(-after)) " short)" }
                }
                form.inline method="post" action="/buy" {
                    (csrf(ui))
                    input type="hidden" name="template" value=(t.name);
                    button type="submit" autofocus { "Confirm purchase" }
                }
                " "
                a.button.secondary href="/" { "Cancel" }
            }
        }
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    page: Option<u64>,
}

async fn history(Local(ui): Local, query: web::Query<HistoryQuery>) -> HttpResponse {
    let page = query
        .page
        .unwrap_or(1)
        .clamp(1, u64::MAX / u64::from(HISTORY_PAGE));
    let mut client = ui.client.lock().await;
    let top = top(&mut client).await;
    let offset = (page - 1).saturating_mul(u64::from(HISTORY_PAGE));
    let entries = client.history_page(HISTORY_PAGE, offset).await;
    drop(client);
    let body = html! {
        @match &entries {
            Err(e) => (notice("error", &format!("The history could not be loaded: {e}"))),
            Ok(h) => {
                div.table-wrap tabindex="0" { table {
                    caption.muted { (h.total) " transactions in all" }
                    thead { tr {
                        th scope="col" { "When (UTC)" } th scope="col" { "What" } th.num scope="col" { "Credits" }
                        th.num scope="col" { "Balance" } th scope="col" { "Note" }
                    } }
                    tbody { @for t in &h.transactions {
                        tr data-entry=(t.id) {
                            td { (t.created_at) } td { (t.kind) }
                            td.num { @if t.amount > 0 { "+" } (grouped(t.amount)) }
                            td.num { (grouped(t.balance)) } td { (t.note.as_deref().unwrap_or("")) }
                        }
                    } }
                } }
                nav.pager aria-label="Pages" {
                    @if page > 1 { a href={"/history?page=" (page - 1)} rel="prev" { "← Newer" } }
                    span { "Page " (page) " of " (h.total.div_ceil(u64::from(HISTORY_PAGE)).max(1)) }
                    @if offset.saturating_add(u64::from(HISTORY_PAGE)) < h.total { a href={"/history?page=" (page + 1)} rel="next" { "Older →" } }
                }
            }
        }
    };
    shell(&ui, &top, "/history", "History", body)
}

async fn credits(Local(ui): Local) -> HttpResponse {
    let mut client = ui.client.lock().await;
    let top = top(&mut client).await;
    let bundles = client.bundles().await;
    drop(client);
    let body = html! {
        @match &bundles {
            Err(e) => (notice("error", &format!("The credit bundles could not be loaded: {e}"))),
            Ok(b) if !b.checkout_available || b.bundles.is_empty() => {
                p { "This node does not sell credits. Contact the server admin for more credits." }
            }
            Ok(b) => ul.catalog aria-label="Credit bundles" {
                @for bundle in &b.bundles {
                    li data-bundle=(bundle.id) {
                        h2 { (credits_text(bundle.credits)) }
                        p.price { (money(bundle.price_amount, &bundle.currency)) }
                        form method="post" action="/checkout" {
                            (csrf(&ui))
                            input type="hidden" name="bundle" value=(bundle.id);
                            button type="submit" { "Buy with a card" }
                        }
                    }
                }
            },
        }
    };
    shell(&ui, &top, "/credits", "Get credits", body)
}

#[derive(Deserialize)]
struct NoFields {}

async fn register(post: LocalPost<NoFields>) -> HttpResponse {
    let ui = post.ui;
    let mut client = ui.client.lock().await;
    match client.register(None, RecordDomain::Standard).await {
        Err(e) => ui.leave_notice("error", e.to_string()),
        Ok(_) => {
            let first = client.history_page(2, 0).await.ok().and_then(|h| {
                (h.total == 1 && h.transactions[0].kind == "starter")
                    .then(|| h.transactions[0].amount)
            });
            match first {
                Some(starter) => ui.leave_notice(
                    "ok",
                    format!(
                        "Welcome! You've received {} to get started.",
                        credits_text(starter)
                    ),
                ),
                None => ui.leave_notice("ok", "Registered with the node."),
            }
        }
    }
    see_other("/")
}

#[derive(Deserialize)]
struct TemplateForm {
    template: String,
    #[serde(default)]
    dir: String,
}

async fn title_of(client: &mut PeerClient, name: &str) -> String {
    client
        .templates()
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|t| t.name == name))
        .map_or_else(|| name.to_string(), |t| t.title)
}

async fn buy(post: LocalPost<TemplateForm>) -> HttpResponse {
    let ui = post.ui;
    let name = post.form.template;
    let mut client = ui.client.lock().await;
    let title = title_of(&mut client, &name).await;
    match client.buy(&name).await {
        Ok(r) if r.status == "ok" => ui.leave_notice(
            "ok",
            format!(
                "Bought '{title}' for {}. Your balance: {}.",
                credits_text(r.price.unwrap_or(0)),
                credits_text(r.new_balance.unwrap_or(0))
            ),
        ),
        Ok(r) if r.status == "already_owned" => {
            ui.leave_notice("ok", format!("You already own '{title}'."))
        }
        Ok(_) => ui.leave_notice("ok", format!("'{title}' is free: install it.")),
        Err(ClientError::Status { status: 402, body }) => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let n = |k: &str| v[k].as_i64().unwrap_or(0);
            ui.leave_notice(
                "error",
                format!(
                    "Not enough credits: '{title}' costs {} and your balance is {}. You need {} more {}.",
                    credits_text(n("price")),
                    credits_text(n("balance")),
                    grouped(n("shortfall")),
                    if n("shortfall") == 1 { "credit" } else { "credits" }
                ),
            );
        }
        Err(e) => ui.leave_notice("error", format!("The purchase failed: {e}")),
    }
    see_other("/")
}

async fn install(post: LocalPost<TemplateForm>) -> HttpResponse {
    let ui = post.ui;
    let name = post.form.template;
    let dir = match post.form.dir.trim() {
        "" => ui.install_root.join(&name),
        d => std::path::PathBuf::from(d),
    };
    let mut client = ui.client.lock().await;
    let title = title_of(&mut client, &name).await;
    match client.install(&name, &dir).await {
        Ok(files) => ui.leave_notice(
            "ok",
            format!(
                "Installed '{title}' into {} ({} files).",
                dir.display(),
                files.len()
            ),
        ),
        Err(e) => ui.leave_notice("error", format!("'{title}' could not be installed: {e}")),
    }
    see_other("/")
}

#[derive(Deserialize)]
struct BundleForm {
    bundle: String,
}

/// Opens a Stripe Checkout Session and links to it (a redirect to another site after
/// a form post is blocked by the page's `form-action 'self'`).
async fn checkout(post: LocalPost<BundleForm>) -> HttpResponse {
    let ui = post.ui;
    let mut client = ui.client.lock().await;
    let opened = client.buy_credits(&post.form.bundle).await;
    let top = top(&mut client).await;
    drop(client);
    let body = match opened {
        Ok(r) => html! {
            p { "Your payment page is ready. The credits arrive once the payment is confirmed." }
            p { a.button href=(r.checkout_url) rel="noopener" { "Continue to payment" } }
        },
        Err(e) => notice("error", &format!("The payment could not be opened: {e}")),
    };
    shell(&ui, &top, "/credits", "Get credits", body)
}
