//! The console's core pages: sign-in and sign-out, the tenant list, and per tenant
//! the dashboard, accounts, webhook deliveries and payments.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use super::layout::{self, csrf, page, pager};
use super::session::{self, Operator, Posted};
use super::{ConsoleError, ConsoleState, ConsoleTenant, Refusal, Result, BASE};
use crate::ledger::{Bucket, DayFlow, EntryView, KindTotal, LedgerError, TenantTotals};
use crate::payments::admin::{self as payments_admin, PaymentView};
use crate::payments::repo::PaymentFilter;
use crate::web::guard;
use crate::webhooks::deliveries::{self, DeliveryView, Status};

/// Days the dashboard's chart covers, today included.
pub const CHART_DAYS: i64 = 30;

/// Rows of one page of entries, accounts, deliveries or payments.
pub const PAGE_ROWS: u32 = 50;

/// Mounts the core pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        BASE,
        web::get().to(|| async { crate::web::html::see_other(&format!("{BASE}/")) }),
    )
    .route(&format!("{BASE}/"), web::get().to(home))
    .route(&format!("{BASE}/login"), web::get().to(sign_in_page))
    .route(&format!("{BASE}/login"), web::post().to(sign_in))
    .route(&format!("{BASE}/logout"), web::post().to(sign_out))
    .route(&format!("{BASE}/t/{{tenant}}"), web::get().to(dashboard))
    .route(
        &format!("{BASE}/t/{{tenant}}/accounts"),
        web::get().to(accounts),
    )
    .route(
        &format!("{BASE}/t/{{tenant}}/account"),
        web::get().to(account),
    )
    .route(
        &format!("{BASE}/t/{{tenant}}/deliveries"),
        web::get().to(deliveries_page),
    )
    .route(
        &format!("{BASE}/t/{{tenant}}/deliveries/{{id}}/replay"),
        web::post().to(replay),
    )
    .route(
        &format!("{BASE}/t/{{tenant}}/payments"),
        web::get().to(payments),
    );
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

