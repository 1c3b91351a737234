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
//! Every write goes through the same units of work as the API, with the same audit
//! entries; actor `admin`.

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

/// Result of console handlers.
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;

/// Mounts the console's core routes and its assets, with `state` as app data (the
/// dialects' console routes find it there).
pub fn mount(cfg: &mut web::ServiceConfig, state: web::Data<ConsoleState>) {
    crate::web::assets::mount(cfg, BASE);
    cfg.app_data(state);
    pages::routes(cfg);
}
