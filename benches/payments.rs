//! Stripe webhook handling over HTTP: a whole node in process (release build), fed
//! `checkout.session.completed` events signed the way Stripe signs them, each a new
//! paid session of a Goop2 bundle, by concurrent HTTP/1.1 clients on loopback. Every
//! event is verified (`Stripe-Signature`, async-stripe), credited in one unit of work
//! (event id and session id as idempotency keys) and answered after the commit. Then
//! the same events again (Stripe's retries): each answers its stored outcome and
//! credits nothing. `verify` runs at the end.
//!
//! `cargo bench --bench payments`; environment variables: `RC_BENCH_EVENTS` (20000),
//! `RC_BENCH_CONNECTIONS` (64), `RC_BENCH_DIR` (a folder on the disk to measure;
//! default a temp folder).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, Mac};
use rendezvous_credits::app::{self, StartOptions};
use rendezvous_credits::config::Config;
use rendezvous_credits::payments::stripe::StripeSettings;
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "whsec_bench_0123456789";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signed `checkout.session.completed` of session `i`: (body, Stripe-Signature).
fn event(i: usize, t: i64) -> (String, String) {
    let body = json!({
        "id": format!("evt_bench_{i:08}"),
        "object": "event",
        "api_version": "2023-10-16",
        "created": t,
        "data": {"object": {
            "id": format!("cs_bench_{i:08}"),
            "object": "checkout.session",
            "amount_subtotal": 499,
            "amount_total": 499,
            "automatic_tax": {"enabled": false, "status": null},
            "client_reference_id": format!("bench-peer-{}", i % 1000),
            "created": t,
            "currency": "usd",
            "custom_fields": [],
            "custom_text": {"shipping_address": null, "submit": null},
            "expires_at": t + 86400,
            "livemode": false,
            "metadata": {"tenant": "goop2", "account": format!("bench-peer-{}", i % 1000),
                "package": "credits-500"},
            "mode": "payment",
            "payment_intent": format!("pi_bench_{i:08}"),
            "payment_method_types": ["card"],
            "payment_status": "paid",
            "shipping_options": [],
            "status": "complete",
            "url": null
        }},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed"
    })
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    (body, signature)
}

/// Sends `events` with `connections` concurrent clients; returns (events/s, answers
/// whose outcome was `expect`).
async fn send(
    url: &str,
    events: Arc<Vec<(String, String)>>,
    connections: usize,
    expect: &'static str,
) -> (f64, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let matched = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (events, next, matched) = (events.clone(), next.clone(), matched.clone());
            let url = url.to_string();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, signature)) = events.get(i) else {
                        break;
                    };
                    let res = http
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .header("Stripe-Signature", signature)
                        .body(body.clone())
                        .send()
                        .await
                        .expect("webhook request");
                    assert_eq!(res.status(), 200, "event {i}");
                    let answer: serde_json::Value = res.json().await.unwrap();
                    if answer["outcome"] == expect {
                        matched.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    (rate, matched.load(Ordering::Relaxed))
}

fn main() {
    let n = env_or("RC_BENCH_EVENTS", 20_000usize);
    let connections = env_or("RC_BENCH_CONNECTIONS", 64usize);
    let base_dir = std::env::var("RC_BENCH_DIR").ok();
    let dir = match &base_dir {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = Config::default();
        config.server.http_addr = "127.0.0.1:0".into();
        config.server.data_dir = dir.path().to_path_buf();
        config.server.catalog_dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates-catalog");
        config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.goop2.stripe = Some(StripeSettings {
            secret_key: "sk_test_bench".into(),
            webhook_signing_secret: SECRET.into(),
            success_url: "https://rendezvous.example/credits/thanks".into(),
            cancel_url: "https://rendezvous.example/credits".into(),
            api_base: "http://127.0.0.1:9/".into(),
        });
        let node = app::start(config, StartOptions::default())
            .await
            .expect("the node starts");
        let url = format!("http://{}/webhooks/stripe/goop2", node.http_addr);
        let t = unix_now();
        let events: Arc<Vec<_>> = Arc::new((0..n).map(|i| event(i, t)).collect());

        let (rate, credited) = send(&url, events.clone(), connections, "credited").await;
        println!(
            "stripe webhook, new paid sessions: {n} events, {connections} connections -> \
             {rate:>8.0} events/s, {credited} credited"
        );
        assert_eq!(credited, n, "every event credits once");
        let (rate, replayed) = send(&url, events, connections, "credited").await;
        println!(
            "stripe webhook, the same events again: {n} events -> {rate:>8.0} events/s, \
             {replayed} answered their stored outcome"
        );
        assert_eq!(replayed, n, "every retry answers the stored outcome");
        let ledger = node.ledger.clone();
        node.shutdown().await;
        drop(ledger);
    });
    let ledger = rendezvous_credits::store::sqlite::open_read_only(&dir.path().join("ledger.db"))
        .expect("open the ledger");
    let report = app::verify(&ledger, &mut |_| {})
        .expect("verify runs")
        .expect("verify passes");
    println!("verify: OK, {} entries", report.entries);
    assert_eq!(report.entries as usize, n, "one buy entry per session");
}
