//! Kubernetes resource quantities (`100m`, `1.5`, `64Mi`, `1G`, `1e3`): parsing
//! into an exact fixed-point value that can be compared and summed.
//!
//! Values are kept as a count of nano-units in an `i128`, which holds every
//! quantity Kubernetes accepts (at most 2^63-1 units) without floating point;
//! finer fractions round up, as upstream rounds `0.1n` to `1n`.

use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::ops::Add;
use std::str::FromStr;

use serde_json::Value;

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Upstream refuses anything beyond 2^63-1 units.
const MAX_NANOS: i128 = (i64::MAX as i128) * NANOS_PER_UNIT;

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("quantity is too large")]
    TooLarge,
}

/// An exact resource quantity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quantity {
    nanos: i128,
}

impl Quantity {
    /// Parse the string form.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let (negative, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(QuantityError::Format);
        }
        let (base, exponent) = parse_suffix(suffix)?;
        // digits * base^exponent / 10^frac_len, computed in nano-units.
        let digits: String = [int_part, frac_part].concat();
        let digits = digits.trim_start_matches('0');
        let mut nanos = scale(digits, base, exponent, frac_part.len())?;
        if negative {
            nanos = -nanos;
        }
        Ok(Quantity { nanos })
    }

    /// A quantity as it appears in JSON: a string, or a bare number (YAML
    /// `cpu: 1` reaches the server as the JSON number 1).
    pub fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
        match v {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(QuantityError::Format),
        }
    }

    /// A whole number of units.
    pub fn from_units(units: i64) -> Quantity {
        Quantity { nanos: units as i128 * NANOS_PER_UNIT }
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The value in thousandths, rounded up (upstream `MilliValue`): CPU in millicores.
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded up (upstream `Value`): memory in bytes.
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, NANOS_PER_UNIT)
    }
}

fn div_ceil(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d > 0 {
        q + 1
    } else {
        q
    }
}

/// The suffix as (base, exponent): `Ki` is 2^10, `k` is 10^3, `e3` is 10^3.
fn parse_suffix(suffix: &str) -> Result<(u32, i32), QuantityError> {
    let known = match suffix {
        "" => Some((10, 0)),
        "n" => Some((10, -9)),
        "u" => Some((10, -6)),
        "m" => Some((10, -3)),
        "k" => Some((10, 3)),
        "M" => Some((10, 6)),
        "G" => Some((10, 9)),
        "T" => Some((10, 12)),
        "P" => Some((10, 15)),
        "E" => Some((10, 18)),
        "Ki" => Some((2, 10)),
        "Mi" => Some((2, 20)),
        "Gi" => Some((2, 30)),
        "Ti" => Some((2, 40)),
        "Pi" => Some((2, 50)),
        "Ei" => Some((2, 60)),
        _ => None,
    };
    if let Some(k) = known {
        return Ok(k);
    }
    let exp = suffix.strip_prefix(['e', 'E']).ok_or(QuantityError::Format)?;
    let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QuantityError::Format);
    }
    // Anything beyond this many digits is out of range either way.
    let exp: i32 = exp.parse().map_err(|_| QuantityError::TooLarge)?;
    Ok((10, exp))
}

/// `digits * base^exponent / 10^frac_len` in nano-units, rounding up.
fn scale(digits: &str, base: u32, exponent: i32, frac_len: usize) -> Result<i128, QuantityError> {
    if digits.is_empty() {
        return Ok(0);
    }
    // Leading zeros are trimmed, so 39 digits already exceed i128.
    if digits.len() > 38 {
        return Err(QuantityError::TooLarge);
    }
    let mantissa: i128 = digits.parse().map_err(|_| QuantityError::Format)?;
    let mut numerator = mantissa;
    // Power of ten to apply: nanos (+9), minus the fraction digits, plus a decimal exponent.
    let mut pow10: i64 = 9 - frac_len as i64;
    if base == 2 {
        numerator = numerator.checked_mul(1i128 << exponent).ok_or(QuantityError::TooLarge)?;
    } else {
        pow10 += exponent as i64;
    }
    let nanos = if pow10 >= 0 {
        let factor = 10i128.checked_pow(u32::try_from(pow10).map_err(|_| QuantityError::TooLarge)?);
        factor.and_then(|f| numerator.checked_mul(f)).ok_or(QuantityError::TooLarge)?
    } else {
        match 10i128.checked_pow(u32::try_from(-pow10).unwrap_or(u32::MAX)) {
            Some(divisor) => div_ceil(numerator, divisor),
            // Smaller than any representable fraction of a nano-unit: rounds up to one.
            None => 1,
        }
    };
    if nanos > MAX_NANOS {
        return Err(QuantityError::TooLarge);
    }
    Ok(nanos)
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Add for Quantity {
    type Output = Quantity;
    fn add(self, rhs: Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_add(rhs.nanos) }
    }
}

impl Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::default(), Add::add)
    }
}

/// A plain decimal rendering (`1.5`, `0.001`, `68719476736`), for messages.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let units = abs / NANOS_PER_UNIT as u128;
        let frac = abs % NANOS_PER_UNIT as u128;
        if frac == 0 {
            write!(f, "{sign}{units}")
        } else {
            let frac = format!("{frac:09}");
            write!(f, "{sign}{units}.{}", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_every_suffix_family() {
        assert_eq!(q("100m").milli_value(), 100);
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("64Mi").value(), 64 * 1024 * 1024);
        assert_eq!(q("1G").value(), 1_000_000_000);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("2E").value(), 2_000_000_000_000_000_000);
        assert_eq!(q("1.5Gi").value(), 1536 * 1024 * 1024);
        assert_eq!(q("0.5Ki").value(), 512);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("5.").value(), 5);
        assert_eq!(q("+3k").value(), 3000);
        assert_eq!(q("-2").value(), -2);
        assert_eq!(q("250u").milli_value(), 1, "fractions of a milli round up");
        assert_eq!(q("12e-3").milli_value(), 12);
        assert_eq!(q("0").value(), 0);
        assert!(q("0.0").is_zero());
    }

    #[test]
    fn rejects_malformed_and_huge_values() {
        for bad in ["", "m", "1x", "1.2.3", "Mi", "1 Mi", "1e", "1e+", "abc", "1mi", "--1"] {
            assert_eq!(Quantity::parse(bad), Err(QuantityError::Format), "{bad:?}");
        }
        assert_eq!(Quantity::parse("1e100"), Err(QuantityError::TooLarge));
        assert_eq!(Quantity::parse("100Ei"), Err(QuantityError::TooLarge));
        assert_eq!(Quantity::parse("99999999999999999999999999999999999999999"), Err(QuantityError::TooLarge));
        assert_eq!(q("1e-100"), Quantity { nanos: 1 });
    }

    #[test]
    fn compares_sums_and_reads_json_numbers() {
        assert!(q("500m") < q("1"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!([q("250m"), q("750m"), q("1")].into_iter().sum::<Quantity>(), q("2"));
        assert_eq!(Quantity::from_json(&serde_json::json!(2)).unwrap(), q("2"));
        assert_eq!(Quantity::from_json(&serde_json::json!(0.5)).unwrap(), q("500m"));
        assert!(Quantity::from_json(&serde_json::json!(true)).is_err());
        assert_eq!(q("1500m").to_string(), "1.5");
        assert_eq!(q("-1m").to_string(), "-0.001");
    }
}
