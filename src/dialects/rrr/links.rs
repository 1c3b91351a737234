//! Linking a client's user to a member (contract §3.3, §6).
//!
//! A link intent (15 minutes) carries a short `rrr_link_code`. The confirmation
//! proves control with one of:
//!
//! - `SIGNED_JWT`: an HS256 JWT signed with the client's `link_jwt_secret`, whose
//!   claims bind `sub` = the client's user id, `intent_id` = the intent, and an `exp`.
//!   It proves the client vouches for its user, with a key only the client holds.
//! - `EMAIL_OTP`: the intent's `rrr_link_code` sent back as the assertion (compared in
//!   constant time). The code round-trip proves only the client's side: the client
//!   received the code and returned it; whether the user saw it is up to the client.
//! - `SSO_ASSERTION`: refused (422) until a tenant configures an OIDC issuer.
//!
//! Five wrong proofs burn the intent. Members come into being at their first confirmed
//! link: a proposed `rrr_member_id` unknown in the tenant is created with that id, no
//! id mints one, a member of this client without an active link is linked, a member
//! of another client is 404. Links are one-to-one both ways (409); confirming the same
//! pair again answers the original result. `LINK_UPDATED` on each change.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::caller::Client;
use super::error::RrrError;
use super::ops::{self, Business};
use super::repo::{IntentRow, IntentStatus, LinkRow, MemberRow, NewLink, RrrStore};
use super::time;
use super::wire::{LinkConfirmRequest, LinkIntentResponse};
use crate::ledger::idempotency::Answer;
use crate::ledger::{Idempotency, LedgerTx, StoredResponse};

type Result<T> = std::result::Result<T, RrrError>;

/// Creates a link intent (201).
///
/// # Errors
/// Storage errors.
pub fn intent(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    client_user_id: &str,
    link_type: &str,
) -> Result<StoredResponse> {
    let now = tx.now().to_string();
    let code = ops::link_code();
    let row = IntentRow {
        id: ops::new_uuid(),
        client_id: c.client_id.clone(),
        client_user_id: client_user_id.to_string(),
        link_type: link_type.to_string(),
        code_sha256: crate::secret::sha256_hex(&code),
        failures: 0,
        status: IntentStatus::Open,
        expires_at: time::plus_secs(&now, ops::INTENT_TTL_SECS),
    };
    tx.repo::<dyn RrrStore>()?
        .insert_intent(&c.tenant.id, &row, &now)?;
    ops::answer(
        201,
        &LinkIntentResponse {
            intent_id: row.id,
            expires_at: time::wire(&row.expires_at),
            rrr_link_code: code,
        },
    )
}

#[derive(Deserialize)]
struct LinkClaims {
    sub: String,
    intent_id: String,
}

/// Whether `proof` proves control of `intent`.
///
/// # Errors
/// 422 for a method this tenant cannot check.
fn proven(c: &Client, intent: &IntentRow, r: &LinkConfirmRequest) -> Result<bool> {
    let assertion = r.proof.assertion.trim();
    match r.proof.method.trim() {
        "EMAIL_OTP" => {
            let given = crate::secret::sha256_hex(&assertion.to_ascii_uppercase());
            Ok(bool::from(
                given.as_bytes().ct_eq(intent.code_sha256.as_bytes()),
            ))
        }
        "SIGNED_JWT" => {
            let secret = c
                .tenant
                .settings
                .clients
                .iter()
                .find(|k| k.client_id == c.client_id)
                .and_then(|k| k.link_jwt_secret.as_ref())
                .ok_or_else(|| {
                    RrrError::field(
                        "proof.method",
                        "SIGNED_JWT needs the client's link_jwt_secret, which is not configured",
                    )
                })?;
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp", "sub"]);
            Ok(jsonwebtoken::decode::<LinkClaims>(
                assertion,
                &DecodingKey::from_secret(secret.expose().as_bytes()),
                &validation,
            )
            .is_ok_and(|t| t.claims.sub == r.client_user_id && t.claims.intent_id == intent.id))
        }
        "SSO_ASSERTION" => Err(RrrError::field(
            "proof.method",
            "SSO_ASSERTION needs an OIDC issuer, which this tenant does not configure",
        )),
        _ => Err(RrrError::field(
            "proof.method",
            "must be SIGNED_JWT, EMAIL_OTP or SSO_ASSERTION",
        )),
    }
}

