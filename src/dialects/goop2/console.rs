//! The Goop2 tenant's part of the operator console ([`crate::console`]):
//!
//! - on the dashboard: the top templates by credits spent, and the campaigns with
//!   their redemptions (promo and referral entries are in the core's table by kind);
//! - on the account page: the peer's owned templates, each with a refund form, and a
//!   grant form;
//! - `GET|POST /admin/t/{tenant}/goop2/campaigns`: the campaigns, and a form to make
//!   one;
//! - `POST /admin/t/{tenant}/goop2/grant` and `…/goop2/refund`.
//!
//! The writes are the units of work of the admin API ([`ops::grant`], [`ops::refund`],
//! [`campaigns::create_campaign`]), so they leave the same entries.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::routes::{check_note, parse_peer_id};
use super::{campaigns, ops, repo::NewCampaign, Goop2Error, Goop2State};
use crate::console::layout::{csrf, page};
use crate::console::{
    ConsoleDialect, ConsoleError, ConsoleState, ConsoleTenant, Operator, Posted, Refusal, BASE,
};
use crate::ledger::{AccountView, Amount, LedgerError, LedgerRead};

/// Templates listed on the dashboard.
pub const TOP_TEMPLATES: u32 = 10;

/// What Goop2 adds to the console.
pub struct Goop2Console {
    /// `goop2.low_balance_threshold`.
    pub low_balance_threshold: i64,
}

impl ConsoleDialect for Goop2Console {
    fn sections(&self) -> Vec<(&'static str, &'static str)> {
        vec![("Campaigns", "/goop2/campaigns")]
    }

    fn low_balance_threshold(&self) -> Option<i64> {
        Some(self.low_balance_threshold)
    }

    fn dashboard(&self, r: &mut LedgerRead<'_>, t: &ConsoleTenant) -> Result<Markup, LedgerError> {
        let top = r.top_debit_refs(t.id(), "purchase", TOP_TEMPLATES)?;
        let all = campaigns::campaigns(r, t.id())?;
        Ok(html! {
            section aria-labelledby="top-templates" {
                h2 id="top-templates" { "Top templates by credits spent" }
                div.table-wrap tabindex="0" { table {
                    thead { tr { th scope="col" { "Template" } th.num scope="col" { "Credits spent" } } }
                    tbody { @for (template, spent) in &top {
                        tr data-template=(template) { td { (template) } td.num { (t.amount(*spent)) } }
                    } }
                } }
            }
            section aria-labelledby="campaign-summary" {
                h2 id="campaign-summary" { "Campaigns" }
                (campaign_table(t, &all))
            }
        })
    }

    fn account(
        &self,
        r: &mut LedgerRead<'_>,
        t: &ConsoleTenant,
        a: &AccountView,
        token: &str,
    ) -> Result<Markup, LedgerError> {
        let owned = ops::owned_templates(r, a.id)?;
        Ok(html! {
            section aria-labelledby="owned" {
                h2 id="owned" { "Owned templates" }
                @if owned.is_empty() { p.muted { "None." } }
                div.table-wrap tabindex="0" { table {
                    thead { tr { th scope="col" { "Template" } th.num scope="col" { "Price paid" } th scope="col" { "Bought" } th scope="col" { "Refund" } } }
                    tbody { @for o in &owned {
                        tr data-owned=(o.template) {
                            td { (o.template) } td.num { (t.amount(o.price_paid)) } td { (o.purchased_at) }
                            td { form.inline method="post" action=(t.path("/goop2/refund")) {
                                (csrf(token))
                                input type="hidden" name="holder" value=(a.holder);
                                input type="hidden" name="template" value=(o.template);
                                button.secondary type="submit" aria-label={"Refund " (o.template)} { "Refund " (t.amount(o.price_paid)) }
                            } }
                        }
                    } }
                } }
            }
            section aria-labelledby="grant" {
                h2 id="grant" { "Grant credits" }
                form.stack method="post" action=(t.path("/goop2/grant")) {
                    (csrf(token))
                    input type="hidden" name="holder" value=(a.holder);
                    label for="grant-amount" { "Credits" }
                    input id="grant-amount" name="amount" type="number" min="1" step="1" required;
                    label for="grant-note" { "Note (shown in the peer's history)" }
                    input id="grant-note" name="note" type="text" maxlength="500";
                    button type="submit" { "Grant" }
                }
            }
        })
    }
}