async fn sign_in_page(state: web::Data<ConsoleState>, req: HttpRequest) -> HttpResponse {
    if !state.admin.enabled() {
        return layout::sign_in(
            StatusCode::FORBIDDEN,
            Some("The console is disabled: set RC_ADMIN_TOKEN or admin.token_sha256."),
        );
    }
    let signed_in = req
        .cookie(session::COOKIE)
        .is_some_and(|c| state.sessions.is_live(c.value()));
    if signed_in {
        return crate::web::html::see_other(&format!("{BASE}/"));
    }
    layout::sign_in(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    form: web::Form<SignIn>,
) -> Result<HttpResponse> {
    guard::same_origin(&req)?;
    if let Err(e) = state.admin.check_token(&form.token) {
        tracing::warn!(reason = %e, "console sign-in refused");
        return Ok(layout::sign_in(
            StatusCode::UNAUTHORIZED,
            Some(&e.to_string()),
        ));
    }
    if let Some(old) = req.cookie(session::COOKIE) {
        state.sessions.close(old.value());
    }
    let id = state.sessions.open();
    tracing::info!("console session opened");
    let mut res = crate::web::html::see_other(&format!("{BASE}/"));
    res.add_cookie(&session::cookie(&req, &id))
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    Ok(res)
}

async fn sign_out(
    state: web::Data<ConsoleState>,
    req: HttpRequest,
    _form: Posted<NoFields>,
) -> Result<HttpResponse> {
    if let Some(c) = req.cookie(session::COOKIE) {
        state.sessions.close(c.value());
    }
    tracing::info!("console session closed");
    let mut res = crate::web::html::see_other(&format!("{BASE}/login"));
    res.add_cookie(&session::removal(&req))
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    Ok(res)
}

async fn home(state: web::Data<ConsoleState>, operator: Operator) -> HttpResponse {
    let body = html! {
        ul.cards {
            @for t in &state.tenants {
                li.card {
                    a href=(t.path("")) { strong { (t.id()) } }
                    span.label { " · " (t.spec.mode) }
                }
            }
        }
    };
    page(&state, &operator, None, "Tenants", &[], body)
}

/// `[today - CHART_DAYS + 1, today]` as `YYYY-MM-DD` (UTC), oldest first.
fn chart_days() -> Vec<String> {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    (0..CHART_DAYS)
        .rev()
        .filter_map(|back| today.checked_sub(jiff::Span::new().days(back)).ok())
        .map(|d| d.to_string())
        .collect()
}

struct Dashboard {
    totals: TenantTotals,
    flows: Vec<DayFlow>,
    kinds: Vec<KindTotal>,
    panel: Markup,
}

async fn dashboard(
    state: web::Data<ConsoleState>,
    operator: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let t = state.tenant(&path)?.clone();
    let days = chart_days();
    let since = format!(
        "{}T00:00:00Z",
        days.first().map_or("1970-01-01", String::as_str)
    );
    let threshold = t.dialect.low_balance_threshold();
    let tenant = t.clone();
    let d = state
        .ledger
        .read(move |r| {
            // The cards, the chart and the tables agree.
            r.in_snapshot(|r| {
                Ok::<_, LedgerError>(Dashboard {
                    totals: r.tenant_totals(tenant.id(), threshold)?,
                    flows: r.daily_flows(tenant.id(), &since)?,
                    kinds: r.kind_totals(tenant.id())?,
                    panel: tenant.dialect.dashboard(r, &tenant)?,
                })
            })
        })
        .await?;
    let (issued, spent): (i64, i64) = d.flows.iter().fold((0, 0), |(i, s), f| {
        (i.saturating_add(f.credited), s.saturating_add(f.debited))
    });
    let by_day = |day: &str| d.flows.iter().find(|f| f.day == day);
    let chart = serde_json::json!({
        "days": days,
        "scale": t.spec.scale,
        "issued": days.iter().map(|day| by_day(day).map_or(0, |f| f.credited)).collect::<Vec<_>>(),
        "spent": days.iter().map(|day| by_day(day).map_or(0, |f| f.debited)).collect::<Vec<_>>(),
    });
    let body = html! {
        section aria-labelledby="figures" {
            h2 id="figures" { "Figures" }
            div.cards {
                (card("accounts", "Accounts", &d.totals.accounts.to_string()))
                (card("liability", "Outstanding balance (liability)", &t.amount(d.totals.liability())))
                (card("issued", &format!("Issued, last {CHART_DAYS} days"), &t.amount(issued)))
                (card("spent", &format!("Spent or taken back, last {CHART_DAYS} days"), &t.amount(spent)))
                @if let Some(threshold) = threshold {
                    div.card data-figure="low-balance" {
                        span.figure { a href={(t.path("/accounts")) "?low=1"} { (d.totals.low_balance) } }
                        span.label { "Accounts below " (t.amount(threshold)) }
                    }
                }
            }
            p.muted {
                "Liability: " (t.amount(d.totals.available)) " spendable, "
                (t.amount(d.totals.held)) " held, " (t.amount(d.totals.pending)) " pending."
            }
        }
        section aria-labelledby="daily" {
            h2 id="daily" { "Credits issued and spent per day" }
            div.chart id="daily-chart" role="img" aria-label="Chart of credits issued and spent per day; the same figures are in the table below" {}
            // Only days and numbers; `<` is escaped all the same, so that no value can end the element.
            script type="application/json" id="daily-data" { (PreEscaped(chart.to_string().replace('<', "\\u003c"))) }
            details {
                summary { "Table of the days with entries" }
                div.table-wrap tabindex="0" { table {
                    thead { tr { th scope="col" { "Day (UTC)" } th.num scope="col" { "Issued" } th.num scope="col" { "Spent" } } }
                    tbody { @for f in &d.flows {
                        tr data-day=(f.day) { td { (f.day) } td.num { (t.amount(f.credited)) } td.num { (t.amount(f.debited)) } }
                    } }
                } }
            }
        }
        section aria-labelledby="kinds" {
            h2 id="kinds" { "Entries by kind, all time" }
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Kind" } th.num scope="col" { "Credited" } th.num scope="col" { "Debited" } th.num scope="col" { "Entries" } } }
                tbody { @for k in &d.kinds {
                    tr data-kind=(k.kind) { td { (k.kind) } td.num { (t.amount(k.credited)) } td.num { (t.amount(k.debited)) } td.num { (k.entries) } }
                } }
            } }
        }
        (d.panel)
    };
    let scripts = [
        crate::web::assets::url(BASE, "uPlot.js"),
        crate::web::assets::url(BASE, "console.js"),
    ];
    Ok(page(
        &state,
        &operator,
        Some((&t, "")),
        "Dashboard",
        &scripts,
        body,
    ))
}

fn card(id: &str, label: &str, figure: &str) -> Markup {
    html! {
        div.card data-figure=(id) {
            span.figure { (figure) }
            span.label { (label) }
        }
    }
}

#[derive(Deserialize)]
struct AccountsQuery {
    q: Option<String>,
    low: Option<String>,
}

