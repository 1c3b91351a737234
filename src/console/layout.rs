//! The console's page shell: the top bar (tenants, sign-out), the tenant's tabs and
//! the notice left by the last form post.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup};

use super::{ConsoleState, ConsoleTenant, Operator, BASE};
use crate::web::{assets, html as web_html};

fn stylesheets() -> Vec<String> {
    vec![assets::url(BASE, "app.css"), assets::url(BASE, "uPlot.css")]
}

/// A page of the console, 200. `tenant` and `tab` choose the tabs shown and the one
/// marked current (a path below the tenant, `""` for its dashboard).
pub fn page(
    state: &ConsoleState,
    operator: &Operator,
    tenant: Option<(&ConsoleTenant, &str)>,
    title: &str,
    scripts: &[String],
    body: Markup,
) -> HttpResponse {
    let heading = match tenant {
        Some((t, _)) => format!("{title} · {} ({})", t.id(), t.spec.mode),
        None => title.to_string(),
    };
    let markup = html! {
        header.bar {
            a.brand href={(BASE) "/"} { "rendezvous-credits console" }
            nav aria-label="Tenants" {
                ul {
                    @for t in &state.tenants {
                        li {
                            @let current = tenant.is_some_and(|(c, _)| c.id() == t.id());
                            a href=(t.path("")) aria-current=[current.then_some("page")] { (t.id()) }
                        }
                    }
                }
            }
            form method="post" action={(BASE) "/logout"} {
                input type="hidden" name="csrf" value=(operator.csrf);
                button type="submit" { "Sign out" }
            }
        }
        main id="main" {
            @if let Some((t, tab)) = tenant {
                nav aria-label="Pages of this tenant" {
                    ul.tabs {
                        @for (label, path) in tabs(t) {
                            li { a href=(t.path(&path)) aria-current=[(path == tab).then_some("page")] { (label) } }
                        }
                    }
                }
            }
            h1 { (heading) }
            @if let Some((kind, text)) = state.sessions.take_notice(&operator.session) { (web_html::notice(kind, &text)) }
            (body)
        }
    };
    web_html::respond(
        StatusCode::OK,
        web_html::document(
            &format!("{heading} — console"),
            &stylesheets(),
            scripts,
            markup,
        ),
    )
}

fn tabs(t: &ConsoleTenant) -> Vec<(&'static str, String)> {
    let mut tabs = vec![
        ("Dashboard", String::new()),
        ("Accounts", "/accounts".to_string()),
        ("Webhook deliveries", "/deliveries".to_string()),
        ("Payments", "/payments".to_string()),
    ];
    tabs.extend(
        t.dialect
            .sections()
            .into_iter()
            .map(|(l, p)| (l, p.to_string())),
    );
    tabs
}

/// A page without a session: the sign-in form, with an optional error.
pub fn sign_in(status: StatusCode, error: Option<&str>) -> HttpResponse {
    let markup = html! {
        header.bar { span.brand { "rendezvous-credits console" } }
        main id="main" {
            h1 { "Sign in" }
            @if let Some(e) = error { (web_html::notice("error", e)) }
            form.stack method="post" action={(BASE) "/login"} {
                label for="token" { "Admin token" }
                input id="token" name="token" type="password" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.muted { "The token is the node's admin token (RC_ADMIN_TOKEN). The session ends when you sign out, after an hour without use, or after 12 hours." }
        }
    };
    web_html::respond(
        status,
        web_html::document("Sign in — console", &stylesheets(), &[], markup),
    )
}

/// An error page with `status` and `message`, and a way back.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let markup = html! {
        header.bar { a.brand href={(BASE) "/"} { "rendezvous-credits console" } }
        main id="main" {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            (web_html::notice("error", message))
            p { a href={(BASE) "/"} { "Back to the console" } }
        }
    };
    web_html::respond(
        status,
        web_html::document("Error — console", &stylesheets(), &[], markup),
    )
}

/// A hidden CSRF field for a form.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// Previous/next links of a page of `limit` rows at `offset` out of `total`; `link`
/// builds the URL of an offset.
pub fn pager(offset: u64, limit: u32, total: u64, link: impl Fn(u64) -> String) -> Markup {
    let limit = u64::from(limit);
    let shown_to = offset.saturating_add(limit).min(total);
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 { a href=(link(offset.saturating_sub(limit).min(total))) rel="prev" { "← Newer" } }
            span { (if total == 0 { 0 } else { offset.saturating_add(1).min(total) }) "–" (shown_to) " of " (total) }
            @if shown_to < total { a href=(link(shown_to)) rel="next" { "Older →" } }
        }
    }
}
