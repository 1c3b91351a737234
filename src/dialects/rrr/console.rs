//! The RedRoomRewards tenant's part of the operator console ([`crate::console`]):
//! `GET /admin/t/{tenant}/rrr/promotions` lists the promotions awaiting approval with
//! the approvals they have (2 `CLIENT_ADMIN` and 1 `RRR_ADMIN` are needed, contract
//! §9.3), and `POST …/rrr/promotions/{id}/approve` records the operator's `RRR_ADMIN`
//! approval through [`promotions::approve`], signature method `CONSOLE`.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::caller::Tenant;
use super::promotions::{self, NEEDED};
use super::repo::RrrReads;
use super::{RrrError, RrrState};
use crate::console::layout::{csrf, page};
use crate::console::{
    ConsoleDialect, ConsoleError, ConsoleState, ConsoleTenant, Operator, Posted, Refusal, BASE,
};
use crate::ledger::LedgerError;

/// What RedRoomRewards adds to the console.
pub struct RrrConsole;

impl ConsoleDialect for RrrConsole {
    fn sections(&self) -> Vec<(&'static str, &'static str)> {
        vec![("Promotions to approve", "/rrr/promotions")]
    }
}

/// Mounts the RRR console routes; `rrr` is the dialect's state.
pub fn mount(cfg: &mut web::ServiceConfig, rrr: web::Data<RrrState>) {
    cfg.service(
        web::resource(format!("{BASE}/t/{{tenant}}/rrr/promotions"))
            .app_data(rrr.clone())
            .route(web::get().to(pending)),
    )
    .service(
        web::resource(format!("{BASE}/t/{{tenant}}/rrr/promotions/{{id}}/approve"))
            .app_data(rrr)
            .route(web::post().to(approve)),
    );
}

fn tenant(
    console: &ConsoleState,
    rrr: &RrrState,
    id: &str,
) -> Result<(ConsoleTenant, Arc<Tenant>), ConsoleError> {
    let t = console.tenant(id)?.clone();
    let inner = rrr.tenants.get(id).cloned().ok_or_else(|| {
        ConsoleError::NotFound(format!("Tenant {id} is not a RedRoomRewards tenant."))
    })?;
    Ok((t, inner))
}

async fn pending(
    console: web::Data<ConsoleState>,
    rrr: web::Data<RrrState>,
    operator: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (t, inner) = tenant(&console, &rrr, &path)?;
    let rows = console
        .ledger
        .read(move |r| {
            let mut all = Vec::new();
            for c in &inner.settings.clients {
                all.extend(r.repo::<dyn RrrReads>()?.promotions(
                    &inner.id,
                    &c.client_id,
                    Some("PENDING_APPROVAL"),
                )?);
            }
            Ok::<_, LedgerError>(all)
        })
        .await?;
    let body = html! {
        @if rows.is_empty() { p.muted { "No promotion awaits approval." } }
        @for (p, approvals) in &rows {
            section.card data-promotion=(p.id) aria-labelledby={"p-" (p.id)} {
                h2 id={"p-" (p.id)} { (p.name) }
                p { "Client " code { (p.client_id) } " · multiplier ×" (crate::ledger::format_minor(p.multiplier_bp, 4))
                    " · " (p.starts_at) " to " (p.ends_at) }
                @if let Some(d) = &p.description { p { (d) } }
                ul {
                    @for (kind, needed) in NEEDED {
                        li { (kind) ": " (approvals.iter().filter(|a| a.actor_type == kind).count()) " of " (needed)
                            @for a in approvals.iter().filter(|a| a.actor_type == kind) { " · " (a.actor_id) } }
                    }
                }
                form.stack method="post" action=(t.path(&format!("/rrr/promotions/{}/approve", p.id))) {
                    (csrf(&operator.csrf))
                    label for={"actor-" (p.id)} { "Your approver id" }
                    input id={"actor-" (p.id)} name="actor_id" type="text" required maxlength="128";
                    button type="submit" { "Approve as RRR admin" }
                }
            }
        }
    };
    Ok(page(
        &console,
        &operator,
        Some((&t, "/rrr/promotions")),
        "Promotions awaiting approval",
        &[],
        body,
    ))
}

#[derive(Deserialize)]
struct ApproveForm {
    actor_id: String,
}

async fn approve(
    console: web::Data<ConsoleState>,
    rrr: web::Data<RrrState>,
    path: web::Path<(String, String)>,
    posted: Posted<ApproveForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (tenant_id, id) = path.into_inner();
    let (t, inner) = tenant(&console, &rrr, &tenant_id)?;
    let actor = posted.form.actor_id.clone();
    let result = async {
        let id = super::ops::uuid_field("promotion_id", &id)?;
        let attestation = format!("rendezvous-credits console approval of {id} by {actor}");
        let (pid, who) = (id.clone(), actor.clone());
        let found = console
            .ledger
            .read(move |r| {
                promotions::operator_approval(r, &inner, &pid, &who, "CONSOLE", attestation)
            })
            .await?;
        let (approver, request) =
            found.ok_or_else(|| RrrError::NotFound(format!("promotion {id} not found")))?;
        let answer = console
            .ledger
            .run(move |tx| promotions::approve(tx, &approver, &id, &request))
            .await?;
        let status = serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["status"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok::<_, RrrError>(status)
    }
    .await;
    let outcome = result
        .map_err(|e| match e {
            RrrError::StorageFull(s) => Refusal::Fail(ConsoleError::StorageFull(s)),
            RrrError::Internal(m) => Refusal::Fail(ConsoleError::Internal(m)),
            other => Refusal::Notice(other.to_string()),
        })
        .map(|status| {
            tracing::info!(status = %status, "promotion approved from the console");
            format!("Approved as RRR admin: the promotion is now {status}.")
        });
    let back = t.path("/rrr/promotions");
    posted.settle(outcome, &back, &back)
}
