//! HTML answers of both UIs.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

/// The Content-Security-Policy of every page: scripts and styles only from this
/// server, forms only to it, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// `markup` as an HTML answer with `status`: not cached, not framed, the CSP above.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(markup.into_string())
}

/// A 303 See Other to `location` (after a form post: reloading the result page does
/// not post again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A whole document: `<head>` with the title, the stylesheet and `scripts`, then
/// `body` inside a skip link's target.
pub fn document(title: &str, stylesheets: &[String], scripts: &[String], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                @for href in stylesheets { link rel="stylesheet" href=(href); }
                @for src in scripts { script src=(src) defer {} }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                (body)
            }
        }
    }
}

/// A notice above the page's content: `kind` is `ok`, `error` or `warn`. It is a live
/// region, so screen readers announce it.
pub fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { p class={"notice " (kind)} role=(role) { (text) } }
}

/// Whole credits with thousands separators: `1234567` → `1,234,567`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Decimal places of an ISO 4217 currency as payment providers count them: none for
/// the zero-decimal currencies (JPY, KRW, …), three for BHD, JOD, KWD, OMR and TND,
/// else two.
pub fn currency_decimals(currency: &str) -> u32 {
    const ZERO: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
    let c = currency.to_ascii_lowercase();
    if ZERO.contains(&c.as_str()) {
        0
    } else if THREE.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

/// A price in the currency's minor units, written out: `499, "usd"` → `4.99 USD`,
/// `450, "usd"` → `4.50 USD`, `500, "jpy"` → `500 JPY`.
pub fn money(minor: i64, currency: &str) -> String {
    let decimals = currency_decimals(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs();
    let text = if decimals == 0 {
        digits.to_string()
    } else {
        let unit = 10u64.pow(decimals);
        format!(
            "{}.{:0width$}",
            digits / unit,
            digits % unit,
            width = decimals as usize
        )
    };
    format!("{sign}{text} {}", currency.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(-1234567), "-1,234,567");
        assert_eq!(grouped(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn prices_keep_their_currency_decimals() {
        assert_eq!(money(499, "usd"), "4.99 USD");
        assert_eq!(money(450, "usd"), "4.50 USD");
        assert_eq!(money(5, "eur"), "0.05 EUR");
        assert_eq!(money(500, "jpy"), "500 JPY");
        assert_eq!(money(1234, "KWD"), "1.234 KWD");
        assert_eq!(money(-250, "usd"), "-2.50 USD");
    }

    #[test]
    fn interpolated_text_is_escaped() {
        let page = notice("ok", "<script>alert(1)</script>").into_string();
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>"));
    }
}
