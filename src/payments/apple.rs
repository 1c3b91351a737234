//! Apple in-app purchases: a StoreKit 2 signed transaction (JWS) verified offline
//! with app-store-server-library against the configured root certificates: ES256
//! signature, the three-certificate `x5c` chain up to a configured root with Apple's
//! OIDs on the intermediate and the leaf, then the bundle id and the environment.
//! `verifyReceipt` (deprecated by Apple) is not used.

use std::path::PathBuf;

use app_store_server_library::models::app_store_environment::Environment;
use app_store_server_library::signed_data_verifier::{SignedDataVerifier, SignedDataVerifierError};
use serde::{Deserialize, Serialize};

/// `[tenants.apple]`: the app whose purchases the tenant accepts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppleSettings {
    /// The app's bundle id (`com.example.app`); a transaction of another app is refused.
    pub bundle_id: String,
    /// The app's Apple id (a number); required in `Production`.
    #[serde(default)]
    pub app_apple_id: Option<i64>,
    /// `Production` or `Sandbox`. `Xcode` and `LocalTesting` skip the signature
    /// check (StoreKit testing) and are accepted only with
    /// `allow_unsigned_test_environments = true`, never in production.
    pub environment: String,
    /// Paths of the trusted root certificates (DER), e.g. `AppleRootCA-G3.cer`.
    pub root_certificates: Vec<PathBuf>,
    /// Lets `environment` be `Xcode` or `LocalTesting` (no signature check).
    #[serde(default)]
    pub allow_unsigned_test_environments: bool,
}

/// A verified transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleTransaction {
    /// `transactionId`: what is credited once.
    pub transaction_id: String,
    /// `originalTransactionId`.
    pub original_transaction_id: Option<String>,
    /// `productId`.
    pub product_id: String,
    /// Apple revoked it (refund, family sharing removed): never credited.
    pub revoked: bool,
}

/// Why a transaction is refused; the message names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AppleRefusal(pub String);

/// Verifies a tenant's signed transactions.
pub struct AppleVerifier {
    verifier: SignedDataVerifier,
}

impl std::fmt::Debug for AppleVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleVerifier").finish_non_exhaustive()
    }
}

impl AppleVerifier {
    /// The verifier of `settings`: reads the root certificates.
    ///
    /// # Errors
    /// A message naming the setting at fault (`at` is where the table is): an
    /// unknown or unsigned environment not allowed, an unreadable certificate, no
    /// certificate, `Production` without `app_apple_id`.
    pub fn new(settings: &AppleSettings, at: &str) -> Result<AppleVerifier, String> {
        let environment = match settings.environment.as_str() {
            "Production" => Environment::Production,
            "Sandbox" => Environment::Sandbox,
            "Xcode" | "LocalTesting" if settings.allow_unsigned_test_environments => {
                if settings.environment == "Xcode" {
                    Environment::Xcode
                } else {
                    Environment::LocalTesting
                }
            }
            "Xcode" | "LocalTesting" => {
                return Err(format!(
                    "{at}.environment {:?} skips the signature check: set \
                     allow_unsigned_test_environments = true to use it in tests",
                    settings.environment
                ))
            }
            other => {
                return Err(format!(
                    "{at}.environment must be Production or Sandbox, not {other:?}"
                ))
            }
        };
        if settings.root_certificates.is_empty() {
            return Err(format!(
                "{at}.root_certificates: name at least one (DER) file"
            ));
        }
        let roots = settings
            .root_certificates
            .iter()
            .map(|p| {
                std::fs::read(p).map_err(|e| format!("{at}.root_certificates {}: {e}", p.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let verifier = SignedDataVerifier::new(
            roots,
            environment,
            settings.bundle_id.clone(),
            settings.app_apple_id,
            false,
        )
        .map_err(|e| match e {
            SignedDataVerifierError::InvalidAppAppleId => {
                format!("{at}.app_apple_id is required in Production")
            }
            other => format!("{at}: {other}"),
        })?;
        Ok(AppleVerifier { verifier })
    }

    /// Verifies and decodes `signed_transaction` (a StoreKit 2 JWS).
    ///
    /// # Errors
    /// [`AppleRefusal`] naming what failed: the signature or certificate chain, the
    /// bundle id, the environment, a missing field.
    pub fn verify(&self, signed_transaction: &str) -> Result<AppleTransaction, AppleRefusal> {
        let t = self
            .verifier
            .verify_and_decode_signed_transaction(signed_transaction.trim())
            .map_err(|e| {
                AppleRefusal(match e {
                    SignedDataVerifierError::InvalidAppIdentifier => {
                        "the transaction is for another app (bundle id)".into()
                    }
                    SignedDataVerifierError::InvalidEnvironment => {
                        "the transaction is from another environment (Sandbox or Production)".into()
                    }
                    SignedDataVerifierError::VerificationFailure
                    | SignedDataVerifierError::InternalChainVerifierError(_)
                    | SignedDataVerifierError::InternalJWSError(_) => {
                        format!("the signature or its certificate chain does not verify ({e})")
                    }
                    SignedDataVerifierError::InternalDecodeError(_)
                    | SignedDataVerifierError::InternalDeserializationError(_) => {
                        format!("not a signed transaction (JWS): {e}")
                    }
                    other => format!("not verified: {other}"),
                })
            })?;
        let missing = |what: &str| AppleRefusal(format!("the transaction has no {what}"));
        Ok(AppleTransaction {
            transaction_id: t.transaction_id.ok_or_else(|| missing("transactionId"))?,
            original_transaction_id: t.original_transaction_id,
            product_id: t.product_id.ok_or_else(|| missing("productId"))?,
            revoked: t.revocation_date.is_some(),
        })
    }
}
