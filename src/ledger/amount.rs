//! Exact amounts: `i64` minor units and their decimal wire form.
//!
//! A tenant has a `scale`, the number of decimal places of its currency: goop2 credits
//! have scale 0, Roochip ROO scale 2 (hundredths), RRR points scale 0. Decimal text is
//! parsed digit by digit, never through `f64` arithmetic.

use std::fmt;

/// A strictly positive amount in minor units of some tenant's scale.
///
/// Every movement of credits is an `Amount`; the sign of a movement comes from the
/// operation (credit or debit), never from the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

/// Why a decimal value is not a valid amount. The caller adds the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is not a plain decimal number (`12`, `0.5`, `115.50`).
    #[error("must be a decimal number")]
    NotANumber,
    /// More decimal places than the tenant's scale.
    #[error("must have at most {scale} decimal places")]
    TooPrecise {
        /// The tenant's scale.
        scale: u32,
    },
    /// Zero or negative.
    #[error("must be greater than zero")]
    NotPositive,
    /// Larger than the given ceiling (in minor units).
    #[error("must not exceed {max}")]
    TooLarge {
        /// The ceiling, formatted in major units.
        max: String,
    },
}

impl Amount {
    /// An amount of `minor` minor units; `None` unless `minor > 0`.
    pub fn new(minor: i64) -> Option<Amount> {
        (minor > 0).then_some(Amount(minor))
    }

    /// The value in minor units (always > 0).
    pub fn minor(self) -> i64 {
        self.0
    }

    /// Parses decimal text (`"10"`, `"0.01"`, `"115.5"`) at `scale` decimal places.
    ///
    /// Accepts an optional leading `+`, digits, and an optional fraction of at most
    /// `scale` digits; trailing zeros beyond the scale are accepted (`"1.500"` at scale 2).
    /// Rejects exponents, signs other than `+`, empty parts, zero, negatives and values
    /// above `ceiling` minor units.
    ///
    /// # Errors
    /// [`AmountError`] naming the rule that failed.
    pub fn parse_decimal(text: &str, scale: u32, ceiling: i64) -> Result<Amount, AmountError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix('-') {
            if rest.starts_with(['-', '+']) {
                return Err(AmountError::NotANumber);
            }
            return match Amount::parse_decimal(rest, scale, i64::MAX) {
                Err(AmountError::NotANumber) => Err(AmountError::NotANumber),
                _ => Err(AmountError::NotPositive),
            };
        }
        let text = text.strip_prefix('+').unwrap_or(text);
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty()
            || !digits_only(int_part)
            || !digits_only(frac_part)
            || (text.contains('.') && frac_part.is_empty())
        {
            return Err(AmountError::NotANumber);
        }
        let significant_frac = frac_part.trim_end_matches('0');
        if significant_frac.len() > scale as usize {
            return Err(AmountError::TooPrecise { scale });
        }
        let too_large = || AmountError::TooLarge {
            max: format_minor(ceiling, scale),
        };
        let mut minor: i64 = 0;
        for b in int_part.bytes() {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or_else(too_large)?;
        }
        for i in 0..scale as usize {
            let digit = significant_frac.as_bytes().get(i).map_or(0, |b| b - b'0');
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit)))
                .ok_or_else(too_large)?;
        }
        if minor == 0 {
            return Err(AmountError::NotPositive);
        }
        if minor > ceiling {
            return Err(too_large());
        }
        Ok(Amount(minor))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Formats `minor` units at `scale` as the shortest exact decimal: `500` → `"5"`,
/// `550` → `"5.5"`, `12001` → `"120.01"`, `-1000` → `"-10"` (scale 2).
///
/// This is also how JavaScript prints the same number, so a JSON body built with it
/// survives `JSON.stringify(JSON.parse(body))` unchanged.
pub fn format_minor(minor: i64, scale: u32) -> String {
    if scale == 0 {
        return minor.to_string();
    }
    let factor = 10i128.pow(scale);
    let value = i128::from(minor);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.abs();
    let int = abs / factor;
    let frac = abs % factor;
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:0width$}", width = scale as usize);
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

/// `minor` units at `scale` as a JSON number that prints the way JavaScript prints it
/// (`5`, `5.5`, `0.01`, `120.01`): whole values are integers, others the nearest
/// `f64`, which `serde_json` writes as its shortest round-trip form, the same digits
/// as the exact decimal. So a body built with it survives
/// `JSON.stringify(JSON.parse(body))` unchanged (field-notes §3). Exact for up to 15
/// significant digits (every Roochip amount: at most 9,999,999,999.99).
pub fn json_number(minor: i64, scale: u32) -> serde_json::Number {
    let factor = 10i64.pow(scale);
    if minor % factor == 0 {
        return serde_json::Number::from(minor / factor);
    }
    format_minor(minor, scale)
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .unwrap_or_else(|| serde_json::Number::from(minor / factor))
}

