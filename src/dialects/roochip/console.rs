//! The Roochip tenants' part of the operator console ([`crate::console`]):
//!
//! - `GET /admin/t/{tenant}/roochip/codes`: the pending promo code requests, each with
//!   a generate and a reject form (`POST …/roochip/codes/generate`,
//!   `POST …/roochip/codes/{id}/reject`); a generated code is shown once, on the next
//!   page, and is stored only as its digest;
//! - on the account page: a grant form (`POST …/roochip/grant`, ROO with at most 2
//!   decimals).
//!
//! The writes are the units of work of the admin API ([`ops::generate_code`],
//! [`ops::reject_request`], [`ops::grant`]) with actor `admin` (the node operator),
//! as `admin grant` on the command line writes them, webhook events included.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::caller::WalletContext;
use super::{ops, routes, settings, RoochipError, RoochipState, RoochipTenant};
use crate::console::layout::{csrf, page};
use crate::console::{
    ConsoleDialect, ConsoleError, ConsoleState, ConsoleTenant, Operator, Posted, Refusal, BASE,
};
use crate::ledger::{AccountView, Actor, Amount, LedgerError, LedgerRead};

/// Pending requests shown at once.
pub const SHOWN: u32 = 200;

/// What Roochip adds to the console.
pub struct RoochipConsole;

impl ConsoleDialect for RoochipConsole {
    fn sections(&self) -> Vec<(&'static str, &'static str)> {
        vec![("Code requests", "/roochip/codes")]
    }

    fn account(
        &self,
        _r: &mut LedgerRead<'_>,
        t: &ConsoleTenant,
        a: &AccountView,
        token: &str,
    ) -> Result<Markup, LedgerError> {
        Ok(html! {
            section aria-labelledby="grant" {
                h2 id="grant" { "Grant ROO" }
                form.stack method="post" action=(t.path("/roochip/grant")) {
                    (csrf(token))
                    input type="hidden" name="user" value=(a.holder);
                    label for="grant-amount" { "ROO (at most 2 decimals)" }
                    input id="grant-amount" name="amount" type="text" inputmode="decimal" required placeholder="5.00";
                    label for="grant-reason" { "Reason" }
                    input id="grant-reason" name="reason" type="text" value="admin_grant" maxlength="200" required;
                    button type="submit" { "Grant" }
                }
            }
        })
    }
}

/// Mounts the Roochip console routes; `roochip` is the dialect's state.
pub fn mount(cfg: &mut web::ServiceConfig, roochip: &web::Data<RoochipState>) {
    let at = |p: &str| format!("{BASE}/t/{{tenant}}/roochip{p}");
    cfg.service(
        web::resource(at("/codes"))
            .app_data(roochip.clone())
            .route(web::get().to(codes)),
    )
    .service(
        web::resource(at("/codes/generate"))
            .app_data(roochip.clone())
            .route(web::post().to(generate)),
    )
    .service(
        web::resource(at("/codes/{id}/reject"))
            .app_data(roochip.clone())
            .route(web::post().to(reject)),
    )
    .service(
        web::resource(at("/grant"))
            .app_data(roochip.clone())
            .route(web::post().to(grant)),
    );
}

fn tenant<'a>(
    console: &ConsoleState,
    roochip: &'a RoochipState,
    id: &str,
) -> Result<(ConsoleTenant, &'a RoochipTenant), ConsoleError> {
    let t = console.tenant(id)?.clone();
    let settings =
        roochip.tenants.iter().find(|r| r.id == id).ok_or_else(|| {
            ConsoleError::NotFound(format!("Tenant {id} is not a Roochip tenant."))
        })?;
    Ok((t, settings))
}

/// The operator's wallet context in tenant `t`: actor `admin`, webhook events when the
/// tenant has a `webhook_url`.
fn wallet(t: &ConsoleTenant, settings: &RoochipTenant) -> WalletContext {
    WalletContext {
        tenant: t.id().clone(),
        webhooks: settings.webhooks(),
        actor: Actor::Admin,
    }
}

impl From<RoochipError> for Refusal {
    fn from(e: RoochipError) -> Refusal {
        match e {
            RoochipError::StorageFull(s) => Refusal::Fail(ConsoleError::StorageFull(s)),
            RoochipError::Internal(m) => Refusal::Fail(ConsoleError::Internal(m)),
            other => Refusal::Notice(other.to_string()),
        }
    }
}

