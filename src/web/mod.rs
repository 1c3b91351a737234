//! What the two web UIs share: the operator console (served by
//! the node at `/admin/`) and the peer's store UI (served by `peer ui`).
//!
//! - [`assets`]: the stylesheet, the console's script and the vendored uPlot chart
//!   library, compiled into the binary (no CDN, no build step at run time);
//! - [`guard`]: the checks every state-changing form post passes (CSRF token and
//!   same-origin `Origin`/`Referer`);
//! - [`html`]: HTML answers (`text/html; charset=utf-8`, no caching, a strict
//!   Content-Security-Policy that allows only the node's own scripts and styles).
//!
//! Markup is written with maud, which escapes every interpolated value: a name or a
//! note holding `<script>` renders as text.

pub mod assets;
pub mod guard;
pub mod html;
