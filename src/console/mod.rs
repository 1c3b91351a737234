//! The operator console at `/admin/`: server-rendered pages for the node's operator.
//!
//! - [`session`]: sign-in with the admin token, then a session cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Secure` when the request came over TLS); every form carries the
//!   session's CSRF token and is posted from this origin ([`crate::web::guard`]).
//! - [`pages`]: the core's pages of a tenant: the dashboard (credits issued and spent
//!   per day, entries by kind, liability, accounts, low-balance accounts), account
//!   search and the account page, webhook deliveries (replay), payments and
//!   claw-backs.
//! - Each dialect adds its own pages and panels through [`ConsoleDialect`] and its
//!   own routes under `/admin/t/{tenant}/{dialect}/…` (Goop2: grant, refund, campaigns;
//!   Roochip: code requests; RedRoomRewards: promotions awaiting the RRR-admin
//!   approval). The console knows no dialect: the wiring root hands it one
//!   [`ConsoleTenant`] per tenant.
//!
//! Every write goes through the same units of work as the admin API, with the same
//! entries and events, written as the node operator (actor `admin`, as the CLI writes
//! them).

pub mod layout;
pub mod pages;
pub mod session;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use maud::{html, Markup};

use crate::auth::AdminAuth;
use crate::http::StorageFull;
use crate::ledger::{AccountView, Ledger, LedgerError, LedgerRead, TenantId, TenantSpec};
use crate::web::guard::GuardError;

pub use session::{Operator, Posted, Sessions};

/// Where the console is mounted.
pub const BASE: &str = "/admin";

/// What a dialect adds to the console for each of its tenants. Panels are rendered
/// inside the page's one read, so they see the same snapshot as the rest of it.
pub trait ConsoleDialect: Send + Sync {
    /// The dialect's own pages of a tenant: `(label, path below /admin/t/{tenant})`,
    /// e.g. `("Campaigns", "/goop2/campaigns")`.
    fn sections(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// The spendable balance below which the dashboard counts an account as low.
    fn low_balance_threshold(&self) -> Option<i64> {
        None
    }

    /// A panel of the dashboard (e.g. the top templates by credits spent).
    ///
    /// # Errors
    /// Storage errors.
    fn dashboard(
        &self,
        _r: &mut LedgerRead<'_>,
        _tenant: &ConsoleTenant,
    ) -> Result<Markup, LedgerError> {
        Ok(html! {})
    }

    /// A panel of the account page (e.g. owned templates, grant and refund forms);
    /// forms carry `csrf`.
    ///
    /// # Errors
    /// Storage errors.
    fn account(
        &self,
        _r: &mut LedgerRead<'_>,
        _tenant: &ConsoleTenant,
        _account: &AccountView,
        _csrf: &str,
    ) -> Result<Markup, LedgerError> {
        Ok(html! {})
    }
}

/// A tenant whose dialect adds nothing to the console: the core's pages only.
pub struct CorePagesOnly;

impl ConsoleDialect for CorePagesOnly {}

/// A tenant as the console shows it.
#[derive(Clone)]
pub struct ConsoleTenant {
    /// Id, mode (the dialect's name) and scale of its amounts.
    pub spec: TenantSpec,
    /// What its dialect adds.
    pub dialect: Arc<dyn ConsoleDialect>,
}

impl ConsoleTenant {
    /// The tenant's id.
    pub fn id(&self) -> &TenantId {
        &self.spec.id
    }

    /// `/admin/t/{tenant}` followed by `path`.
    pub fn path(&self, path: &str) -> String {
        format!("{BASE}/t/{}{path}", self.spec.id)
    }

    /// The account page of `holder`: `/admin/t/{tenant}/account?holder=…`.
    pub fn account_path(&self, holder: &str) -> String {
        let query = serde_urlencoded::to_string([("holder", holder)]).unwrap_or_default();
        format!("{}?{query}", self.path("/account"))
    }