/// Confirms a link. The outer error undoes the unit; the inner one is an answer whose
/// effect stays (a wrong proof counts against the intent).
///
/// # Errors
/// See the module documentation: 403 for a wrong proof, 404, 409, 422.
pub fn confirm(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    idempotency: &Idempotency,
    r: &LinkConfirmRequest,
) -> Result<std::result::Result<Answer, RrrError>> {
    let intent_id = ops::uuid_field("intent_id", &r.intent_id)?;
    // What the confirmation asks, without the proof itself: a retry with a freshly
    // signed proof of the same pair answers the original result.
    let business = Business {
        kind: "link-confirm",
        key: intent_id.clone(),
        fingerprint: crate::ledger::idempotency::fingerprint(&[
            intent_id.as_bytes(),
            r.client_user_id.as_bytes(),
            r.rrr_member_id.as_deref().unwrap_or_default().as_bytes(),
            r.proof.method.trim().as_bytes(),
        ]),
    };
    if let Some(response) = tx.idempotency_lookup(
        &idempotency.scope,
        &idempotency.key,
        &idempotency.fingerprint,
    )? {
        return Ok(Ok(Answer {
            response,
            replayed: true,
        }));
    }
    if ops::business_replay(tx, c, &business)?.is_none() {
        let intent = tx
            .repo::<dyn RrrStore>()?
            .intent(&c.tenant.id, &intent_id)?
            .filter(|i| i.client_id == c.client_id)
            .ok_or_else(|| RrrError::NotFound(format!("link intent {intent_id} not found")))?;
        match intent.status {
            IntentStatus::Open if intent.expires_at.as_str() > tx.now() => {}
            IntentStatus::Open => {
                return Err(RrrError::Conflict(format!(
                    "link intent {intent_id} expired: create a new one"
                )))
            }
            IntentStatus::Used => {
                return Err(RrrError::Conflict(format!(
                    "link intent {intent_id} was already confirmed with another request"
                )))
            }
            IntentStatus::Burned => {
                return Err(RrrError::Conflict(format!(
                    "link intent {intent_id} was burned by too many wrong proofs: create a new one"
                )))
            }
        }
        if intent.client_user_id != r.client_user_id {
            return Err(RrrError::field(
                "client_user_id",
                "is not the user of this link intent",
            ));
        }
        if !proven(c, &intent, r)? {
            let failures = intent.failures + 1;
            let burned = failures >= ops::MAX_PROOF_FAILURES;
            let status = if burned {
                IntentStatus::Burned
            } else {
                IntentStatus::Open
            };
            tx.repo::<dyn RrrStore>()?
                .set_intent(&intent.id, status, failures)?;
            return Ok(Err(RrrError::Unauthorized(if burned {
                "the link proof was not accepted; the intent is burned after 5 wrong proofs".into()
            } else {
                format!(
                    "the link proof was not accepted ({} tries left)",
                    ops::MAX_PROOF_FAILURES - failures
                )
            })));
        }
    }
    ops::once(tx, c, idempotency, Some(business), |tx| {
        link(tx, c, &intent_id, r)
    })
    .map(Ok)
}

/// The link of a proven intent.
fn link(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    intent_id: &str,
    r: &LinkConfirmRequest,
) -> Result<StoredResponse> {
    let tenant = &c.tenant.id;
    let intent = tx
        .repo::<dyn RrrStore>()?
        .intent(tenant, intent_id)?
        .ok_or_else(|| RrrError::NotFound(format!("link intent {intent_id} not found")))?;
    let proposed = r
        .rrr_member_id
        .as_deref()
        .map(|m| ops::uuid_field("rrr_member_id", m))
        .transpose()?;
    let store = tx.repo::<dyn RrrStore>()?;
    if let Some(existing) = store.link_of_user(tenant, &c.client_id, &r.client_user_id)? {
        if proposed.as_ref().is_none_or(|m| *m == existing.member_id)
            && existing.link_type == intent.link_type
        {
            store.set_intent(&intent.id, IntentStatus::Used, intent.failures)?;
            return ops::answer(200, &ops::link_answer(&existing, "ACTIVE", None));
        }
        return Err(RrrError::Conflict(
            "the client's user is already linked to another member: revoke that link first".into(),
        ));
    }
    let member_id = proposed.unwrap_or_else(ops::new_uuid);
    let member = match store.member(tenant, &member_id)? {
        Some(m) if m.client_id != c.client_id => {
            return Err(RrrError::NotFound(format!("member {member_id} not found")))
        }
        Some(m) => {
            if store.link_of_member(tenant, &member_id)?.is_some() {
                return Err(RrrError::Conflict(format!(
                    "member {member_id} is already linked to another user"
                )));
            }
            m
        }
        None => {
            let account = tx.open_account(tenant, &member_id)?;
            let m = MemberRow {
                member_id: member_id.clone(),
                client_id: c.client_id.clone(),
                account,
                lifetime_spend_minor: 0,
                cohort: None,
            };
            let now = tx.now().to_string();
            tx.repo::<dyn RrrStore>()?.insert_member(tenant, &m, &now)?;
            m
        }
    };
    let now = tx.now().to_string();
    let method = r.proof.method.trim().to_string();
    let store = tx.repo::<dyn RrrStore>()?;
    store.insert_link(
        tenant,
        &NewLink {
            client_id: &c.client_id,
            client_user_id: &r.client_user_id,
            member_id: &member.member_id,
            link_type: &intent.link_type,
            proof_method: &method,
            intent_id: &intent.id,
        },
        &now,
    )?;
    store.set_intent(&intent.id, IntentStatus::Used, intent.failures)?;
    let link = LinkRow {
        id: 0,
        client_id: c.client_id.clone(),
        client_user_id: r.client_user_id.clone(),
        member_id: member.member_id.clone(),
        link_type: intent.link_type.clone(),
        proof_method: method,
        linked_at: now,
    };
    ops::link_event(tx, c, Some(member.account), &link, "ACTIVE")?;
    tracing::info!(client = %c.client_id, trace = %c.trace, user = %crate::redact::tag(&r.client_user_id), "link confirmed");
    ops::answer(200, &ops::link_answer(&link, "ACTIVE", None))
}

/// Ends the active link of a client's user.
///
/// # Errors
/// 404 when the user has none.
pub fn revoke(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    client_user_id: &str,
    reason: &str,
) -> Result<StoredResponse> {
    let now = tx.now().to_string();
    let store = tx.repo::<dyn RrrStore>()?;
    let link = store
        .link_of_user(&c.tenant.id, &c.client_id, client_user_id)?
        .ok_or_else(|| RrrError::NotFound("the client's user has no active link".into()))?;
    store.revoke_link(link.id, reason, &now)?;
    let member = store.member(&c.tenant.id, &link.member_id)?;
    ops::link_event(tx, c, member.map(|m| m.account), &link, "REVOKED")?;
    tracing::info!(client = %c.client_id, trace = %c.trace, user = %crate::redact::tag(&client_user_id), "link revoked");
    ops::answer(200, &ops::link_answer(&link, "REVOKED", Some(&now)))
}
