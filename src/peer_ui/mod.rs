//! The peer's store UI (`rendezvous-credits peer ui`): a local web app inside the peer
//! client, like the Goop2 peer's own viewer. It holds the peer's key and talks to the
//! node as [`PeerClient`] does (libp2p-PeerID over HTTP, registration over libp2p); the
//! browser only ever talks to it.
//!
//! It renders the flows of goop2-credit-system.md ("Client-Side Flows", "Balance
//! Display", "Onboarding & First-Time Experience", "Running Low on Credits"): the
//! balance in the navbar, the catalog with Free / Owned / price tags, a confirmation
//! before each purchase, 402 shortfalls, install into a chosen folder, the paged
//! history, the welcome message after the first registration, and the low-balance
//! nudge (Stripe bundles when the node sells them, else "Contact the server admin").
//!
//! It listens on loopback by default. Because it spends the peer's credits, every form
//! post carries a per-process CSRF token and must come from its own origin, and every
//! request must name it in its `Host` header (the address it listens on,
//! `127.0.0.1:PORT` or `localhost:PORT`; forwarding headers are ignored), so another
//! site can neither post to it nor read it through DNS rebinding.

pub mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use actix_web::dev::{Payload, ServerHandle};
use actix_web::{web, App, FromRequest, HttpRequest, HttpServer};
use serde::de::DeserializeOwned;

use crate::client::PeerClient;
use crate::web::guard;

/// The UI's shared state.
pub struct StoreUi {
    /// The peer's client (one request at a time: it keeps the bearer).
    pub client: tokio::sync::Mutex<PeerClient>,
    /// The node's HTTP base URL, shown in the footer.
    pub node_url: String,
    /// Default parent folder of installs (`DIR/<template>`).
    pub install_root: PathBuf,
    /// The per-process CSRF token of every form.
    pub csrf: String,
    /// The `Host` values the UI answers to.
    hosts: Vec<String>,
    /// A notice for the next page: (`ok`, `error` or `warn`, text).
    notice: Mutex<Option<(&'static str, String)>>,
}

impl StoreUi {
    /// Leaves `text` for the next page.
    pub fn leave_notice(&self, kind: &'static str, text: impl Into<String>) {
        *self.notice.lock().unwrap_or_else(|e| e.into_inner()) = Some((kind, text.into()));
    }

    /// Takes the notice left for this page.
    pub fn take_notice(&self) -> Option<(&'static str, String)> {
        self.notice.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Why the UI could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running store UI.
pub struct RunningUi {
    /// Where it listens (the real port when asked for port 0).
    pub addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningUi {
    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops the UI (requests in flight finish).
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }

    /// Runs until the server stops (Ctrl-C is handled by the server).
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

/// Starts the UI on `listen` (e.g. `127.0.0.1:7777`) for `client`; installs go below
/// `install_root` unless the form names another folder. `signals`: stop on Ctrl-C
/// (the command) or not (tests).
///
/// # Errors
/// [`UiError::Bind`].
pub async fn start(
    client: PeerClient,
    node_url: &str,
    listen: &str,
    install_root: PathBuf,
    signals: bool,
) -> Result<RunningUi, UiError> {
    let bind_error = |source| UiError::Bind {
        addr: listen.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let mut hosts = vec![
        addr.to_string(),
        format!("localhost:{}", addr.port()),
        format!("127.0.0.1:{}", addr.port()),
    ];
    hosts.dedup();
    let state = web::Data::new(StoreUi {
        client: tokio::sync::Mutex::new(client),
        node_url: node_url.to_string(),
        install_root,
        csrf: guard::random_token(),
        hosts,
        notice: Mutex::new(None),
    });
    let mut server = HttpServer::new(move || {
        App::new().app_data(state.clone()).configure(|cfg| {
            crate::web::assets::mount(cfg, "");
            pages::routes(cfg);
        })
    })
    .workers(1)
    .shutdown_timeout(5);
    if !signals {
        server = server.disable_signals();
    }
    let server = server.listen(listener).map_err(bind_error)?.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(RunningUi { addr, handle, task })
}

/// A failure of a UI request, rendered as a page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The `Host` is not the UI's own (403).
    #[error("refused: this UI answers only to {0}")]
    Host(String),
    /// A form post failed the origin or CSRF check (403).
    #[error(transparent)]
    Guard(#[from] guard::GuardError),
    /// A malformed form or query (400).
    #[error("{0}")]
    BadRequest(String),
}

impl actix_web::ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            PageError::BadRequest(_) => actix_web::http::StatusCode::BAD_REQUEST,
            _ => actix_web::http::StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        pages::error_page(self.status_code(), &self.to_string())
    }
}

/// The UI's state and its own origin (`http://HOST`), once the request's raw `Host`
/// header names the UI. `Forwarded` and `X-Forwarded-Host` are not looked at: a page
/// that reached the UI through a rebound name could set them.
fn ui(req: &HttpRequest) -> Result<(web::Data<StoreUi>, String), PageError> {
    let state = req
        .app_data::<web::Data<StoreUi>>()
        .cloned()
        .ok_or_else(|| PageError::BadRequest("the UI state is not mounted".into()))?;
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !state.hosts.contains(&host) {
        return Err(PageError::Host(state.hosts.join(", ")));
    }
    Ok((state, format!("http://{host}")))
}

/// A page request that named the UI in `Host`.
pub struct Local(pub web::Data<StoreUi>);

impl FromRequest for Local {
    type Error = PageError;
    type Future = std::future::Ready<Result<Local, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(ui(req).map(|(state, _)| Local(state)))
    }
}

/// A form post from the UI's own page: `Host`, origin and CSRF token checked.
pub struct LocalPost<T> {
    /// The UI.
    pub ui: web::Data<StoreUi>,
    /// The form's fields.
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for LocalPost<T> {
    type Error = PageError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<LocalPost<T>, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let (ui, own) = ui(&req)?;
            guard::same_origin_as(&req, &own)?;
            let body = body
                .await
                .map_err(|e| PageError::BadRequest(format!("the form could not be read: {e}")))?;
            let form = guard::checked_form(&body, &ui.csrf).map_err(|e| match e {
                guard::FormError::Guard(g) => PageError::Guard(g),
                malformed => PageError::BadRequest(malformed.to_string()),
            })?;
            Ok(LocalPost { ui, form })
        })
    }
}
