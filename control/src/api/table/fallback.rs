//! Printers for kinds without a dedicated one.
//!
//! Upstream has two fallbacks: built-in kinds without a printer (Role,
//! ClusterRole, LimitRange) get the generic `Name, Created At` table, where
//! Created At is an RFC 3339 timestamp; custom resources get `Name, Age`,
//! which we use for anything else.

use jiff::Timestamp;
use serde_json::Value;

use super::duration::since;
use super::format::{creation_timestamp, name_of};
use super::printer::{cells, Column, Printer, Row, AGE_DOC};

pub const CREATED_AT: Printer = Printer {
    columns: &[Column::NAME, Column::date("Created At", AGE_DOC)],
    row: created_at_row,
};

fn created_at_row(obj: &Value, _now: Timestamp) -> Row {
    // Go prints a missing creationTimestamp as the zero time.
    let created = creation_timestamp(obj).map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    cells![name_of(obj), created].into()
}

pub const NAME_AND_AGE: Printer = Printer {
    columns: &[Column::NAME, Column::AGE],
    row: name_and_age_row,
};

fn name_and_age_row(obj: &Value, now: Timestamp) -> Row {
    cells![name_of(obj), since(creation_timestamp(obj), now)].into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_at_is_rfc3339_utc() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let role = json!({"metadata": {"name": "reader", "creationTimestamp": "2024-04-30T08:15:00Z"}});
        assert_eq!(created_at_row(&role, now).cells, vec![json!("reader"), json!("2024-04-30T08:15:00Z")]);
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(created_at_row(&bare, now).cells[1], json!("0001-01-01T00:00:00Z"));
        assert_eq!(name_and_age_row(&role, now).cells, vec![json!("reader"), json!("27h")]);
    }
}
