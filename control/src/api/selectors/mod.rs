//! Label and field selectors, as in `?labelSelector=` and `?fieldSelector=`.
//!
//! Both follow the string syntax of `k8s.io/apimachinery` (`labels.Parse`,
//! `fields.ParseSelector`) so that anything `kubectl -l` / `--field-selector`
//! sends is accepted or rejected the same way a real API server would.
//! Objects are matched as JSON, the form the store hands out.

mod error;
mod field;
mod label;
mod lexer;
mod parser;
mod syntax;

pub use error::SelectorError;
pub use field::{FieldOperator, FieldSelector, FieldTerm};
pub use label::{LabelSelector, Operator, Requirement};