async fn accounts(
    state: web::Data<ConsoleState>,
    operator: Operator,
    path: web::Path<String>,
    query: web::Query<AccountsQuery>,
) -> Result<HttpResponse> {
    let t = state.tenant(&path)?.clone();
    let q = query.q.clone().unwrap_or_default().trim().to_string();
    if q.len() > 256 {
        return Err(ConsoleError::BadRequest("q: at most 256 bytes".into()));
    }
    let low = match (query.low.as_deref(), t.dialect.low_balance_threshold()) {
        (Some("1"), Some(threshold)) => Some(threshold),
        _ => None,
    };
    let (tenant, search) = (t.id().clone(), q.clone());
    let found = state
        .ledger
        .read(move |r| r.find_accounts(&tenant, &search, low, 200))
        .await?;
    let body = html! {
        form.stack role="search" method="get" action=(t.path("/accounts")) {
            label for="q" { "Account holder contains" }
            input id="q" name="q" type="search" value=(q);
            @if low.is_some() {
                label { input type="checkbox" name="low" value="1" checked; " only accounts below the low-balance threshold" }
            }
            button type="submit" { "Search" }
        }
        p.muted { (found.len()) " accounts shown (at most 200)." }
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Holder" } th.num scope="col" { "Available" }
                th.num scope="col" { "Held" } th.num scope="col" { "Pending" } th scope="col" { "Last change" }
            } }
            tbody { @for a in &found {
                tr {
                    td { a href=(t.account_path(&a.holder)) { (a.holder) } }
                    td.num { (t.amount(a.available)) } td.num { (t.amount(a.held)) }
                    td.num { (t.amount(a.pending)) } td { (a.updated_at) }
                }
            } }
        } }
    };
    Ok(page(
        &state,
        &operator,
        Some((&t, "/accounts")),
        "Accounts",
        &[],
        body,
    ))
}

#[derive(Deserialize)]
struct AccountQuery {
    holder: String,
    offset: Option<u64>,
}

async fn account(
    state: web::Data<ConsoleState>,
    operator: Operator,
    path: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse> {
    let t = state.tenant(&path)?.clone();
    let holder = query.holder.clone();
    let offset = query.offset.unwrap_or(0);
    let tenant = t.clone();
    let token = operator.csrf.clone();
    let found = state
        .ledger
        .read(move |r| {
            // The balances, the page and its total agree.
            r.in_snapshot(|r| {
                let Some(a) = r.account(tenant.id(), &holder)? else {
                    return Ok::<_, LedgerError>(None);
                };
                let entries = r.entries(a.id, Bucket::Available, PAGE_ROWS, offset)?;
                let total = r.entry_count(a.id, Bucket::Available)?;
                let panel = tenant.dialect.account(r, &tenant, &a, &token)?;
                Ok(Some((a, entries, total, panel)))
            })
        })
        .await?;
    let Some((a, entries, total, panel)) = found else {
        return Err(ConsoleError::NotFound(format!(
            "No account {:?} in tenant {}.",
            query.holder,
            t.id()
        )));
    };
    let link = t.account_path(&a.holder);
    let body = html! {
        p { "Holder: " code { (a.holder) } }
        div.cards {
            (card("available", "Available", &t.amount(a.available)))
            (card("held", "Held", &t.amount(a.held)))
            (card("pending", "Pending", &t.amount(a.pending)))
        }
        p.muted { "Opened " (a.created_at) "; last change " (a.updated_at) "." }
        (panel)
        h2 { "Entries" }
        (entries_table(&t, &entries))
        (pager(offset, PAGE_ROWS, total, |o| format!("{link}&offset={o}")))
    };
    Ok(page(
        &state,
        &operator,
        Some((&t, "/accounts")),
        "Account",
        &[],
        body,
    ))
}

fn entries_table(t: &ConsoleTenant, entries: &[EntryView]) -> Markup {
    html! {
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "When (UTC)" } th scope="col" { "Kind" } th.num scope="col" { "Amount" }
                th.num scope="col" { "Balance" } th scope="col" { "Reference" } th scope="col" { "Note" } th scope="col" { "Actor" }
            } }
            tbody { @for e in entries {
                tr data-entry=(e.id) {
                    td { (e.created_at) } td { (e.kind) }
                    td.num { @if e.amount > 0 { "+" } (t.amount(e.amount)) }
                    td.num { (t.amount(e.balance_after)) }
                    td { (e.ref_type.as_deref().unwrap_or("")) @if e.ref_id.is_some() { " " } (e.ref_id.as_deref().unwrap_or("")) }
                    td { (e.note.as_deref().unwrap_or("")) } td { (e.actor) }
                }
            } }
        } }
    }
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    status: Option<String>,
    offset: Option<u64>,
}

