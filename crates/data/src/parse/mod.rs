//! Pure conversions from Binance wire records (REST/WS JSON, data.binance.vision CSV rows) to
//! NautilusTrader values, one module per noun.
//!
//! Rules shared by every parser:
//! - **Pure**: no clock, no I/O. Where a record does not carry the time it became known, the
//!   caller passes `ts_init`.
//! - **Exact decimals**: prices, sizes and rates go string → [`Decimal`] → `Price`/`Quantity` at
//!   the instrument precision. Trailing zeros are dropped (Binance sends `"65000.10000000"` for a
//!   0.01 tick), but a value with non-zero digits beyond the precision is an error
//!   ([`Error::PrecisionLoss`]): it means the instrument does not match the data.
//! - **No look-ahead**: `ts_init` is the time the value became knowable (a kline at its close,
//!   a statistic at the end of its period, a trade when it happened).
//! - Errors carry the field and value; the caller labels the source with
//!   [`ResultExt::at`](crate::error::ResultExt::at).

pub mod book_sync;
pub mod depth;
pub mod funding;
pub mod instrument;
pub mod kline;
pub mod liquidation;
pub mod metrics;
pub mod prices;
pub mod quote;
pub mod recording;
pub mod time;
pub mod trade;

use nautilus_model::types::{Price, Quantity};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::{Error, Result};

/// Number of decimals of `d` once trailing zeros are dropped (`"0.01000000"` → 2).
///
/// # Errors
/// None: infallible.
#[must_use]
pub fn significant_scale(d: Decimal) -> u32 {
    d.normalize().scale()
}

/// Parses a Binance decimal string exactly (digits, one optional `.`, optional leading `-`).
///
/// # Errors
/// [`Error::InvalidDecimal`] for anything else (empty, exponent, spaces, too many digits).
pub fn parse_decimal(s: &str, field: &'static str) -> Result<Decimal> {
    let bad = || Error::InvalidDecimal { origin: String::new(), field, value: s.to_string() };
    let body = s.strip_prefix('-').unwrap_or(s);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let dots = body.bytes().filter(|b| *b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != body.len() {
        return Err(bad());
    }
    Decimal::from_str_exact(s).map_err(|_| bad())
}

/// Parses a price and converts it to `precision` decimals without loss.
///
/// # Errors
/// [`Error::InvalidDecimal`], [`Error::PrecisionLoss`] if non-zero digits lie beyond
/// `precision`, [`Error::OutOfRange`] if the value does not fit a `Price`.
pub fn parse_price(s: &str, field: &'static str, precision: u8) -> Result<Price> {
    price_from_decimal(parse_decimal(s, field)?, s, field, precision)
}

/// Parses a non-negative size and converts it to `precision` decimals without loss.
///
/// # Errors
/// As [`parse_price`]; negative values are [`Error::OutOfRange`].
pub fn parse_quantity(s: &str, field: &'static str, precision: u8) -> Result<Quantity> {
    quantity_from_decimal(parse_decimal(s, field)?, s, field, precision)
}

pub(crate) fn check_scale(d: Decimal, raw: &str, field: &'static str, precision: u8) -> Result<()> {
    if significant_scale(d) > u32::from(precision) {
        return Err(Error::PrecisionLoss { origin: String::new(), field, value: raw.to_string(), precision });
    }
    Ok(())
}

pub(crate) fn price_from_decimal(d: Decimal, raw: &str, field: &'static str, precision: u8) -> Result<Price> {
    check_scale(d, raw, field, precision)?;
    Price::from_decimal_dp(d, precision).map_err(|e| out_of_range(field, raw, e))
}

pub(crate) fn quantity_from_decimal(d: Decimal, raw: &str, field: &'static str, precision: u8) -> Result<Quantity> {
    if d.is_sign_negative() && !d.is_zero() {
        return Err(out_of_range(field, raw, "must not be negative"));
    }
    check_scale(d, raw, field, precision)?;
    Quantity::from_decimal_dp(d, precision).map_err(|e| out_of_range(field, raw, e))
}

pub(crate) fn out_of_range(field: &'static str, value: impl ToString, reason: impl ToString) -> Error {
    Error::OutOfRange { origin: String::new(), field, value: value.to_string(), reason: reason.to_string() }
}

pub(crate) fn inconsistent(field: &'static str, value: impl ToString, reason: impl ToString) -> Error {
    Error::Inconsistent { origin: String::new(), field, value: value.to_string(), reason: reason.to_string() }
}

/// Parses an unsigned integer written in decimal digits.
///
/// # Errors
/// [`Error::InvalidInteger`].
pub fn parse_u64(s: &str, field: &'static str) -> Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidInteger { origin: String::new(), field, value: s.to_string() });
    }
    s.parse().map_err(|_| Error::InvalidInteger { origin: String::new(), field, value: s.to_string() })
}

