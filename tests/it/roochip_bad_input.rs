//! Bad input on every Roochip POST route: a 4xx `{"error": …}` naming the problem, and
//! nothing written (no wallet, entry, code request, code, event or idempotency record).

use reqwest::StatusCode;
use serde_json::json as j;

use super::{count, expect_error, node, parse, reply_text, Roo};

/// One bad request: the raw body, the expected status and what the message must name.
struct Case {
    body: String,
    status: StatusCode,
    mentions: Vec<String>,
}

fn case(body: impl Into<String>, mentions: &[&str]) -> Case {
    Case {
        body: body.into(),
        status: StatusCode::BAD_REQUEST,
        mentions: mentions.iter().map(|m| m.to_string()).collect(),
    }
}

/// What every JSON route refuses: malformed, not an object, trailing data, too large.
fn shared_cases() -> Vec<Case> {
    vec![
        case("", &["body", "required"]),
        case("{", &["body", "not valid JSON"]),
        case("{\"", &["body", "not valid JSON"]),
        case("not json", &["body", "not valid JSON"]),
        case("[]", &["body", "must be a JSON object"]),
        case("[\"u1\", 5]", &["must be a JSON object"]),
        case("\"u1\"", &["must be a JSON object"]),
        case("null", &["must be a JSON object"]),
        Case {
            body: j!({ "external_user_id": "x".repeat(70 * 1024) }).to_string(),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            mentions: vec!["body".into(), "limit".into()],
        },
    ]
}

/// The routes, the key role they need, and the cases of their own fields.
fn routes() -> Vec<(&'static str, bool, Vec<Case>)> {
    let long_user = "u".repeat(257);
    let long_text = "r".repeat(201);
    let amount_cases = || {
        vec![
            case(
                r#"{"credits": 1, "reason": "x", "extra": true}"#,
                &["unknown field `extra`"],
            ),
            case(r#"{"credits": 1}"#, &["missing field `reason`"]),
            case(r#"{"credits": 1, "reason": ""}"#, &["reason", "1 to 200"]),
            case(r#"{"credits": 1, "reason": "   "}"#, &["reason"]),
            case(
                format!(r#"{{"credits": 1, "reason": "{long_text}"}}"#),
                &["reason", "200"],
            ),
            case(
                r#"{"credits": 1, "reason": 7}"#,
                &["reason", "invalid type"],
            ),
            case(
                r#"{"credits": 1, "reason": "x", "reference_id": 12}"#,
                &["reference_id", "invalid type"],
            ),
            case(
                r#"{"credits": 1, "reason": "x", "reference_id": ""}"#,
                &["reference_id"],
            ),
            case(
                format!(r#"{{"credits": 1, "reason": "x", "reference_id": "{long_text}"}}"#),
                &["reference_id", "200"],
            ),
            case(
                r#"{"credits": "1", "reason": "x"}"#,
                &["credits", "invalid type"],
            ),
            case(
                r#"{"credits": 1, "credits": 2, "reason": "x"}"#,
                &["duplicate field `credits`"],
            ),
            case(
                r#"{"credits": 1, "reason": "x"} {}"#,
                &["body", "after the object"],
            ),
        ]
    };
    let user_cases = |extra: &str| {
        vec![
            case(
                format!(r#"{{{extra}"external_user_id": "u1", "extra": 1}}"#),
                &["unknown field `extra`"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": 42}}"#),
                &["external_user_id", "invalid type"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": ""}}"#),
                &["external_user_id"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": " "}}"#),
                &["external_user_id"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": "{long_user}"}}"#),
                &["external_user_id", "256"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": "a\nb"}}"#),
                &["external_user_id", "control"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": null}}"#),
                &["external_user_id"],
            ),
            case(
                format!(r#"{{{extra}"external_user_id": "u1"}} x"#),
                &["body", "after the object"],
            ),
        ]
    };
    let mut request = user_cases("");
    request.push(case("{}", &["missing field `external_user_id`"]));
    let mut generate = user_cases("");
    generate.push(case("{}", &["missing field `external_user_id`"]));
    let mut redeem = user_cases(r#""code": "ROO-00000000", "#);
    redeem.push(case(
        r#"{"external_user_id": "u1"}"#,
        &["missing field `code`"],
    ));
    redeem.push(case(
        r#"{"external_user_id": "u1", "code": 5}"#,
        &["code", "invalid type"],
    ));
    redeem.push(case(r#"{"external_user_id": "u1", "code": ""}"#, &["code"]));
    let mut reject = vec![
        case(r#"{"reason": "spam"}"#, &["unknown field `reason`"]),
        case("{} {}", &["body", "after the object"]),
    ];
    reject.extend(
        shared_cases()
            .into_iter()
            .filter(|c| !c.body.is_empty() && c.body.len() < 1024),
    );
    vec![
        ("/v1/users/u1/deduct", false, amount_cases()),
        ("/v1/users/u1/reward", false, amount_cases()),
        (
            "/v1/users/u1/reward",
            false,
            vec![Case {
                body: format!(
                    r#"{{"credits": 1, "reason": "x", "reference_id": "{}"}}"#,
                    "r".repeat(70 * 1024)
                ),
                status: StatusCode::PAYLOAD_TOO_LARGE,
                mentions: vec!["limit".into()],
            }],
        ),
        ("/v1/codes/request", false, request),
        ("/v1/codes/redeem", false, redeem),
        ("/v1/admin/codes/generate", true, generate),
        ("/v1/admin/codes/requests/no-such/reject", true, reject),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_route_refuses_bad_input_and_writes_nothing() {
    let node = node().await;
    let server = Roo::server(&node, "rooverse");
    let admin = Roo::admin(&node, "rooverse");
    for (path, needs_admin, cases) in routes() {
        let roo = if needs_admin { &admin } else { &server };
        let mut all = cases;
        if !path.ends_with("/reject") {
            all.extend(shared_cases());
        }
        for c in all {
            let shown: String = c.body.chars().take(70).collect();
            let res = roo
                .post_raw(path, c.body.clone(), &[("Idempotency-Key", "bad-input")])
                .await;
            let (status, body) = reply_text(res).await;
            let mentions: Vec<&str> = c.mentions.iter().map(String::as_str).collect();
            let got = (status, parse(status, &body));
            assert_eq!(got.0, c.status, "{path} {shown:?}: {body}");
            let message = expect_error(got, c.status, &mentions);
            assert!(
                message.len() < 600,
                "{path} {shown:?}: the message echoes the body"
            );
        }
    }

    // Paths: a user id too long is named.
    let long = "u".repeat(300);
    let got = server
        .post(
            &format!("/v1/users/{long}/reward"),
            &j!({"credits": 1, "reason": "x"}),
        )
        .await;
    expect_error(got, StatusCode::BAD_REQUEST, &["external_user_id"]);
    let got = server.get(&format!("/v1/users/{long}/balance")).await;
    expect_error(got, StatusCode::BAD_REQUEST, &["external_user_id"]);

    for table in [
        "credit_accounts",
        "credit_transactions",
        "promo_code_requests",
        "promo_codes",
        "outbox",
        "idempotency_keys",
    ] {
        assert_eq!(
            count(&node, &format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
}