async fn codes(
    console: web::Data<ConsoleState>,
    roochip: web::Data<RoochipState>,
    operator: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (t, _) = tenant(&console, &roochip, &path)?;
    let id = t.id().clone();
    let (count, requests) = console
        .ledger
        .read(move |r| ops::code_requests(r, &id, Some("pending"), SHOWN, 0))
        .await?;
    let body = html! {
        p.muted { (count) " pending requests" @if count > u64::from(SHOWN) { " (the oldest " (SHOWN) " shown)" } "." }
        div.table-wrap tabindex="0" { table {
            thead { tr { th scope="col" { "User" } th scope="col" { "Requested" } th scope="col" { "Actions" } } }
            tbody { @for q in &requests {
                tr data-request=(q.id) {
                    td { (q.external_user_id) } td { (q.created_at) }
                    td {
                        form.inline method="post" action=(t.path("/roochip/codes/generate")) {
                            (csrf(&operator.csrf))
                            input type="hidden" name="user" value=(q.external_user_id);
                            button type="submit" aria-label={"Generate a code for " (q.external_user_id)} { "Generate code" }
                        }
                        " "
                        form.inline method="post" action=(t.path(&format!("/roochip/codes/{}/reject", q.id))) {
                            (csrf(&operator.csrf))
                            button.secondary type="submit" aria-label={"Reject the request of " (q.external_user_id)} { "Reject" }
                        }
                    }
                }
            } }
        } }
    };
    Ok(page(
        &console,
        &operator,
        Some((&t, "/roochip/codes")),
        "Promo code requests",
        &[],
        body,
    ))
}

#[derive(Deserialize)]
struct UserForm {
    user: String,
}

async fn generate(
    console: web::Data<ConsoleState>,
    roochip: web::Data<RoochipState>,
    path: web::Path<String>,
    posted: Posted<UserForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (t, s) = tenant(&console, &roochip, &path)?;
    let w = wallet(&t, s);
    let credits = settings::promo_code_credits(s).map_err(ConsoleError::Internal)?;
    let result = match routes::external_user_id(&posted.form.user) {
        Ok(user) => {
            console
                .ledger
                .run(move |tx| ops::generate_code(tx, &w, &user, credits).map(|c| (c, user)))
                .await
        }
        Err(e) => Err(e),
    };
    let outcome = result.map_err(Refusal::from).map(|(code, user)| {
        tracing::info!(tenant = %t.id(), "promo code generated from the console");
        format!(
            "Code for {user}: {code} (worth {} ROO). It is shown only now; share it with the user.",
            t.amount(credits.minor())
        )
    });
    let back = t.path("/roochip/codes");
    posted.settle(outcome, &back, &back)
}

async fn reject(
    console: web::Data<ConsoleState>,
    roochip: web::Data<RoochipState>,
    path: web::Path<(String, String)>,
    posted: Posted<crate::console::pages::NoFields>,
) -> Result<HttpResponse, ConsoleError> {
    let (tenant_id, id) = path.into_inner();
    let (t, s) = tenant(&console, &roochip, &tenant_id)?;
    let w = wallet(&t, s);
    let result = if id.len() > 64 {
        Err(RoochipError::NotFound("Code request not found.".into()))
    } else {
        console
            .ledger
            .run(move |tx| ops::reject_request(tx, &w, &id))
            .await
    };
    let outcome = result
        .map_err(Refusal::from)
        .map(|r| format!("Rejected the request of {}.", r.external_user_id));
    let back = t.path("/roochip/codes");
    posted.settle(outcome, &back, &back)
}

#[derive(Deserialize)]
struct GrantForm {
    user: String,
    amount: String,
    reason: String,
}

async fn grant(
    console: web::Data<ConsoleState>,
    roochip: web::Data<RoochipState>,
    path: web::Path<String>,
    posted: Posted<GrantForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (t, s) = tenant(&console, &roochip, &path)?;
    let w = wallet(&t, s);
    let f = &posted.form;
    let checked = (|| {
        let user = routes::external_user_id(&f.user)?;
        let amount = Amount::parse_decimal(f.amount.trim(), settings::SCALE, settings::CEILING)
            .map_err(|e| RoochipError::BadRequest(format!("amount: {e}")))?;
        let reason = f.reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > routes::MAX_TEXT {
            return Err(RoochipError::BadRequest(format!(
                "reason: 1 to {} characters",
                routes::MAX_TEXT
            )));
        }
        Ok((
            user,
            ops::Movement {
                amount,
                reason,
                reference_id: None,
            },
        ))
    })();
    let result = match checked {
        Ok((user, movement)) => {
            let minor = movement.amount.minor();
            console
                .ledger
                .run(move |tx| ops::grant(tx, &w, &user, &movement).map(|b| (minor, b)))
                .await
        }
        Err(e) => Err(e),
    };
    let outcome = result.map_err(Refusal::from).map(|(minor, balance)| {
        tracing::info!(tenant = %t.id(), "ROO granted from the console");
        format!(
            "Granted {} ROO: the balance is now {}.",
            t.amount(minor),
            t.amount(balance)
        )
    });
    posted.settle_account(&t, &f.user, outcome)
}
