//! Quantities written back the way Kubernetes writes them (`2Gi`, `500m`,
//! `1k`): in status.used and status.hard, and in admission messages.

use crate::api::validation::quantity::Quantity;

const BINARY: [(&str, u32); 6] = [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];
const DECIMAL: [(&str, u32); 6] = [("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)];

/// Whether a quantity was written with a binary suffix (`Ki` … `Ei`).
pub fn is_binary(written: &str) -> bool {
    written.ends_with('i')
}

/// `q` in canonical form: with a binary suffix when `binary` and the value
/// is a whole multiple of one, else with the largest exact decimal suffix,
/// else in millis.
pub fn canonical(q: Quantity, binary: bool) -> String {
    let milli = q.milli_value();
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let units = milli / 1000;
    if units == 0 {
        return "0".into();
    }
    if binary {
        if let Some((suffix, shift)) = BINARY.iter().find(|(_, s)| units % (1i128 << s) == 0) {
            return format!("{}{suffix}", units >> shift);
        }
    }
    if let Some((suffix, exp)) = DECIMAL.iter().find(|(_, e)| units % 10i128.pow(*e) == 0) {
        return format!("{}{suffix}", units / 10i128.pow(*exp));
    }
    units.to_string()
}

/// A written quantity in canonical form, in its own suffix family; text
/// that does not parse is returned as it is.
pub fn canonical_str(written: &str) -> String {
    match Quantity::parse(written) {
        Ok(q) => canonical(q, is_binary(written)),
        Err(_) => written.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn writes_like_kubernetes() {
        assert_eq!(canonical(q("2Gi"), true), "2Gi");
        assert_eq!(canonical(q("1536Mi"), true), "1536Mi");
        assert_eq!(canonical(q("0.5"), false), "500m");
        assert_eq!(canonical(q("1000m"), false), "1");
        assert_eq!(canonical(q("2000"), false), "2k");
        assert_eq!(canonical(q("0"), true), "0");
        assert_eq!(canonical_str("1024Mi"), "1Gi");
        assert_eq!(canonical_str("3"), "3");
        assert_eq!(canonical_str("1G"), "1G");
    }
}
