//! Static assets compiled into the binary, served with a long cache lifetime under a
//! path that carries the crate version (a new release gets new URLs).

use actix_web::{http::header, web, HttpResponse};

/// The stylesheet of both UIs: system fonts, contrast ratios of at least 4.5:1 for
/// text, visible focus rings, and one column below 40 rem (phone width).
pub const STYLE_CSS: &str = include_str!("../../assets/app.css");

/// The console's script: draws the dashboard chart with uPlot from the JSON the page
/// embeds (`<script type="application/json" id="daily-data">`).
pub const CONSOLE_JS: &str = include_str!("../../assets/console.js");

/// uPlot 1.6.32 (MIT), vendored from npm (`assets/vendor/uplot/`).
pub const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");

/// uPlot's stylesheet.
pub const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");

/// The path prefix of the assets, e.g. `/assets/0.1.0`.
pub fn prefix() -> String {
    format!("/assets/{}", env!("CARGO_PKG_VERSION"))
}

/// The URL of one asset by file name (`app.css`, `console.js`, `uPlot.js`,
/// `uPlot.css`) under `base` (the UI's mount point, e.g. `/admin` or empty).
pub fn url(base: &str, file: &str) -> String {
    format!("{base}{}/{file}", prefix())
}

/// Mounts `{base}/assets/{version}/{file}` (GET) on `cfg`: the four files above, 404
/// for any other name.
pub fn mount(cfg: &mut web::ServiceConfig, base: &str) {
    cfg.route(
        &format!("{base}{}/{{file}}", prefix()),
        web::get().to(serve),
    );
}

async fn serve(file: web::Path<String>) -> HttpResponse {
    let (body, kind) = match file.as_str() {
        "app.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "uPlot.js" => (UPLOT_JS, "text/javascript; charset=utf-8"),
        "uPlot.css" => (UPLOT_CSS, "text/css; charset=utf-8"),
        _ => return HttpResponse::NotFound().body("no such asset"),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