/// Parses `true`/`false` (any ASCII case: archives write Python's `True`/`False`).
///
/// # Errors
/// [`Error::InvalidBool`].
pub fn parse_bool(s: &str, field: &'static str) -> Result<bool> {
    if s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Error::InvalidBool { origin: String::new(), field, value: s.to_string() })
    }
}

/// Parses a statistic (ratio, volume) as `f64`, after checking it is a plain decimal.
pub(crate) fn parse_stat(s: &str, field: &'static str) -> Result<f64> {
    parse_decimal(s, field)?;
    s.parse::<f64>().map_err(|_| Error::InvalidDecimal { origin: String::new(), field, value: s.to_string() })
}

// Archive CSV framing is shared with the simulator's replay: `binance::archive`.
// `is_csv_header`: the first field is non-empty and does not start like a number or a date.
// `csv_fields`: one unquoted line split on `,`, fields trimmed.
// `csv_data_lines`: `(1-based line, line)` without a BOM, blank lines, or a header on the first
// non-blank line; a non-numeric line further down is returned (and then fails to parse).
pub use binance::archive::{csv_lines as csv_data_lines, fields as csv_fields, is_header as is_csv_header};

pub(crate) fn check_columns(fields: &[&str], expected: &'static str, ok: bool) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::ColumnCount { origin: String::new(), expected, got: fields.len() }) }
}

