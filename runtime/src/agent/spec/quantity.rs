//! Kubernetes resource quantities (`500m`, `0.5`, `16Mi`, `1G`, `1e3`) as
//! whole milli-units, the one scale that holds CPU (millicores) and bytes
//! (bytes × 1000) exactly.

/// Parses a quantity into milli-units, rounding up as Kubernetes does.
/// `None` if it does not parse, is negative or does not fit.
pub fn parse_millis(text: &str) -> Option<u128> {
    let text = text.trim();
    let number_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let number = number.strip_prefix('+').unwrap_or(number);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mantissa: u128 = digits.parse().ok()?;
    let (decimal_exp, binary_exp) = suffix_exponents(suffix)?;
    // value × 1000 = mantissa × 10^(decimal_exp + 3) × 2^binary_exp / 10^fraction_digits
    let exp10 = decimal_exp + 3 - i32::try_from(fraction.len()).ok()?;
    let mut numerator = mantissa.checked_mul(1u128.checked_shl(binary_exp)?)?;
    let mut denominator: u128 = 1;
    if exp10 >= 0 {
        numerator = numerator.checked_mul(10u128.checked_pow(exp10.unsigned_abs())?)?;
    } else {
        denominator = 10u128.checked_pow(exp10.unsigned_abs())?;
    }
    Some(numerator.div_ceil(denominator))
}

/// A quantity as a whole count of units (bytes, fuel), rounded up.
pub fn parse_units(text: &str) -> Option<u64> {
    u64::try_from(parse_millis(text)?.div_ceil(1000)).ok()
}

/// (power of ten, power of two) a suffix stands for.
fn suffix_exponents(suffix: &str) -> Option<(i32, u32)> {
    Some(match suffix {
        "" => (0, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        exponent => {
            let digits = exponent.strip_prefix('e').or_else(|| exponent.strip_prefix('E'))?;
            (digits.parse::<i32>().ok().filter(|e| (-30..=30).contains(e))?, 0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_millis("200m"), Some(200));
        assert_eq!(parse_millis("0.5"), Some(500));
        assert_eq!(parse_millis("2"), Some(2000));
        assert_eq!(parse_millis("1.0005"), Some(1001), "rounds up");
    }

    #[test]
    fn memory_forms() {
        assert_eq!(parse_units("16Mi"), Some(16 * 1024 * 1024));
        assert_eq!(parse_units("1G"), Some(1_000_000_000));
        assert_eq!(parse_units("1.5Ki"), Some(1536));
        assert_eq!(parse_units("1e3"), Some(1000));
        assert_eq!(parse_units("1000000000000"), Some(1_000_000_000_000));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "abc", "-1", "1Xi", "1.2.3", "."] {
            assert_eq!(parse_millis(bad), None, "{bad:?}");
        }
    }
}
