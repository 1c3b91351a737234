//! Time on the RedRoomRewards wire: business rules are evaluated in America/Toronto
//! (contract §1.7, §4.4), and every timestamp is shown as ISO-8601 with the Toronto
//! offset (`2026-01-15T00:00:00-05:00`). The ledger stores RFC 3339 UTC.

use std::sync::OnceLock;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// The zone of business rules.
pub const ZONE: &str = "America/Toronto";

fn toronto() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get(ZONE).unwrap_or(TimeZone::UTC))
}

fn parse_utc(t: &str) -> Option<Timestamp> {
    t.parse().ok()
}

fn utc(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A stored time (RFC 3339 UTC) as the wire shows it: Toronto time with its offset,
/// whole seconds. A malformed input is returned as it is.
pub fn wire(t: &str) -> String {
    match parse_utc(t) {
        Some(ts) => ts
            .to_zoned(toronto().clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        None => t.to_string(),
    }
}

/// A wire time (ISO-8601 with an offset or `Z`) as the ledger stores it (UTC, whole
/// seconds).
///
/// # Errors
/// A message when `t` is not a time with an offset.
pub fn stored(t: &str) -> Result<String, String> {
    t.trim().parse::<Timestamp>().map(utc).map_err(|_| {
        "must be an ISO-8601 time with an offset, such as 2026-12-23T00:00:00-05:00".into()
    })
}

/// `t` (RFC 3339 UTC) plus `secs`, RFC 3339 UTC.
pub fn plus_secs(t: &str, secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 4);
    parse_utc(t)
        .and_then(|ts| ts.checked_add(SignedDuration::from_secs(secs)).ok())
        .map_or_else(|| t.to_string(), utc)
}

fn date_of(t: &str) -> Option<Date> {
    Some(parse_utc(t)?.to_zoned(toronto().clone()).date())
}

/// The Toronto day of `t` (RFC 3339 UTC): `YYYY-MM-DD`.
pub fn day(t: &str) -> String {
    date_of(t).map_or_else(|| t.chars().take(10).collect(), |d| d.to_string())
}

/// The Toronto month of `t` (RFC 3339 UTC): `YYYY-MM`.
pub fn month(t: &str) -> String {
    day(t).chars().take(7).collect()
}

/// The start (midnight, Toronto) of day `d`, RFC 3339 UTC.
pub fn day_start(d: Date) -> String {
    d.to_zoned(toronto().clone())
        .map(|z| utc(z.timestamp()))
        .unwrap_or_else(|_| format!("{d}T00:00:00Z"))
}

/// The end of the Toronto day `days` days after the day of `now`: midnight at the
/// start of the day after it, RFC 3339 UTC. A lot expiring then is spendable all of
/// that day.
pub fn end_of_day_after(now: &str, days: u32) -> String {
    let Some(today) = date_of(now) else {
        return now.to_string();
    };
    let day = today
        .checked_add(i64::from(days).days())
        .and_then(|d| d.tomorrow())
        .unwrap_or(today);
    day_start(day)
}

/// Parses a query date: `YYYY-MM-DD` (a Toronto day) or a time with an offset;
/// returns the Toronto day.
///
/// # Errors
/// A message when it is neither.
pub fn query_day(s: &str) -> Result<Date, String> {
    let s = s.trim();
    if let Ok(d) = s.parse::<Date>() {
        return Ok(d);
    }
    stored(s)
        .ok()
        .and_then(|t| date_of(&t))
        .ok_or_else(|| "must be a date (2026-01-31) or a time with an offset".into())
}

/// Parses a query bound of the ledger: a date (its Toronto midnight) or a time with
/// an offset; RFC 3339 UTC.
///
/// # Errors
/// A message when it is neither.
pub fn query_time(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Ok(d) = s.parse::<Date>() {
        return Ok(day_start(d));
    }
    stored(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toronto_offsets_follow_daylight_saving() {
        assert_eq!(wire("2026-01-15T05:00:00Z"), "2026-01-15T00:00:00-05:00");
        assert_eq!(wire("2026-07-01T04:00:00Z"), "2026-07-01T00:00:00-04:00");
        assert_eq!(
            stored("2026-01-15T00:00:00-05:00").unwrap(),
            "2026-01-15T05:00:00Z"
        );
        assert!(
            stored("2026-01-15T00:00:00").is_err(),
            "an offset is required"
        );
    }

    #[test]
    fn days_are_toronto_days() {
        // 03:00 UTC on Dec 1 is still Nov 30 in Toronto.
        assert_eq!(day("2026-12-01T03:00:00Z"), "2026-11-30");
        assert_eq!(month("2026-12-01T03:00:00Z"), "2026-11");
        // 365 days after Nov 30, 2026 is Nov 30, 2027; it ends at midnight Dec 1
        // Toronto (05:00 UTC).
        assert_eq!(
            end_of_day_after("2026-12-01T03:00:00Z", 365),
            "2027-12-01T05:00:00Z"
        );
        assert_eq!(
            end_of_day_after("2026-06-10T12:00:00Z", 0),
            "2026-06-11T04:00:00Z"
        );
        assert_eq!(query_time("2026-03-01").unwrap(), "2026-03-01T05:00:00Z");
        assert_eq!(
            plus_secs("2026-01-01T00:00:00Z", 90),
            "2026-01-01T00:01:30Z"
        );
    }
}