/// The payload of a combined-stream frame `{"stream": .., "data": {..}}`, else `v` itself.
///
/// # Errors
/// None: infallible.
#[must_use]
pub fn unwrap_stream(v: &Value) -> &Value {
    match (v.get("stream"), v.get("data")) {
        (Some(_), Some(data)) => data,
        _ => v,
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn invalid_type(field: &'static str, expected: &'static str, v: &Value) -> Error {
    let mut value = v.to_string();
    if value.len() > 80 {
        value.truncate(80);
        value.push('…');
    }
    let value = format!("{} {value}", json_type(v));
    Error::InvalidType { origin: String::new(), field, expected, value }
}

pub(crate) fn get<'a>(v: &'a Value, field: &'static str) -> Result<&'a Value> {
    match v.get(field) {
        Some(Value::Null) | None => Err(Error::MissingField { origin: String::new(), field }),
        Some(x) => Ok(x),
    }
}

pub(crate) fn as_str<'a>(x: &'a Value, field: &'static str) -> Result<&'a str> {
    x.as_str().ok_or_else(|| invalid_type(field, "string", x))
}

pub(crate) fn get_str<'a>(v: &'a Value, field: &'static str) -> Result<&'a str> {
    as_str(get(v, field)?, field)
}

/// An integer sent as a JSON number or, as the `/futures/data` statistics do, as a string.
pub(crate) fn as_u64(x: &Value, field: &'static str) -> Result<u64> {
    match x {
        Value::Number(n) => {
            n.as_u64().ok_or_else(|| Error::InvalidInteger { origin: String::new(), field, value: n.to_string() })
        }
        Value::String(s) => parse_u64(s, field),
        other => Err(invalid_type(field, "integer", other)),
    }
}

pub(crate) fn get_u64(v: &Value, field: &'static str) -> Result<u64> {
    as_u64(get(v, field)?, field)
}

pub(crate) fn get_bool(v: &Value, field: &'static str) -> Result<bool> {
    let x = get(v, field)?;
    x.as_bool().ok_or_else(|| invalid_type(field, "boolean", x))
}

pub(crate) fn get_decimal(v: &Value, field: &'static str) -> Result<Decimal> {
    parse_decimal(get_str(v, field)?, field)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::plain("65000.10", "65000.10")]
    #[case::trailing_zeros("0.01000000", "0.01000000")]
    #[case::negative("-0.03750000", "-0.03750000")]
    #[case::integer("10", "10")]
    fn decimals_parse_exactly(#[case] s: &str, #[case] want: &str) {
        assert_eq!(parse_decimal(s, "x").unwrap().to_string(), want);
    }

    #[rstest]
    #[case::empty("")]
    #[case::garbage("abc")]
    #[case::exponent("1e-3")]
    #[case::two_dots("1.2.3")]
    #[case::space(" 1.0")]
    #[case::plus("+1")]
    #[case::nan("NaN")]
    #[case::lone_minus("-")]
    fn bad_decimals_are_rejected(#[case] s: &str) {
        assert_eq!(
            parse_decimal(s, "price"),
            Err(Error::InvalidDecimal { origin: String::new(), field: "price", value: s.to_string() })
        );
    }

    #[rstest]
    #[case::rescaled("65000.10000000", 2, "65000.10")]
    #[case::zero("0.00000000", 2, "0.00")]
    #[case::widened("65000.1", 4, "65000.1000")]
    fn prices_rescale_without_loss(#[case] s: &str, #[case] precision: u8, #[case] want: &str) {
        let p = parse_price(s, "close", precision).unwrap();
        assert_eq!((p.to_string().as_str(), p.precision), (want, precision));
    }

    #[test]
    fn price_with_digits_beyond_precision_is_refused() {
        assert_eq!(
            parse_price("65000.105", "close", 2),
            Err(Error::PrecisionLoss {
                origin: String::new(),
                field: "close",
                value: "65000.105".into(),
                precision: 2
            })
        );
    }

    #[test]
    fn negative_quantity_is_out_of_range() {
        assert!(matches!(
            parse_quantity("-1.0", "volume", 1),
            Err(Error::OutOfRange { field: "volume", ref value, ref reason, .. })
                if value == "-1.0" && reason == "must not be negative"
        ));
    }

    #[rstest]
    #[case::numeric("1637971200000,0.1", false)]
    #[case::header("open_time,open", true)]
    #[case::blank("", false)]
    fn header_detection(#[case] line: &str, #[case] header: bool) {
        assert_eq!(is_csv_header(line), header);
    }

    #[test]
    fn only_the_first_line_may_be_a_header() {
        let lines: Vec<_> = csv_data_lines("a,b\n1,2\n\nx,3\n").collect();
        assert_eq!(lines, vec![(2, "1,2"), (4, "x,3")]);
    }

    #[rstest]
    #[case::lower("true", true)]
    #[case::python("False", false)]
    fn bools(#[case] s: &str, #[case] want: bool) {
        assert_eq!(parse_bool(s, "m"), Ok(want));
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        let v = serde_json::json!({"a": 1583127900000u64, "b": "1583127900000", "c": -1, "d": "12x", "e": 1.5});
        assert_eq!(get_u64(&v, "a"), Ok(1_583_127_900_000));
        assert_eq!(get_u64(&v, "b"), Ok(1_583_127_900_000));
        assert_eq!(
            get_u64(&v, "c"),
            Err(Error::InvalidInteger { origin: String::new(), field: "c", value: "-1".into() })
        );
        assert_eq!(
            get_u64(&v, "d"),
            Err(Error::InvalidInteger { origin: String::new(), field: "d", value: "12x".into() })
        );
        assert_eq!(
            get_u64(&v, "e"),
            Err(Error::InvalidInteger { origin: String::new(), field: "e", value: "1.5".into() })
        );
        assert_eq!(get_u64(&v, "zz"), Err(Error::MissingField { origin: String::new(), field: "zz" }));
    }
}