async fn deliveries_page(
    state: web::Data<ConsoleState>,
    operator: Operator,
    path: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse> {
    let t = state.tenant(&path)?.clone();
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ConsoleError::BadRequest("status: must be pending, delivered or dead".into())
        })?),
    };
    let offset = query.offset.unwrap_or(0);
    let tenant = t.id().clone();
    let (rows, total): (Vec<DeliveryView>, u64) = state
        .ledger
        .read(move |r| {
            // The page and its total agree.
            r.in_snapshot(|r| {
                Ok::<_, LedgerError>((
                    deliveries::list_deliveries(r, Some(&tenant), status, PAGE_ROWS, offset)?,
                    deliveries::count_deliveries(r, Some(&tenant), status)?,
                ))
            })
        })
        .await?;
    let filter = status.map_or("", Status::as_str);
    let body = html! {
        nav aria-label="Filter by status" { ul.tabs {
            @for (label, value) in [("All", ""), ("Dead letters", "dead"), ("Pending", "pending"), ("Delivered", "delivered")] {
                li { a href={(t.path("/deliveries")) "?status=" (value)} aria-current=[(value == filter).then_some("page")] { (label) } }
            }
        } }
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Event" } th scope="col" { "Type" } th scope="col" { "Status" }
                th.num scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { "Written" } th scope="col" { "Action" }
            } }
            tbody { @for d in &rows {
                tr data-delivery=(d.id) {
                    td { code { (d.webhook_id) } } td { (d.event_type) } td { (d.status.as_str()) }
                    td.num { (d.attempts) }
                    td { (d.last_error.as_deref().unwrap_or("")) }
                    td { (d.created_at) }
                    td { @if d.status != Status::Pending {
                        form.inline method="post" action=(t.path(&format!("/deliveries/{}/replay", d.id))) {
                            (csrf(&operator.csrf))
                            button type="submit" aria-label={"Replay " (d.webhook_id)} { "Replay" }
                        }
                    } }
                }
            } }
        } }
        (pager(offset, PAGE_ROWS, total, |o| format!("{}?status={filter}&offset={o}", t.path("/deliveries"))))
    };
    Ok(page(
        &state,
        &operator,
        Some((&t, "/deliveries")),
        "Webhook deliveries",
        &[],
        body,
    ))
}

async fn replay(
    state: web::Data<ConsoleState>,
    path: web::Path<(String, i64)>,
    posted: Posted<NoFields>,
) -> Result<HttpResponse> {
    let (tenant, id) = path.into_inner();
    let t = state.tenant(&tenant)?.clone();
    let outcome = match deliveries::replay_now(&state.ledger, id, Some(t.id().clone())).await {
        Ok(view) => Ok(format!(
            "{} is pending again: it will be sent now.",
            view.webhook_id
        )),
        Err(deliveries::ReplayError::Ledger(e)) => Err(Refusal::Fail(e.into())),
        Err(e) => Err(Refusal::Notice(e.to_string())),
    };
    let back = format!("{}?status=dead", t.path("/deliveries"));
    posted.settle(outcome, &back, &back)
}

#[derive(Deserialize)]
struct PaymentsQuery {
    unrecovered: Option<String>,
    before: Option<i64>,
}

async fn payments(
    state: web::Data<ConsoleState>,
    operator: Operator,
    path: web::Path<String>,
    query: web::Query<PaymentsQuery>,
) -> Result<HttpResponse> {
    let t = state.tenant(&path)?.clone();
    let unrecovered = query.unrecovered.as_deref() == Some("1");
    let filter = PaymentFilter {
        tenant: Some(t.id().clone()),
        provider: None,
        unrecovered,
        before: query.before,
        limit: PAGE_ROWS,
    };
    let rows: Vec<PaymentView> = state
        .ledger
        .read(move |r| payments_admin::list(r, filter))
        .await?;
    let body = html! {
        nav aria-label="Filter payments" { ul.tabs {
            li { a href=(t.path("/payments")) aria-current=[(!unrecovered).then_some("page")] { "All" } }
            li { a href={(t.path("/payments")) "?unrecovered=1"} aria-current=[unrecovered.then_some("page")] { "Unrecovered claw-backs" } }
        } }
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Provider" } th scope="col" { "Account" } th scope="col" { "Package" }
                th.num scope="col" { "Credits" } th.num scope="col" { "Paid" } th scope="col" { "Status" }
                th.num scope="col" { "Clawed back" } th.num scope="col" { "Unrecovered" } th scope="col" { "When" }
            } }
            tbody { @for p in &rows {
                tr data-payment=(p.id) {
                    td { (p.provider) } td { a href=(t.account_path(&p.account)) { (p.account) } }
                    td { (p.package) } td.num { (t.amount(p.credits)) }
                    td.num { (crate::web::html::money(p.amount, &p.currency)) }
                    td { (p.status) } td.num { (t.amount(p.clawed_back)) } td.num { (t.amount(p.shortfall)) }
                    td { (p.created_at) }
                }
            } }
        } }
        @if let Some(last) = rows.last().filter(|_| rows.len() == PAGE_ROWS as usize) {
            p { a href={(t.path("/payments")) "?before=" (last.id) @if unrecovered { "&unrecovered=1" }} { "Older →" } }
        }
    };
    Ok(page(
        &state,
        &operator,
        Some((&t, "/payments")),
        "Payments",
        &[],
        body,
    ))
}
