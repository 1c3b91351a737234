//! Who is calling a Roochip route: the tenant and role of the `X-API-Key`
//! ("Authentication"), and the tenant's settings from `[[tenants]]`.
//!
//! A missing or unknown key is 401; a key of an inactive tenant is 403; a server key
//! on an admin route is 403. Keys are looked up by their SHA-256 and never logged.

use actix_web::{web, FromRequest, HttpRequest};
use futures::future::{ready, Ready};

use super::error::RoochipError;
use super::settings::RoochipTenant;
use super::RoochipState;
use crate::auth::api_key::ApiKeyRefusal;
use crate::auth::KeyRole;
use crate::ledger::{Actor, Amount, TenantId};

pub use crate::auth::api_key::API_KEY_HEADER;

/// An authenticated caller of a server route: the key's tenant (active, in Roochip
/// mode) and role.
#[derive(Clone)]
pub struct Caller {
    state: web::Data<RoochipState>,
    index: usize,
    /// The key's tenant.
    pub tenant: TenantId,
    /// The key's role.
    pub role: KeyRole,
}

/// An authenticated caller of an admin route (a key with the admin role).
pub struct AdminCaller(pub Caller);

impl Caller {
    /// Identifies the caller of `req` from its `X-API-Key`.
    ///
    /// # Errors
    /// 401 for a missing or unknown key (or a key of a tenant of another dialect),
    /// 403 when the tenant is inactive.
    pub fn identify(req: &HttpRequest) -> Result<Caller, RoochipError> {
        let state = req
            .app_data::<web::Data<RoochipState>>()
            .ok_or_else(|| RoochipError::Internal("the Roochip state is not registered".into()))?;
        let grant = state
            .api_keys
            .from_request(req)
            .map_err(|refusal| RoochipError::Unauthorized(refusal.to_string()))?;
        let invalid = || RoochipError::Unauthorized(ApiKeyRefusal::Invalid.to_string());
        let index = state
            .tenants
            .iter()
            .position(|t| t.id == grant.tenant.as_str())
            .ok_or_else(invalid)?;
        if !state.tenants[index].active {
            return Err(RoochipError::Forbidden(
                "This tenant is inactive. Contact Roochip support.".into(),
            ));
        }
        Ok(Caller {
            state: state.clone(),
            index,
            tenant: grant.tenant.clone(),
            role: grant.role,
        })
    }

    /// The position of the caller's tenant in [`RoochipState::tenants`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// The tenant's settings.
    pub fn settings(&self) -> &RoochipTenant {
        &self.state.tenants[self.index]
    }

    /// Whether the tenant receives webhooks (`webhook_url` is set).
    pub fn webhooks(&self) -> bool {
        self.settings().webhooks()
    }

    /// The `actor` of the entries this caller causes: `tenant:<id>` for a server
    /// key, `tenant:<id>:admin` for an admin key.
    pub fn actor(&self) -> Actor {
        Actor::TenantKey {
            tenant: self.tenant.to_string(),
            admin: self.role == KeyRole::Admin,
        }
    }

    /// ROO issued by one promo code (`promo_code_credits`), in hundredths.
    ///
    /// # Errors
    /// 500 when the setting is not a valid amount (see [`super::settings::check`]).
    pub fn promo_code_credits(&self) -> Result<Amount, RoochipError> {
        super::settings::promo_code_credits(self.settings()).map_err(RoochipError::Internal)
    }

    /// What a unit of work needs to know about the caller.
    pub fn wallet(&self) -> WalletContext {
        WalletContext {
            tenant: self.tenant.clone(),
            webhooks: self.webhooks(),
            actor: self.actor(),
        }
    }
}

/// The caller's part of a unit of work (cheap to move into the writer thread).
#[derive(Debug, Clone)]
pub struct WalletContext {
    /// The tenant whose wallets are touched.
    pub tenant: TenantId,
    /// Write `credits.issued` events (the tenant has a `webhook_url`).
    pub webhooks: bool,
    /// The `actor` of the entries.
    pub actor: Actor,
}

impl FromRequest for Caller {
    type Error = RoochipError;
    type Future = Ready<Result<Caller, RoochipError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Caller::identify(req))
    }
}

impl FromRequest for AdminCaller {
    type Error = RoochipError;
    type Future = Ready<Result<AdminCaller, RoochipError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Caller::identify(req).and_then(|caller| match caller.role {
            KeyRole::Admin => Ok(AdminCaller(caller)),
            KeyRole::Server => Err(RoochipError::Forbidden(
                "This route needs an admin API key; the key sent is a server key.".into(),
            )),
        }))
    }
}
