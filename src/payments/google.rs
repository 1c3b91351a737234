//! Google Play in-app purchases: `purchases.products.get` through
//! google-androidpublisher3 with a yup-oauth2 service account, and the
//! acknowledgement Google requires within three days (else it refunds the purchase).
//! The credit's unit leaves the purchase `Pending`; [`Acknowledger`] acknowledges it
//! (every `jobs.interval_ms`, backing off per purchase on failures), so a failed
//! acknowledgement never undoes the credit. Every call to Google times out after
//! [`CALL_TIMEOUT`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use google_androidpublisher3::api::ProductPurchasesAcknowledgeRequest;
use google_androidpublisher3::{hyper_rustls, hyper_util, yup_oauth2, AndroidPublisher};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::repo::{Acknowledgement, Payment, PaymentReads, Payments};
use super::Provider;
use crate::ledger::{Ledger, LedgerError, TenantId};

/// Google's Android Publisher API.
pub const DEFAULT_API_BASE: &str = "https://androidpublisher.googleapis.com/";

/// How long one call to Google (token included) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

/// `[tenants.google]`: the Android app whose purchases the tenant accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoogleSettings {
    /// The app's package name (`com.example.app`).
    pub package_name: String,
    /// The service account's JSON key file (its private key never leaves the node).
    pub service_account_key_file: PathBuf,
    /// The Android Publisher API base URL; tests and staging point it at a fake.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Overrides the key file's `token_uri` (the OAuth token endpoint).
    #[serde(default)]
    pub token_uri: Option<String>,
    /// Credits license testers' test purchases (`purchaseType` 0); off by default.
    #[serde(default)]
    pub allow_test_purchases: bool,
}

/// A purchase as Google reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GooglePurchase {
    /// `orderId` (`GPA.…`): one order is credited once, whatever its token.
    pub order_id: Option<String>,
    /// `purchaseState`: 0 purchased, 1 canceled, 2 pending.
    pub purchase_state: i32,
    /// `acknowledgementState` is 1.
    pub acknowledged: bool,
    /// `purchaseType`: absent for a real purchase; 0 test, 1 promo, 2 rewarded.
    pub purchase_type: Option<i32>,
    /// `quantity` (absent: 1).
    pub quantity: i32,
}

/// Why Google's answer cannot credit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleError {
    /// Google does not know the token (or refuses it): the purchase is not valid.
    #[error("Google does not confirm this purchase: {0}")]
    Refused(String),
    /// Google could not be asked (network, 5xx, credentials): try again later.
    #[error("Google Play could not be reached: {0}")]
    Unavailable(String),
}

type Hub = AndroidPublisher<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

/// A tenant's Google Play account.
pub struct GooglePlay {
    hub: Hub,
    package_name: String,
    allow_test_purchases: bool,
}

impl std::fmt::Debug for GooglePlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GooglePlay")
            .field("package_name", &self.package_name)
            .finish_non_exhaustive()
    }
}