fn campaign_table(t: &ConsoleTenant, all: &[super::repo::Campaign]) -> Markup {
    html! {
        @if all.is_empty() { p.muted { "No campaigns yet." } }
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Code" } th.num scope="col" { "Credits" } th.num scope="col" { "Redeemed" }
                th scope="col" { "From" } th scope="col" { "Until" } th scope="col" { "Note" }
            } }
            tbody { @for c in all {
                tr data-campaign=(c.code) {
                    td { code { (c.code) } } td.num { (t.amount(c.amount)) }
                    td.num { (c.redeemed) " / " (c.max_redemptions) }
                    td { (c.starts_at) } td { (c.ends_at) } td { (c.note.as_deref().unwrap_or("")) }
                }
            } }
        } }
    }
}

/// Mounts the Goop2 console routes; `goop2` is the dialect's state.
pub fn mount(cfg: &mut web::ServiceConfig, goop2: web::Data<Goop2State>) {
    let at = |p: &str| format!("{BASE}/t/{{tenant}}/goop2{p}");
    cfg.service(
        web::resource(at("/campaigns"))
            .app_data(goop2.clone())
            .route(web::get().to(campaigns_page))
            .route(web::post().to(create_campaign)),
    )
    .service(
        web::resource(at("/grant"))
            .app_data(goop2.clone())
            .route(web::post().to(grant)),
    )
    .service(
        web::resource(at("/refund"))
            .app_data(goop2)
            .route(web::post().to(refund)),
    );
}

/// The console tenant of `goop2` named in the path: 404 for another tenant.
fn tenant(
    console: &ConsoleState,
    goop2: &Goop2State,
    id: &str,
) -> Result<ConsoleTenant, ConsoleError> {
    let t = console.tenant(id)?;
    if t.id() != &goop2.tenant {
        return Err(ConsoleError::NotFound(format!(
            "Tenant {id} is not the Goop2 tenant."
        )));
    }
    Ok(t.clone())
}

impl From<Goop2Error> for Refusal {
    fn from(e: Goop2Error) -> Refusal {
        match e {
            Goop2Error::StorageFull(s) => Refusal::Fail(ConsoleError::StorageFull(s)),
            Goop2Error::Internal(m) => Refusal::Fail(ConsoleError::Internal(m)),
            other => Refusal::Notice(other.to_string()),
        }
    }
}

fn note(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|n| !n.is_empty())
}

async fn campaigns_page(
    console: web::Data<ConsoleState>,
    goop2: web::Data<Goop2State>,
    operator: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let t = tenant(&console, &goop2, &path)?;
    let id = t.id().clone();
    let all = console
        .ledger
        .read(move |r| campaigns::campaigns(r, &id))
        .await?;
    let body = html! {
        (campaign_table(&t, &all))
        h2 id="new-campaign" { "New campaign" }
        form.stack method="post" action=(t.path("/goop2/campaigns")) aria-labelledby="new-campaign" {
            (csrf(&operator.csrf))
            label for="c-code" { "Code (3 to 32 of A–Z, 0–9, - and _)" }
            input id="c-code" name="code" type="text" required minlength="3" maxlength="32" autocomplete="off";
            label for="c-amount" { "Credits per redemption" }
            input id="c-amount" name="amount" type="number" min="1" step="1" required;
            label for="c-max" { "Most redemptions in all" }
            input id="c-max" name="max_redemptions" type="number" min="1" step="1" required;
            label for="c-starts" { "Starts (RFC 3339; empty: now)" }
            input id="c-starts" name="starts_at" type="text" placeholder="2026-12-01T00:00:00Z";
            label for="c-ends" { "Ends (RFC 3339, exclusive)" }
            input id="c-ends" name="ends_at" type="text" required placeholder="2026-12-31T00:00:00Z";
            label for="c-note" { "Note" }
            input id="c-note" name="note" type="text" maxlength="500";
            button type="submit" { "Make the campaign" }
        }
    };
    Ok(page(
        &console,
        &operator,
        Some((&t, "/goop2/campaigns")),
        "Campaigns",
        &[],
        body,
    ))
}

#[derive(Deserialize)]
struct CampaignForm {
    code: String,
    amount: String,
    max_redemptions: String,
    #[serde(default)]
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    note: String,
}

