//! Timestamp units: Binance milliseconds / microseconds → [`UnixNanos`].
//!
//! REST and WebSocket payloads use milliseconds. data.binance.vision **spot** archives switched
//! to microseconds for files dated 2025-01-01 and later (USD-M archives stay in milliseconds).
//! [`archive_ts_to_ns`] detects the unit from the number of digits, so the caller need not know
//! the file date.
//!
//! Also the workspace's one place for human time text: RFC 3339 in and out
//! ([`rfc3339_to_ns`], [`ns_to_rfc3339`]) and the command line's `--from`/`--to` forms
//! ([`user_time_ms`]). Pure: nothing here reads a clock.

use binance::archive::{TS_UNIT_REASON, TsUnit};
use nautilus_core::UnixNanos;

use crate::error::{Error, Result};

/// Nanoseconds per millisecond.
pub const NANOS_PER_MS: u64 = 1_000_000;
/// Nanoseconds per microsecond.
pub const NANOS_PER_US: u64 = 1_000;

pub use binance::archive::{MS_MAX, MS_MIN, US_MAX, US_MIN};

pub(crate) fn scaled(field: &'static str, raw: u64, factor: u64) -> Result<UnixNanos> {
    raw.checked_mul(factor).map(UnixNanos::from).ok_or_else(|| Error::InvalidTimestamp {
        origin: String::new(),
        field,
        value: raw.to_string(),
        reason: "overflows u64 nanoseconds (after 2554)",
    })
}

/// Milliseconds since the epoch → nanoseconds.
///
/// # Errors
/// [`Error::InvalidTimestamp`] (field `timestamp`) if the result overflows `u64` ns.
pub fn ms_to_ns(ms: u64) -> Result<UnixNanos> {
    scaled("timestamp", ms, NANOS_PER_MS)
}

/// Microseconds since the epoch → nanoseconds.
///
/// # Errors
/// [`Error::InvalidTimestamp`] (field `timestamp`) if the result overflows `u64` ns.
pub fn us_to_ns(us: u64) -> Result<UnixNanos> {
    scaled("timestamp", us, NANOS_PER_US)
}

/// An archive timestamp in ms or µs → nanoseconds, the unit detected by its digit count
/// ([`binance::archive::TsUnit::detect`], shared with the simulator's replay).
///
/// Rule: 13 digits ([`MS_MIN`]..=[`MS_MAX`]) are milliseconds, 16 digits
/// ([`US_MIN`]..=[`US_MAX`]) are microseconds. Both ranges cover 2001-09-09 to 2286-11-20, so
/// every Binance date is unambiguous (first µs value of 2025: `1735689600000000`, 16 digits;
/// last ms value of 2024: `1735689599999`, 13 digits). Any other length (seconds,
/// nanoseconds, a truncated value) is refused instead of being silently misread.
///
/// # Errors
/// [`Error::InvalidTimestamp`] (field `timestamp`) for any other digit count.
pub fn archive_ts_to_ns(raw: u64) -> Result<UnixNanos> {
    archive_field("timestamp", raw)
}

