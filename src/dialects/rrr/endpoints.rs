//! A client's webhook endpoints (contract §13.1): registered with `POST /v1/webhooks`,
//! listed, deleted. Each is a row of the shared `webhook_endpoints` (id
//! `rrr:<client_id>:<webhook_id>`) wanting the client's routing types (see
//! [`webhook`](super::webhook)); the shared dispatcher delivers to it. The secret is
//! shown once, in the 201 answer (a replay of the request answers without it); it is
//! kept to sign, and never logged.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Client;
use super::error::RrrError;
use super::ops;
use super::webhook::{routing_type, EVENT_TYPES};
use crate::ledger::{LedgerRead, LedgerTx, StoredResponse};
use crate::secret::Secret;
use crate::webhooks::deliveries::{EndpointReads, EndpointRow, WebhookEndpoints};

type Result<T> = std::result::Result<T, RrrError>;

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where to deliver (`http://` or `https://`).
    pub url: String,
    /// Event types (contract §13.2).
    pub events: Vec<String>,
}

/// A registered webhook, with its secret (shown once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    /// UUID.
    pub webhook_id: String,
    /// Where events go.
    pub url: String,
    /// Event types.
    pub events: Vec<String>,
    /// The HMAC key of `X-RRR-Signature` (its UTF-8 bytes); `null` in a replay.
    pub secret: Option<String>,
    /// Whether events go there.
    pub active: bool,
}

/// A webhook as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// UUID.
    pub webhook_id: String,
    /// Where events go.
    pub url: String,
    /// Event types.
    pub events: Vec<String>,
    /// Whether events go there.
    pub active: bool,
}

/// A deleted webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeleted {
    /// UUID.
    pub webhook_id: String,
    /// `true`.
    pub deleted: bool,
}

fn prefix(c: &Client) -> String {
    format!("rrr:{}:", c.client_id)
}

/// Checks a registration: the URL and the event types (deduplicated, in order).
///
/// # Errors
/// 422 naming `url` or `events`.
pub fn check(r: &WebhookRequest) -> Result<(String, Vec<String>)> {
    let url = r.url.trim();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RrrError::field(
            "url",
            "must be an http:// or https:// URL of at most 2048 characters",
        ));
    }
    let mut events: Vec<String> = Vec::new();
    for e in &r.events {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(RrrError::field(
                "events",
                format!("{e:?} is not one of {}", EVENT_TYPES.join(", ")),
            ));
        }
        if !events.contains(e) {
            events.push(e.clone());
        }
    }
    if events.is_empty() {
        return Err(RrrError::field(
            "events",
            "must name at least one event type",
        ));
    }
    Ok((url.to_string(), events))
}

/// Registers a webhook (201).
///
/// # Errors
/// Storage errors.
pub fn create(
    tx: &mut LedgerTx<'_>,
    c: &Client,
    url: &str,
    events: &[String],
) -> Result<StoredResponse> {
    let id = ops::new_uuid();
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let now = tx.now().to_string();
    tx.repo::<dyn WebhookEndpoints>()?.upsert_endpoint(
        &EndpointRow {
            id: format!("{}{id}", prefix(c)),
            tenant: c.tenant.id.to_string(),
            url: url.to_string(),
            secret: Secret::new(secret.clone()),
            events: events
                .iter()
                .map(|e| routing_type(&c.client_id, e))
                .collect(),
            active: true,
        },
        &now,
    )?;
    tracing::info!(client = %c.client_id, trace = %c.trace, webhook = %id, "webhook registered");
    ops::answer(
        201,
        &WebhookCreated {
            webhook_id: id,
            url: url.to_string(),
            events: events.to_vec(),
            secret: Some(secret),
            active: true,
        },
    )
}

/// The answer to store for a replay: the same, without the secret.
///
/// # Errors
/// Never, in practice (the body is ours).
pub fn without_secret(r: &StoredResponse) -> Result<StoredResponse> {
    let mut created: WebhookCreated =
        serde_json::from_str(&r.body).map_err(|e| RrrError::Internal(e.to_string()))?;
    created.secret = None;
    ops::answer(r.status, &created)
}

/// The client's webhooks.
///
/// # Errors
/// Storage errors.
pub fn list(r: &mut LedgerRead<'_>, c: &Client) -> Result<Vec<WebhookView>> {
    let prefix = prefix(c);
    let strip = format!("{}:", c.client_id);
    Ok(r.repo::<dyn EndpointReads>()?
        .endpoints()?
        .into_iter()
        .filter_map(|(e, _)| {
            let id = e.id.strip_prefix(&prefix)?.to_string();
            (e.tenant == c.tenant.id.as_str()).then(|| WebhookView {
                webhook_id: id,
                url: e.url,
                events: e
                    .events
                    .iter()
                    .map(|t| t.strip_prefix(&strip).unwrap_or(t).to_string())
                    .collect(),
                active: e.active,
            })
        })
        .collect())
}

/// Deletes a webhook.
///
/// # Errors
/// 404 when the client has no such webhook.
pub fn delete(tx: &mut LedgerTx<'_>, c: &Client, id: &str) -> Result<StoredResponse> {
    let existed = tx
        .repo::<dyn WebhookEndpoints>()?
        .delete_endpoint(&c.tenant.id, &format!("{}{id}", prefix(c)))?;
    if !existed {
        return Err(RrrError::NotFound(format!("webhook {id} not found")));
    }
    ops::answer(
        200,
        &WebhookDeleted {
            webhook_id: id.to_string(),
            deleted: true,
        },
    )
}
