//! Syntax of label keys and values (apimachinery `IsQualifiedName`,
//! `IsValidLabelValue`). Each check returns the reason a string is invalid,
//! in the words Kubernetes uses, so callers can build their own messages.

/// Longest name part of a key, and longest value.
const MAX_NAME_LEN: usize = 63;
/// Longest DNS-1123 subdomain, the limit on a key's prefix.
const MAX_PREFIX_LEN: usize = 253;

const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
     with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation \
     is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', \
     '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or \
     '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
     characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex \
     used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, without the length limit.
fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Dot-separated labels of lowercase alphanumerics and `-`, each starting and
/// ending with an alphanumeric.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_PREFIX_LEN
        && s.split('.').all(|label| {
            let bytes = label.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    first.is_ascii_alphanumeric()
                        && last.is_ascii_alphanumeric()
                        && bytes.iter().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || *b == b'-')
                }
                _ => false,
            }
        })
}

/// Checks a label key: `name` or `prefix/name`.
pub(super) fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, rest)) if rest.contains('/') => return Err(format!("a qualified name {NAME_RULE}")),
        Some((prefix, name)) => (Some(prefix), name),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".to_string());
        }
        if !is_dns1123_subdomain(prefix) {
            return Err(format!("prefix part {SUBDOMAIN_RULE}"));
        }
    }
    if name.is_empty() {
        return Err("name part must be non-empty".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("name part must be no more than {MAX_NAME_LEN} characters"));
    }
    if !is_name_part(name) {
        return Err(format!("name part {NAME_RULE}"));
    }
    Ok(())
}

/// Checks a label value: empty, or a name part of at most 63 characters.
pub(super) fn check_label_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_NAME_LEN {
        return Err(format!("must be no more than {MAX_NAME_LEN} characters"));
    }
    if !value.is_empty() && !is_name_part(value) {
        return Err(VALUE_RULE.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in ["app", "app.kubernetes.io/name", "a", "A_b.c-9", "example.com/x"] {
            assert_eq!(check_label_key(good), Ok(()), "{good}");
        }
        assert!(check_label_key("").unwrap_err().contains("non-empty"));
        assert!(check_label_key("/x").unwrap_err().starts_with("prefix part must be non-empty"));
        assert!(check_label_key("Example.com/x").unwrap_err().starts_with("prefix part a lowercase"));
        assert!(check_label_key("a/b/c").unwrap_err().starts_with("a qualified name"));
        assert!(check_label_key("-app").unwrap_err().starts_with("name part must consist"));
        assert!(check_label_key(&"x".repeat(64)).unwrap_err().contains("no more than 63"));
    }

    #[test]
    fn values() {
        for good in ["", "web", "v1.2_3-x", &"x".repeat(63)] {
            assert_eq!(check_label_value(good), Ok(()), "{good}");
        }
        assert!(check_label_value("web-").is_err());
        assert!(check_label_value("a b").is_err());
        assert!(check_label_value(&"x".repeat(64)).is_err());
    }
}