pub(crate) fn archive_field(field: &'static str, raw: u64) -> Result<UnixNanos> {
    match TsUnit::detect(raw) {
        Ok(TsUnit::Millis) => scaled(field, raw, NANOS_PER_MS),
        Ok(TsUnit::Micros) => scaled(field, raw, NANOS_PER_US),
        Err(_) => Err(Error::InvalidTimestamp {
            origin: String::new(),
            field,
            value: raw.to_string(),
            reason: TS_UNIT_REASON,
        }),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC, as in the USD-M `metrics` archive) → nanoseconds.
///
/// # Errors
/// [`Error::InvalidTimestamp`] (field `timestamp`) if the text is not in that exact form
/// or names an impossible date/time, or is before 1970.
pub fn parse_utc_datetime(s: &str) -> Result<UnixNanos> {
    utc_field("timestamp", s)
}

pub(crate) fn utc_field(field: &'static str, s: &str) -> Result<UnixNanos> {
    let bad = |reason| Error::InvalidTimestamp { origin: String::new(), field, value: s.to_string(), reason };
    let b = s.as_bytes();
    let shape_ok = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad("expected `YYYY-MM-DD HH:MM:SS`"));
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or(-1);
    let (y, mo, d, h, mi, se) = (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || d < 1 || d > mdays[(mo - 1) as usize] || h > 23 || mi > 59 || se > 59 {
        return Err(bad("not a valid date/time"));
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    let secs = u64::try_from(secs).map_err(|_| bad("before 1970"))?;
    scaled(field, secs, 1_000_000_000)
}

/// An RFC 3339 time (`2024-01-01T00:00:00Z`, any offset) → nanoseconds; `field` names the
/// setting or key in the error.
///
/// # Errors
/// [`Error::InvalidTimestamp`] for text that is not RFC 3339, or a time before 1970 or after 2262.
pub fn rfc3339_to_ns(field: &'static str, s: &str) -> Result<UnixNanos> {
    let bad = |reason| Error::InvalidTimestamp { origin: String::new(), field, value: s.to_string(), reason };
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| bad("not RFC 3339 (e.g. 2024-01-31T00:00:00Z)"))?;
    let ns = t.timestamp_nanos_opt().ok_or_else(|| bad("after 2262"))?;
    u64::try_from(ns).map(UnixNanos::from).map_err(|_| bad("before 1970"))
}

/// Nanoseconds → RFC 3339 UTC with as many fraction digits as needed (`2024-01-01T00:00:00Z`,
/// `…T00:00:00.250Z`).
#[must_use]
pub fn ns_to_rfc3339(ns: u64) -> String {
    let ns = i64::try_from(ns).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A command-line time: `2024-01-31` (UTC midnight), an RFC 3339 time or milliseconds since the
/// epoch → milliseconds; `flag` names the option in the error.
///
/// # Errors
/// [`Error::InvalidTimestamp`] naming the flag and the accepted forms.
pub fn user_time_ms(flag: &'static str, s: &str) -> Result<u64> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let ms = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
        if let Some(ms) = ms.and_then(|m| u64::try_from(m).ok()) {
            return Ok(ms);
        }
    }
    rfc3339_to_ns(flag, s).map(|ns| ns.as_u64() / NANOS_PER_MS).map_err(|_| Error::InvalidTimestamp {
        origin: String::new(),
        field: flag,
        value: s.to_string(),
        reason: "expected YYYY-MM-DD, an RFC 3339 time (2024-01-31T12:00:00Z) or ms since the epoch",
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::zero(0, 0)]
    #[case::kline(1_634_943_780_000, 1_634_943_780_000_000_000)]
    fn millis_to_nanos(#[case] ms: u64, #[case] ns: u64) {
        assert_eq!(ms_to_ns(ms), Ok(UnixNanos::from(ns)));
    }

    #[test]
    fn ms_overflow_is_an_error() {
        assert_eq!(
            ms_to_ns(u64::MAX / 1000),
            Err(Error::InvalidTimestamp {
                origin: String::new(),
                field: "timestamp",
                value: (u64::MAX / 1000).to_string(),
                reason: "overflows u64 nanoseconds (after 2554)"
            })
        );
    }

    #[rstest]
    #[case::micros(1_735_689_600_000_000, 1_735_689_600_000_000_000)]
    fn micros_to_nanos(#[case] us: u64, #[case] ns: u64) {
        assert_eq!(us_to_ns(us), Ok(UnixNanos::from(ns)));
    }

    #[rstest]
    #[case::millis_2021(1_637_971_200_000, 1_637_971_200_000_000_000)]
    #[case::last_ms_of_2024(1_735_689_599_999, 1_735_689_599_999_000_000)]
    #[case::first_us_of_2025(1_735_689_600_000_000, 1_735_689_600_000_000_000)]
    #[case::micros_close_time(1_735_689_659_999_999, 1_735_689_659_999_999_000)]
    #[case::ms_lower_bound(MS_MIN, MS_MIN * 1_000_000)]
    #[case::ms_upper_bound(MS_MAX, MS_MAX * 1_000_000)]
    #[case::us_lower_bound(US_MIN, US_MIN * 1_000)]
    #[case::us_upper_bound(US_MAX, US_MAX * 1_000)]
    fn archive_units(#[case] raw: u64, #[case] ns: u64) {
        assert_eq!(archive_ts_to_ns(raw), Ok(UnixNanos::from(ns)));
    }

    #[rstest]
    #[case::zero(0)]
    #[case::seconds(1_735_689_600)]
    #[case::twelve_digits(MS_MIN - 1)]
    #[case::fourteen_digits(MS_MAX + 1)]
    #[case::fifteen_digits(US_MIN - 1)]
    #[case::seventeen_digits(US_MAX + 1)]
    #[case::nanos(1_735_689_600_000_000_000)]
    fn archive_ambiguous_lengths_are_refused(#[case] raw: u64) {
        assert_eq!(
            archive_ts_to_ns(raw),
            Err(Error::InvalidTimestamp {
                origin: String::new(),
                field: "timestamp",
                value: raw.to_string(),
                reason: "neither 13 digits (ms) nor 16 digits (µs)"
            })
        );
    }

    #[rstest]
    #[case::utc("2024-01-31T12:00:00Z", 1_706_702_400_000_000_000)]
    #[case::offset("2024-01-31T13:00:00+01:00", 1_706_702_400_000_000_000)]
    #[case::fraction("2024-01-31T12:00:00.25Z", 1_706_702_400_250_000_000)]
    fn rfc3339_round_trips(#[case] s: &str, #[case] ns: u64) {
        assert_eq!(rfc3339_to_ns("start", s), Ok(UnixNanos::from(ns)));
        assert_eq!(rfc3339_to_ns("start", &ns_to_rfc3339(ns)), Ok(UnixNanos::from(ns)));
    }

    #[test]
    fn rfc3339_formats_with_the_digits_needed() {
        assert_eq!(ns_to_rfc3339(1_706_702_400_000_000_000), "2024-01-31T12:00:00Z");
        assert_eq!(ns_to_rfc3339(1_706_702_400_250_000_000), "2024-01-31T12:00:00.250Z");
        assert_eq!(
            rfc3339_to_ns("end", "2024-01-31"),
            Err(Error::InvalidTimestamp {
                origin: String::new(),
                field: "end",
                value: "2024-01-31".into(),
                reason: "not RFC 3339 (e.g. 2024-01-31T00:00:00Z)"
            })
        );
    }

    #[rstest]
    #[case::date("2024-01-31", 1_706_659_200_000)]
    #[case::rfc3339("2024-01-31T12:00:00Z", 1_706_702_400_000)]
    #[case::millis("1706659200000", 1_706_659_200_000)]
    fn user_times(#[case] s: &str, #[case] ms: u64) {
        assert_eq!(user_time_ms("--from", s), Ok(ms));
    }

    #[test]
    fn bad_user_time_names_the_flag() {
        assert_eq!(
            user_time_ms("--to", "yesterday").unwrap_err().to_string(),
            "field `--to`: invalid timestamp \"yesterday\": expected YYYY-MM-DD, an RFC 3339 time \
             (2024-01-31T12:00:00Z) or ms since the epoch"
        );
    }

    #[rstest]
    #[case::epoch("1970-01-01 00:00:00", 0)]
    #[case::new_year_2025("2025-01-01 00:00:00", 1_735_689_600)]
    #[case::metrics_row("2023-01-21 00:05:00", 1_674_259_500)]
    #[case::leap_day("2024-02-29 23:59:59", 1_709_251_199)]
    fn utc_datetimes(#[case] s: &str, #[case] secs: u64) {
        assert_eq!(parse_utc_datetime(s), Ok(UnixNanos::from(secs * 1_000_000_000)));
    }

    #[rstest]
    #[case::date_only("2023-01-21", "expected `YYYY-MM-DD HH:MM:SS`")]
    #[case::iso_t("2023-01-21T00:05:00", "expected `YYYY-MM-DD HH:MM:SS`")]
    #[case::garbage("garbage", "expected `YYYY-MM-DD HH:MM:SS`")]
    #[case::feb_30("2023-02-30 00:00:00", "not a valid date/time")]
    #[case::hour_24("2023-01-01 24:00:00", "not a valid date/time")]
    #[case::pre_epoch("1969-12-31 23:59:59", "before 1970")]
    fn bad_utc_datetimes(#[case] s: &str, #[case] reason: &'static str) {
        assert_eq!(
            parse_utc_datetime(s),
            Err(Error::InvalidTimestamp { origin: String::new(), field: "timestamp", value: s.into(), reason })
        );
    }
}
