//! Label selectors: a conjunction of requirements on an object's labels.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde_json::{Map, Value};

use super::error::SelectorError;
use super::parser;
use super::syntax::{check_label_key, check_label_value};

/// How a requirement compares a label with its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value` (same meaning as `=`, kept apart so it prints back as written)
    DoubleEquals,
    /// `key!=value`: also true when the label is absent.
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`: also true when the label is absent.
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>5`: the label must exist and parse as an integer.
    GreaterThan,
    /// `key<5`: the label must exist and parse as an integer.
    LessThan,
}

/// One term of a label selector, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and deduplicated, as apimachinery keeps them.
    values: BTreeSet<String>,
}

impl Requirement {
    /// Builds a requirement, checking the key, the values, and that the number
    /// of values fits the operator.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: impl IntoIterator<Item = String>,
    ) -> Result<Self, SelectorError> {
        let key = key.into();
        let values: BTreeSet<String> = values.into_iter().collect();
        if let Err(reason) = check_label_key(&key) {
            return Err(SelectorError::InvalidKey { key, reason });
        }
        let invalid = |reason| Err(SelectorError::InvalidRequirement { key: key.clone(), reason });
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return invalid("for 'in', 'notin' operators, values set can't be empty");
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                return invalid("exact-match compatibility requires one single value");
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return invalid("values set must be empty for exists and does not exist");
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return invalid("for 'Gt', 'Lt' operators, exactly one value is required");
                }
                if values.iter().any(|v| v.parse::<i64>().is_err()) {
                    return invalid("for 'Gt', 'Lt' operators, the value must be an integer");
                }
            }
            _ => {}
        }
        for value in &values {
            if let Err(reason) = check_label_value(value) {
                return Err(SelectorError::InvalidValue { key, value: value.clone(), reason });
            }
        }
        Ok(Self { key, operator, values })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }

    /// Whether a label set satisfies this requirement; `label` looks up one key.
    fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = label(&self.key);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Exists => return f.write_str(&self.key),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
        };
        let values = self.values.iter().map(String::as_str).collect::<Vec<_>>().join(",");
        match self.operator {
            Operator::In | Operator::NotIn => write!(f, "{}{op}({values})", self.key),
            _ => write!(f, "{}{op}{values}", self.key),
        }
    }
}

