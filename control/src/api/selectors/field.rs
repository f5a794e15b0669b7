//! Field selectors: `=`, `==` and `!=` terms on dotted JSON paths.
//!
//! The real API server keeps a per-kind list of selectable fields; here every
//! path is evaluated generically on the object's JSON, which covers the ones
//! kubectl and controllers use (`metadata.name`, `metadata.namespace`,
//! `spec.nodeName`, `status.phase`, `involvedObject.uid`, `type` ...).

use std::fmt;

use serde_json::Value;

use super::error::SelectorError;

/// How a field term compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `path op value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    /// Dotted path into the object, e.g. `spec.nodeName`.
    pub path: String,
    pub operator: FieldOperator,
    /// The value, unescaped.
    pub value: String,
}

impl FieldTerm {
    fn matches(&self, obj: &Value) -> bool {
        let actual = field_value(obj, &self.path);
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

/// A parsed field selector: all terms must hold. Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

/// Operators in the order a term is searched for them: `!=` and `==` before
/// `=`, so `a==b` does not read as `a` `=` `=b`.
const OPERATORS: [(&str, FieldOperator); 3] =
    [("!=", FieldOperator::NotEquals), ("==", FieldOperator::Equals), ("=", FieldOperator::Equals)];

impl FieldSelector {
    /// Parses `path=value,path!=value,...`. Values may escape `\`, `,` and `=`
    /// with a backslash; unescaped `,` and `=` inside a value are errors.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(input);
        // apimachinery sorts the terms, which fixes the printed form.
        parts.sort();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.trim().is_empty()) {
            let Some((path, operator, raw)) = split_term(part) else {
                return Err(SelectorError::FieldTerm { selector: input.to_string(), term: part.to_string() });
            };
            let value = unescape(raw.trim())?;
            terms.push(FieldTerm { path: path.trim().to_string(), operator, value });
        }
        Ok(Self { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether the object satisfies every term. A missing field reads as "",
    /// numbers and booleans as their JSON text.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| t.matches(obj))
    }

    /// The name an object must have to match (a `metadata.name=x` term), so
    /// that list and watch can read one key instead of scanning a prefix.
    pub fn requires_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.path == "metadata.name" && t.operator == FieldOperator::Equals)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match term.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", term.path, escape(&term.value))?;
        }
        Ok(())
    }
}

/// Splits on commas that are not escaped with a backslash.
fn split_terms(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

/// Finds the first operator in a term: (path, operator, raw value).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS
            .iter()
            .find(|(symbol, _)| rest.starts_with(symbol))
            .map(|(symbol, op)| (&term[..i], *op, &rest[symbol.len()..]))
    })
}

fn unescape(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(other) => return Err(SelectorError::InvalidEscape(format!("\\{other}"))),
                None => return Err(SelectorError::InvalidEscape("\\".to_string())),
            },
            ',' | '=' => return Err(SelectorError::UnescapedCharacter(c, raw.to_string())),
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=")
}

/// The string form of the field at a dotted path; "" when absent or not a scalar.
fn field_value(obj: &Value, path: &str) -> String {
    let found = path.split('.').try_fold(obj, |node, segment| node.get(segment));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "node-a", "priority": 5, "hostNetwork": false},
            "status": {"phase": "Running"}
        })
    }

    #[test]
    fn matches_nested_paths() {
        let s = FieldSelector::parse("metadata.name=web-1,spec.nodeName==node-a,status.phase!=Pending").unwrap();
        assert!(s.matches(&pod()));
        assert!(!FieldSelector::parse("spec.nodeName=node-b").unwrap().matches(&pod()));
        assert!(FieldSelector::parse("metadata.namespace!=kube-system").unwrap().matches(&pod()));
    }

    #[test]
    fn missing_fields_read_as_empty_and_scalars_as_text() {
        assert!(FieldSelector::parse("spec.schedulerName=").unwrap().matches(&pod()));
        assert!(!FieldSelector::parse("spec.schedulerName!=").unwrap().matches(&pod()));
        assert!(FieldSelector::parse("spec.priority=5,spec.hostNetwork=false").unwrap().matches(&pod()));
        assert!(FieldSelector::parse("spec=").unwrap().matches(&pod()), "objects are not scalars");
    }

    #[test]
    fn event_fields() {
        let event = json!({"type": "Warning", "involvedObject": {"name": "web-1", "uid": "u-1", "kind": "Pod"}});
        let s = FieldSelector::parse("involvedObject.name=web-1,involvedObject.uid=u-1,type=Warning").unwrap();
        assert!(s.matches(&event));
        assert!(!FieldSelector::parse("type=Normal").unwrap().matches(&event));
    }

    #[test]
    fn requires_name_only_for_equality() {
        let s = FieldSelector::parse("status.phase=Running,metadata.name=web-1").unwrap();
        assert_eq!(s.requires_name(), Some("web-1"));
        assert_eq!(FieldSelector::parse("metadata.name!=x").unwrap().requires_name(), None);
        assert_eq!(FieldSelector::parse("metadata.name==y").unwrap().requires_name(), Some("y"));
    }

    #[test]
    fn empty_and_display() {
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse("").unwrap().matches(&json!({})));
        let s = FieldSelector::parse("status.phase==Running,metadata.name=a\\,b").unwrap();
        assert_eq!(s.terms()[0].value, "a,b");
        assert_eq!(s.to_string(), "metadata.name=a\\,b,status.phase=Running");
        assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn rejects_bad_terms() {
        assert_eq!(
            FieldSelector::parse("metadata.name").unwrap_err().to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(matches!(FieldSelector::parse("a=b=c"), Err(SelectorError::UnescapedCharacter('=', _))));
        assert!(matches!(FieldSelector::parse("a=b\\x"), Err(SelectorError::InvalidEscape(_))));
        assert!(matches!(FieldSelector::parse("a=b\\"), Err(SelectorError::InvalidEscape(_))));
    }
}