fn whole(field: &str, text: &str) -> Result<i64, Goop2Error> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| Goop2Error::BadRequest(format!("{field}: must be a whole number")))
}

async fn create_campaign(
    console: web::Data<ConsoleState>,
    goop2: web::Data<Goop2State>,
    path: web::Path<String>,
    posted: Posted<CampaignForm>,
) -> Result<HttpResponse, ConsoleError> {
    let t = tenant(&console, &goop2, &path)?;
    let f = &posted.form;
    let id = t.id().clone();
    let made = match (
        whole("amount", &f.amount),
        whole("max_redemptions", &f.max_redemptions),
    ) {
        (Ok(amount), Ok(max_redemptions)) => {
            let campaign = NewCampaign {
                code: f.code.clone(),
                amount,
                starts_at: Some(f.starts_at.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| jiff::Timestamp::now().to_string()),
                ends_at: f.ends_at.trim().to_string(),
                max_redemptions,
                note: note(&f.note),
            };
            console
                .ledger
                .run(move |tx| campaigns::create_campaign(tx, &id, campaign))
                .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let outcome = made.map_err(Refusal::from).map(|c| {
        tracing::info!(code = %c.code, "campaign made from the console");
        format!(
            "Campaign {} made: {} credits, at most {} redemptions.",
            c.code,
            t.amount(c.amount),
            c.max_redemptions
        )
    });
    let back = t.path("/goop2/campaigns");
    posted.settle(outcome, &back, &back)
}

#[derive(Deserialize)]
struct GrantForm {
    holder: String,
    amount: String,
    #[serde(default)]
    note: String,
}

async fn grant(
    console: web::Data<ConsoleState>,
    goop2: web::Data<Goop2State>,
    path: web::Path<String>,
    posted: Posted<GrantForm>,
) -> Result<HttpResponse, ConsoleError> {
    let t = tenant(&console, &goop2, &path)?;
    let f = &posted.form;
    let checked = (|| {
        let amount = Amount::new(whole("amount", &f.amount)?)
            .ok_or_else(|| Goop2Error::BadRequest("amount: must be a whole number > 0".into()))?;
        let note = note(&f.note);
        check_note(&note)?;
        Ok::<_, Goop2Error>((parse_peer_id(&f.holder)?, amount, note))
    })();
    let result = match checked {
        Err(e) => Err(e),
        Ok((peer, amount, note)) => {
            let id = t.id().clone();
            console
                .ledger
                .run(move |tx| ops::grant(tx, &id, &peer, amount, note).map(|b| (amount, b)))
                .await
        }
    };
    let outcome = result.map_err(Refusal::from).map(|(amount, balance)| {
        tracing::info!(credits = amount.minor(), "credits granted from the console");
        format!(
            "Granted {} credits: the balance is now {}.",
            t.amount(amount.minor()),
            t.amount(balance)
        )
    });
    posted.settle_account(&t, &f.holder, outcome)
}

#[derive(Deserialize)]
struct RefundForm {
    holder: String,
    template: String,
    #[serde(default)]
    note: String,
}

async fn refund(
    console: web::Data<ConsoleState>,
    goop2: web::Data<Goop2State>,
    path: web::Path<String>,
    posted: Posted<RefundForm>,
) -> Result<HttpResponse, ConsoleError> {
    let t = tenant(&console, &goop2, &path)?;
    let f = &posted.form;
    let checked = (|| {
        let note = note(&f.note);
        check_note(&note)?;
        Ok::<_, Goop2Error>((parse_peer_id(&f.holder)?, note))
    })();
    let result = match checked {
        Err(e) => Err(e),
        Ok((peer, note)) => {
            let (id, template) = (t.id().clone(), f.template.clone());
            console
                .ledger
                .run(move |tx| ops::refund(tx, &id, &peer, &template, note))
                .await
        }
    };
    let outcome = result.map_err(Refusal::from).map(|(refunded, balance)| {
        tracing::info!(template = %f.template, "template refunded from the console");
        format!(
            "Refunded {} ({} credits): the balance is now {}.",
            f.template,
            t.amount(refunded),
            t.amount(balance)
        )
    });
    posted.settle_account(&t, &f.holder, outcome)
}

/// The Goop2 console of `settings`.
pub fn dialect(low_balance_threshold: i64) -> Arc<dyn ConsoleDialect> {
    Arc::new(Goop2Console {
        low_balance_threshold,
    })
}