impl Amount {
    /// Parses a JSON number (`10`, `0.01`, `115.5`) exactly at `scale`, through its
    /// decimal text (never through `f64` arithmetic).
    ///
    /// # Errors
    /// As [`Amount::parse_decimal`].
    pub fn from_json_number(
        number: &serde_json::Number,
        scale: u32,
        ceiling: i64,
    ) -> Result<Amount, AmountError> {
        Amount::parse_decimal(&number.to_string(), scale, ceiling)
    }
}

/// A decimal in a settings file: a string (`"5.00"`) or a number (`5`, `5.5`), to be
/// parsed exactly ([`Amount::parse_decimal`]). TOML floats are read through their
/// shortest decimal form, never used as floats.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DecimalSetting {
    /// `"5.00"`
    Text(String),
    /// `5`
    Integer(i64),
    /// `5.5`
    Float(f64),
}

impl DecimalSetting {
    /// The decimal text.
    pub fn text(&self) -> String {
        match self {
            DecimalSetting::Text(s) => s.clone(),
            DecimalSetting::Integer(i) => i.to_string(),
            DecimalSetting::Float(f) => f.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEIL: i64 = 999_999_999_999;

    #[test]
    fn parses_exact_decimals_at_scale_two() {
        assert_eq!(Amount::parse_decimal("0.01", 2, CEIL).unwrap().minor(), 1);
        assert_eq!(
            Amount::parse_decimal("115.5", 2, CEIL).unwrap().minor(),
            11550
        );
        assert_eq!(Amount::parse_decimal("10", 2, CEIL).unwrap().minor(), 1000);
        assert_eq!(
            Amount::parse_decimal("1.500", 2, CEIL).unwrap().minor(),
            150
        );
        assert_eq!(
            Amount::parse_decimal("9999999999.99", 2, CEIL)
                .unwrap()
                .minor(),
            CEIL
        );
    }

    #[test]
    fn rejects_what_is_not_an_exact_positive_amount() {
        assert_eq!(
            Amount::parse_decimal("0.001", 2, CEIL),
            Err(AmountError::TooPrecise { scale: 2 })
        );
        assert_eq!(
            Amount::parse_decimal("0", 2, CEIL),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            Amount::parse_decimal("-1", 2, CEIL),
            Err(AmountError::NotPositive)
        );
        for bad in [
            "", ".", "1.", ".5", "1e3", "NaN", "inf", "1,5", "0x10", "--1",
        ] {
            assert_eq!(
                Amount::parse_decimal(bad, 2, CEIL),
                Err(AmountError::NotANumber),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Amount::parse_decimal("10000000000", 2, CEIL),
            Err(AmountError::TooLarge { .. })
        ));
        assert!(matches!(
            Amount::parse_decimal("99999999999999999999999", 0, i64::MAX),
            Err(AmountError::TooLarge { .. })
        ));
        assert_eq!(
            Amount::parse_decimal("1.5", 0, CEIL),
            Err(AmountError::TooPrecise { scale: 0 })
        );
    }

    #[test]
    fn json_numbers_print_like_javascript_and_parse_back_exactly() {
        for (minor, text) in [
            (500, "5"),
            (550, "5.5"),
            (1, "0.01"),
            (12001, "120.01"),
            (CEIL, "9999999999.99"),
            (-1000, "-10"),
            (7, "0.07"),
            (11550, "115.5"),
        ] {
            let n = json_number(minor, 2);
            assert_eq!(serde_json::to_string(&n).unwrap(), text);
            if minor > 0 {
                assert_eq!(
                    Amount::from_json_number(&n, 2, CEIL).unwrap().minor(),
                    minor
                );
            }
        }
        let parsed: serde_json::Number = serde_json::from_str("0.001").unwrap();
        assert_eq!(
            Amount::from_json_number(&parsed, 2, CEIL),
            Err(AmountError::TooPrecise { scale: 2 })
        );
        let parsed: serde_json::Number = serde_json::from_str("1e-2").unwrap();
        assert_eq!(
            Amount::from_json_number(&parsed, 2, CEIL).unwrap().minor(),
            1
        );
        let parsed: serde_json::Number = serde_json::from_str("100.10").unwrap();
        assert_eq!(
            Amount::from_json_number(&parsed, 2, CEIL).unwrap().minor(),
            10010
        );
        let mut sum = 0;
        for _ in 0..100 {
            let n: serde_json::Number = serde_json::from_str("0.01").unwrap();
            sum += Amount::from_json_number(&n, 2, CEIL).unwrap().minor();
        }
        assert_eq!(sum, 100);
    }

    #[test]
    fn formats_like_javascript_prints_numbers() {
        assert_eq!(format_minor(500, 2), "5");
        assert_eq!(format_minor(550, 2), "5.5");
        assert_eq!(format_minor(12001, 2), "120.01");
        assert_eq!(format_minor(1, 2), "0.01");
        assert_eq!(format_minor(-1000, 2), "-10");
        assert_eq!(format_minor(0, 2), "0");
        assert_eq!(format_minor(450, 0), "450");
        assert_eq!(format_minor(CEIL, 2), "9999999999.99");
    }
}
