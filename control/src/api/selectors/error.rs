//! The one error type of selector parsing, worded like apimachinery's so that
//! kubectl users see familiar messages in the 400 response.

use thiserror::Error;

/// Why a label or field selector was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// A token appeared where the grammar wanted something else.
    #[error("unable to parse requirement: found '{found}', expected: {expected}")]
    Syntax { found: String, expected: &'static str },

    /// A requirement parsed, but what follows it is not `,` or the end.
    #[error("found '{found}', expected: {expected}")]
    Trailing { found: String, expected: &'static str },

    /// A key that is not a qualified name (`prefix/name`).
    #[error("unable to parse requirement: invalid label key \"{key}\": {reason}")]
    InvalidKey { key: String, reason: String },

    /// A value that is not a valid label value.
    #[error("unable to parse requirement: invalid label value: \"{value}\": at key: \"{key}\": {reason}")]
    InvalidValue { key: String, value: String, reason: String },

    /// The operator does not fit the number or kind of values given.
    #[error("unable to parse requirement: {key}: {reason}")]
    InvalidRequirement { key: String, reason: &'static str },

    /// A `matchExpressions` operator other than In, NotIn, Exists, DoesNotExist.
    #[error("\"{0}\" is not a valid label selector operator")]
    UnknownOperator(String),

    /// A field selector term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm { selector: String, term: String },

    /// A backslash in a field selector value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),

    /// A `,` or `=` inside a field selector value that was not escaped.
    #[error("invalid field selector: unescaped character '{0}' in '{1}'")]
    UnescapedCharacter(char, String),
}