/// A parsed label selector: all requirements must hold. The empty selector
/// matches every object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Sorted by key (stable), as apimachinery sorts them.
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the string form: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    /// `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, joined by commas.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        Ok(Self::from_requirements(parser::parse(input)?))
    }

    /// Converts the structured `metav1.LabelSelector` found in workload specs.
    /// `matchLabels` become `=` requirements; `matchExpressions` operators are
    /// `In`, `NotIn`, `Exists` and `DoesNotExist`.
    pub fn from_k8s(selector: &meta::LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(key.as_str(), Operator::Equals, [value.clone()])?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::UnknownOperator(other.to_string())),
            };
            requirements.push(Requirement::new(expr.key.as_str(), operator, expr.values.iter().flatten().cloned())?);
        }
        Ok(Self::from_requirements(requirements))
    }

    fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self { requirements }
    }

    /// True for the selector that selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Matches the labels of a JSON object (`obj["metadata"]["labels"]`);
    /// `None` means the object has no labels. Non-string label values, which
    /// validation never lets through, count as absent.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_with(|key| labels.and_then(|l| l.get(key)).and_then(Value::as_str)))
    }

    /// Matches typed labels, as found in k8s-openapi objects.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches_with(|key| labels.get(key).map(String::as_str)))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn matches(selector: &str, l: Value) -> bool {
        LabelSelector::parse(selector).expect(selector).matches(Some(&labels(l)))
    }

    #[test]
    fn equality_and_inequality() {
        assert!(matches("app=web", json!({"app": "web"})));
        assert!(matches("app==web", json!({"app": "web", "x": "y"})));
        assert!(!matches("app=web", json!({"app": "db"})));
        assert!(!matches("app=web", json!({})));
        assert!(matches("app!=web", json!({"app": "db"})));
        assert!(matches("app!=web", json!({})), "!= holds when the label is absent");
        assert!(!matches("app!=web", json!({"app": "web"})));
        assert!(matches("app=", json!({"app": ""})), "empty value is a value");
    }

    #[test]
    fn sets_and_existence() {
        assert!(matches("env in (prod, staging)", json!({"env": "staging"})));
        assert!(!matches("env in (prod)", json!({})));
        assert!(matches("env notin (prod)", json!({})));
        assert!(!matches("env notin (prod,dev)", json!({"env": "dev"})));
        assert!(matches("env", json!({"env": ""})));
        assert!(!matches("env", json!({"app": "x"})));
        assert!(matches("!env", json!({"app": "x"})));
        assert!(!matches("!env", json!({"env": "x"})));
    }

    #[test]
    fn comma_is_and() {
        let s = LabelSelector::parse("app=web,tier!=db,!legacy").unwrap();
        assert!(s.matches(Some(&labels(json!({"app": "web", "tier": "fe"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "legacy": "1"})))));
        assert!(!s.matches(None));
    }

    #[test]
    fn numeric_comparisons() {
        assert!(matches("replicas>2", json!({"replicas": "3"})));
        assert!(!matches("replicas>2", json!({"replicas": "two"})));
        assert!(!matches("replicas<2", json!({})));
        assert!(LabelSelector::parse("replicas>two").is_err());
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = LabelSelector::parse("  ").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(None));
        assert_eq!(s.to_string(), "");
    }

    #[test]
    fn displays_sorted_canonical_form() {
        let s = LabelSelector::parse("z in (b,a,b), a==1,!m, k ,x notin (q)").unwrap();
        assert_eq!(s.to_string(), "a==1,k,!m,x notin (q),z in (a,b)");
        assert_eq!(LabelSelector::parse(&s.to_string()).unwrap(), s, "round trip");
    }

    #[test]
    fn typed_labels_match_too() {
        let s = LabelSelector::parse("app=web").unwrap();
        let typed = BTreeMap::from([("app".to_string(), "web".to_string())]);
        assert!(s.matches_labels(&typed));
        assert!(!s.matches_labels(&BTreeMap::new()));
    }

    #[test]
    fn from_k8s_combines_labels_and_expressions() {
        let k8s = meta::LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            match_expressions: Some(vec![
                meta::LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "In".into(),
                    values: Some(vec!["prod".into(), "dev".into()]),
                },
                meta::LabelSelectorRequirement { key: "old".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        let s = LabelSelector::from_k8s(&k8s).unwrap();
        assert_eq!(s.to_string(), "app=web,env in (dev,prod),!old");
        assert!(s.matches(Some(&labels(json!({"app": "web", "env": "dev"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "env": "dev", "old": "1"})))));
        assert!(LabelSelector::from_k8s(&meta::LabelSelector::default()).unwrap().is_empty());
    }

    #[test]
    fn from_k8s_rejects_bad_expressions() {
        let bad_op = meta::LabelSelector {
            match_expressions: Some(vec![meta::LabelSelectorRequirement {
                key: "a".into(),
                operator: "Gt".into(),
                values: Some(vec!["1".into()]),
            }]),
            ..Default::default()
        };
        assert_eq!(
            LabelSelector::from_k8s(&bad_op).unwrap_err().to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
        let empty_in = meta::LabelSelector {
            match_expressions: Some(vec![meta::LabelSelectorRequirement {
                key: "a".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(matches!(LabelSelector::from_k8s(&empty_in), Err(SelectorError::InvalidRequirement { .. })));
        let bad_value = meta::LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "-web".to_string())])),
            ..Default::default()
        };
        assert!(matches!(LabelSelector::from_k8s(&bad_value), Err(SelectorError::InvalidValue { .. })));
    }
}