impl GooglePlay {
    /// The client of `settings` (`at` names the table in messages): reads the service
    /// account key; tokens are fetched when first needed.
    ///
    /// # Errors
    /// A message naming the setting at fault.
    pub async fn new(settings: &GoogleSettings, at: &str) -> Result<GooglePlay, String> {
        super::http_url(at, "api_base", &settings.api_base)?;
        if let Some(uri) = &settings.token_uri {
            super::http_url(at, "token_uri", uri)?;
        }
        let path = &settings.service_account_key_file;
        let mut key = yup_oauth2::read_service_account_key(path)
            .await
            .map_err(|e| format!("{at}.service_account_key_file {}: {e}", path.display()))?;
        if let Some(uri) = &settings.token_uri {
            key.token_uri = uri.clone();
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("{at}: no TLS root certificates on this machine: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let builder =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
        let client = builder.build(connector.clone());
        let auth = yup_oauth2::ServiceAccountAuthenticator::with_client(
            key,
            yup_oauth2::client::CustomHyperClientBuilder::from(builder.build(connector)),
        )
        .build()
        .await
        .map_err(|e| format!("{at}: the service account cannot be used: {e}"))?;
        let mut hub = AndroidPublisher::new(client, auth);
        let base = if settings.api_base.ends_with('/') {
            settings.api_base.clone()
        } else {
            format!("{}/", settings.api_base)
        };
        hub.base_url(base.clone());
        hub.root_url(base);
        Ok(GooglePlay {
            hub,
            package_name: settings.package_name.clone(),
            allow_test_purchases: settings.allow_test_purchases,
        })
    }

    /// `purchases.products.get` of `token` for `product_id`.
    ///
    /// # Errors
    /// [`GoogleError::Refused`] for a 4xx answer (unknown or invalid token);
    /// [`GoogleError::Unavailable`] otherwise.
    pub async fn purchase(
        &self,
        product_id: &str,
        token: &str,
    ) -> Result<GooglePurchase, GoogleError> {
        let call = self
            .hub
            .purchases()
            .products_get(&self.package_name, product_id, token)
            .doit();
        let (_, p) = timed(call).await?;
        Ok(GooglePurchase {
            order_id: p.order_id,
            purchase_state: p.purchase_state.unwrap_or(-1),
            acknowledged: p.acknowledgement_state == Some(1),
            purchase_type: p.purchase_type,
            quantity: p.quantity.unwrap_or(1),
        })
    }

    /// Whether test purchases are credited (`allow_test_purchases`).
    pub fn allows_test_purchases(&self) -> bool {
        self.allow_test_purchases
    }

    /// `purchases.products.acknowledge` of `token` for `product_id`.
    ///
    /// # Errors
    /// As [`GooglePlay::purchase`].
    pub async fn acknowledge(&self, product_id: &str, token: &str) -> Result<(), GoogleError> {
        let call = self
            .hub
            .purchases()
            .products_acknowledge(
                ProductPurchasesAcknowledgeRequest::default(),
                &self.package_name,
                product_id,
                token,
            )
            .doit();
        timed(call).await?;
        Ok(())
    }
}

/// `call` within [`CALL_TIMEOUT`], its error classified.
async fn timed<T>(
    call: impl std::future::Future<Output = google_androidpublisher3::Result<T>>,
) -> Result<T, GoogleError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(classify),
        Err(_) => Err(GoogleError::Unavailable(format!(
            "no answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// A 4xx with Google's error body refuses; anything else is unavailability.
fn classify(e: google_androidpublisher3::Error) -> GoogleError {
    match e {
        google_androidpublisher3::Error::BadRequest(body) => {
            let code = body["error"]["code"].as_u64().unwrap_or(0);
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_string();
            if (400..500).contains(&code) && code != 401 && code != 403 && code != 429 {
                GoogleError::Refused(format!("{code} {message}"))
            } else {
                GoogleError::Unavailable(format!("{code} {message}"))
            }
        }
        other => GoogleError::Unavailable(other.to_string()),
    }
}

/// Acknowledges the purchase of `payment` (its product and token) and records the
/// outcome: `Done`, or `Refused` when Google refuses it for good (a 4xx).
///
/// # Errors
/// Google's unavailability (the purchase stays `Pending`); storage errors as
/// unavailability.
pub async fn acknowledge_and_record(
    ledger: &Ledger,
    play: &GooglePlay,
    payment: &Payment,
) -> Result<Acknowledgement, GoogleError> {
    let product = payment.product_id.clone().unwrap_or_default();
    let outcome = match play.acknowledge(&product, &payment.external_id).await {
        Ok(()) => Acknowledgement::Done,
        Err(GoogleError::Refused(why)) => {
            tracing::error!(payment = payment.id, %why,
                "Google refused the acknowledgement of a credited purchase; not retried");
            Acknowledgement::Refused
        }
        Err(e) => return Err(e),
    };
    let token = payment.external_id.clone();
    ledger
        .run(move |tx| {
            let repo = tx.repo::<dyn Payments>()?;
            if let Some(mut p) = repo.payment(Provider::GoogleIap, &token)? {
                p.acknowledged = Some(outcome);
                repo.update_payment(&p)?;
            }
            Ok::<_, LedgerError>(())
        })
        .await
        .map_err(|e| GoogleError::Unavailable(format!("recording the acknowledgement: {e}")))?;
    Ok(outcome)
}

/// Acknowledges the pending Google purchases, every `interval`, with a backoff per
/// purchase on failure (doubling from `interval` up to an hour).
pub struct Acknowledger {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Acknowledger {
    /// Starts acknowledging the purchases of `tenants` (tenant → its Play client).
    pub fn spawn(
        ledger: Ledger,
        tenants: HashMap<TenantId, Arc<GooglePlay>>,
        interval: Duration,
    ) -> Acknowledger {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let interval = interval.max(Duration::from_millis(10));
            let mut backoff: HashMap<String, (Instant, Duration)> = HashMap::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => run_once(&ledger, &tenants, interval, &mut backoff).await,
                    _ = stopped.changed() => break,
                }
            }
        });
        Acknowledger { stop, task }
    }

    /// Stops after the run in progress.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// One pass over every pending purchase, 100 at a time.
async fn run_once(
    ledger: &Ledger,
    tenants: &HashMap<TenantId, Arc<GooglePlay>>,
    interval: Duration,
    backoff: &mut HashMap<String, (Instant, Duration)>,
) {
    if tenants.is_empty() {
        return;
    }
    let mut after = 0;
    loop {
        let page = match ledger
            .read(move |r| r.repo::<dyn PaymentReads>()?.unacknowledged(after, 100))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list unacknowledged Google purchases");
                return;
            }
        };
        let Some(last) = page.last() else {
            return;
        };
        after = last.id;
        let now = Instant::now();
        for p in page {
            if backoff.get(&p.external_id).is_some_and(|(at, _)| *at > now) {
                continue;
            }
            let Some(play) = tenants.get(&p.tenant) else {
                continue;
            };
            match acknowledge_and_record(ledger, play, &p).await {
                Ok(_) => {
                    backoff.remove(&p.external_id);
                }
                Err(e) => {
                    let wait = backoff
                        .get(&p.external_id)
                        .map_or(interval, |(_, w)| (*w * 2).min(Duration::from_secs(3600)));
                    backoff.insert(p.external_id.clone(), (now + wait, wait));
                    tracing::warn!(payment = p.id, error = %e, retry_in_ms = wait.as_millis() as u64,
                        "Google purchase not acknowledged yet");
                }
            }
        }
    }
}