    /// `minor` units at the tenant's scale, grouped: `1,250` or `12.50`.
    pub fn amount(&self, minor: i64) -> String {
        let scale = self.spec.scale;
        if scale == 0 {
            return crate::web::html::grouped(minor);
        }
        let text = crate::ledger::format_minor(minor, scale);
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        let whole: i64 = whole.parse().unwrap_or(0);
        let sign = if minor < 0 && whole == 0 { "-" } else { "" };
        format!(
            "{sign}{}.{frac:0<width$}",
            crate::web::html::grouped(whole),
            width = scale as usize
        )
    }
}

/// The console's state: the ledger, the admin credential, the sessions and the
/// tenants in configuration order.
pub struct ConsoleState {
    /// The ledger.
    pub ledger: Ledger,
    /// The operator's token (hashed).
    pub admin: AdminAuth,
    /// Signed-in sessions.
    pub sessions: Sessions,
    /// Every tenant.
    pub tenants: Vec<ConsoleTenant>,
}

impl ConsoleState {
    /// The tenant `id`.
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`].
    pub fn tenant(&self, id: &str) -> Result<&ConsoleTenant, ConsoleError> {
        self.tenants
            .iter()
            .find(|t| t.spec.id.as_str() == id)
            .ok_or_else(|| ConsoleError::NotFound(format!("No tenant {id:?} on this node.")))
    }
}

/// Why a console request failed; rendered as a page (or a redirect to sign in).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session on a page: 303 to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// No valid session on a form post: 403.
    #[error("refused: no console session (it ended or was never opened); sign in again")]
    NoSession,
    /// A form post failed the CSRF or origin check: 403.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// 400 with a sentence naming the field.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 503: the node's storage is full; nothing was written.
    #[error("{}", StorageFull::MESSAGE)]
    StorageFull(StorageFull),
    /// 500: logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl From<LedgerError> for ConsoleError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::StorageFull(detail) => {
                ConsoleError::StorageFull(StorageFull::refused(&detail))
            }
            LedgerError::Invalid(m) => ConsoleError::BadRequest(m),
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::NoSession | ConsoleError::Guard(_) => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignIn => return crate::web::html::see_other(&format!("{BASE}/login")),
            ConsoleError::Internal(detail) => {
                tracing::error!(%detail, "console request failed");
            }
            _ => {}
        }
        let mut res = layout::error_page(self.status_code(), &self.to_string());
        if let ConsoleError::StorageFull(s) = self {
            let (name, value) = s.retry_after();
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, value);
            }
        }
        res
    }
}

/// What a dialect's failed write means for the operator: a refusal is told on the
/// next page; a failure of the node is this request's error page.
#[derive(Debug)]
pub enum Refusal {
    /// The sentence for the next page's notice.
    Notice(String),
    /// The node failed (storage full, internal error).
    Fail(ConsoleError),
}

impl<T> Posted<T> {
    /// Leaves the outcome of a write as the next page's notice (`ok` with the
    /// sentence, or `error` with the refusal) and answers 303 to `ok_to` after a
    /// success, `refused_to` after a refusal.
    ///
    /// # Errors
    /// [`Refusal::Fail`]'s error.
    pub fn settle(
        &self,
        outcome: std::result::Result<String, Refusal>,
        ok_to: &str,
        refused_to: &str,
    ) -> Result<HttpResponse> {
        match outcome {
            Ok(text) => {
                self.notice("ok", text);
                Ok(crate::web::html::see_other(ok_to))
            }
            Err(Refusal::Notice(text)) => {
                self.notice("error", text);
                Ok(crate::web::html::see_other(refused_to))
            }
            Err(Refusal::Fail(e)) => Err(e),
        }
    }

    /// [`Posted::settle`] for a write on `holder`'s account: its page after a success,
    /// the account search for it after a refusal (the account may not exist).
    ///
    /// # Errors
    /// [`Refusal::Fail`]'s error.
    pub fn settle_account(
        &self,
        t: &ConsoleTenant,
        holder: &str,
        outcome: std::result::Result<String, Refusal>,
    ) -> Result<HttpResponse> {
        let query = serde_urlencoded::to_string([("q", holder)]).unwrap_or_default();
        self.settle(
            outcome,
            &t.account_path(holder),
            &format!("{}?{query}", t.path("/accounts")),
        )
    }
}

/// Result of console handlers.
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;

/// Mounts the console's core routes and its assets, with `state` as app data (the
/// dialects' console routes find it there).
pub fn mount(cfg: &mut web::ServiceConfig, state: web::Data<ConsoleState>) {
    crate::web::assets::mount(cfg, BASE);
    cfg.app_data(state);
    pages::routes(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(scale: u32) -> ConsoleTenant {
        ConsoleTenant {
            spec: TenantSpec {
                id: TenantId::new("t").unwrap(),
                mode: "roochip".into(),
                scale,
                ceiling: i64::MAX,
                lots: false,
            },
            dialect: Arc::new(CorePagesOnly),
        }
    }

    #[test]
    fn amounts_are_written_at_the_tenant_scale() {
        let (credits, roo) = (tenant(0), tenant(2));
        assert_eq!(credits.amount(1_234_567), "1,234,567");
        assert_eq!(roo.amount(1_250), "12.50");
        assert_eq!(roo.amount(123_456_700), "1,234,567.00");
        assert_eq!(roo.amount(5), "0.05");
        assert_eq!(roo.amount(-5), "-0.05");
        assert_eq!(roo.amount(-1_250), "-12.50");
        assert_eq!(roo.amount(0), "0.00");
        assert_eq!(tenant(6).amount(1), "0.000001");
        assert_eq!(
            credits.account_path("a b&c"),
            "/admin/t/t/account?holder=a+b%26c"
        );
    }
}
