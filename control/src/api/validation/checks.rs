//! Small building blocks shared by every validator: turning syntax problems
//! into field errors, bounds and enum checks.

use crate::error::FieldError;

use super::path::FieldPath;

/// One `Invalid` error per problem `check` finds in `value`.
pub fn syntax(errs: &mut Vec<FieldError>, path: &FieldPath, value: &str, check: fn(&str) -> Vec<String>) {
    for problem in check(value) {
        errs.push(FieldError::invalid(path, value, problem));
    }
}

/// A required string: `Required` when empty, else checked with `check`.
pub fn required_syntax(errs: &mut Vec<FieldError>, path: &FieldPath, value: &str, check: fn(&str) -> Vec<String>) {
    if value.is_empty() {
        errs.push(FieldError::required(path));
    } else {
        syntax(errs, path, value, check);
    }
}

/// An optional count or duration that may not be negative.
pub fn non_negative<T: Into<i64> + Copy>(errs: &mut Vec<FieldError>, path: &FieldPath, value: Option<T>) {
    if let Some(v) = value {
        if v.into() < 0 {
            errs.push(FieldError::invalid(path, v.into(), "must be greater than or equal to 0"));
        }
    }
}

/// An optional number that must be positive.
pub fn positive<T: Into<i64> + Copy>(errs: &mut Vec<FieldError>, path: &FieldPath, value: Option<T>) {
    if let Some(v) = value {
        if v.into() <= 0 {
            errs.push(FieldError::invalid(path, v.into(), "must be greater than 0"));
        }
    }
}

/// An optional string that must be one of `allowed` (already defaulted, so
/// absence is fine).
pub fn one_of(errs: &mut Vec<FieldError>, path: &FieldPath, value: Option<&str>, allowed: &[&str]) {
    if let Some(v) = value {
        if !allowed.contains(&v) {
            errs.push(FieldError::not_supported(path, v, allowed));
        }
    }
}

/// Render a value for an error message as compact JSON.
pub fn render<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validation::names::dns1123_label;

    #[test]
    fn builds_errors_for_each_problem() {
        let mut errs = Vec::new();
        let p = FieldPath::new("spec").child("x");
        required_syntax(&mut errs, &p, "", dns1123_label);
        syntax(&mut errs, &p, "Bad", dns1123_label);
        non_negative(&mut errs, &p, Some(-1i32));
        non_negative(&mut errs, &p, Some(0i32));
        positive(&mut errs, &p, Some(0i64));
        one_of(&mut errs, &p, Some("Sometimes"), &["Always", "Never"]);
        one_of(&mut errs, &p, None, &["Always"]);
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(rendered[0], "spec.x: Required value");
        assert!(rendered[1].starts_with("spec.x: Invalid value: \"Bad\": a lowercase RFC 1123 label"));
        assert_eq!(rendered[2], "spec.x: Invalid value: \"-1\": must be greater than or equal to 0");
        assert_eq!(rendered[3], "spec.x: Invalid value: \"0\": must be greater than 0");
        assert_eq!(rendered[4], "spec.x: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\"");
        assert_eq!(errs.len(), 5);
    }
}
