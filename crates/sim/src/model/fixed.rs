//! Integer fixed-point decimals: every number that reaches the wire is an integer count of
//! `10^-scale` units, so payloads are exact and byte-stable (no f64 rounding on the wire).

/// Formats `value` (in units of `10^-scale`) with exactly `display` decimals, rounding half away
/// from zero when `display < scale` and padding with zeros otherwise (`"65000.10000000"`).
#[must_use]
pub fn fmt_fixed(value: i128, scale: u32, display: u32) -> String {
    let v = rescale(value, scale, display);
    let neg = v < 0;
    let abs = v.unsigned_abs();
    let p = 10u128.pow(display);
    let (int, frac) = (abs / p, abs % p);
    let sign = if neg { "-" } else { "" };
    if display == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{frac:0width$}", width = display as usize) }
}

/// Converts between scales, rounding half away from zero when dropping digits.
#[must_use]
pub fn rescale(value: i128, from: u32, to: u32) -> i128 {
    if to >= from { value * 10i128.pow(to - from) } else { div_round(value, 10i128.pow(from - to)) }
}

/// `num / den` rounded half away from zero (`den > 0`).
#[must_use]
pub fn div_round(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den { q + num.signum() } else { q }
}

/// `num / den` as a decimal with `display` decimals (`"0"`-safe when `den == 0`).
#[must_use]
pub fn fmt_ratio(num: i128, den: i128, display: u32) -> String {
    if den == 0 {
        return fmt_fixed(0, 0, display);
    }
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    fmt_fixed(div_round(num * 10i128.pow(display), den), display, display)
}

/// Rounds a positive model quantity (f64, internal only) to integer units.
#[must_use]
pub fn to_units(x: f64, scale: u32) -> i128 {
    (x * 10f64.powi(scale as i32)).round() as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_binance() {
        assert_eq!(fmt_fixed(6_500_010, 2, 8), "65000.10000000");
        assert_eq!(fmt_fixed(3, 3, 3), "0.003");
        assert_eq!(fmt_fixed(-188_095, 2, 8), "-1880.95000000");
        assert_eq!(fmt_fixed(12_345, 4, 2), "1.23");
        assert_eq!(fmt_fixed(12_355, 4, 2), "1.24");
        assert_eq!(fmt_fixed(7, 0, 0), "7");
        assert_eq!(fmt_ratio(2, 3, 4), "0.6667");
        assert_eq!(fmt_ratio(-2, 3, 3), "-0.667");
    }
}
