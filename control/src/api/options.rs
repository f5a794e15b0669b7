//! Query parameters of API requests (`ListOptions`, `CreateOptions`, ...).

use std::collections::HashMap;

use crate::error::{ApiError, FieldError, Target};

/// An invalid option, reported as upstream does: 422 on the options object.
fn invalid_option(kind: &str, cause: FieldError) -> ApiError {
    ApiError::Invalid { target: Target { kind: format!("{kind}.meta.k8s.io"), ..Default::default() }, causes: vec![cause] }
}

/// All query parameters the server understands. Unknown ones are ignored, as
/// kubectl sends some (`timeout=32s`) that need no handling.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub watch: bool,
    pub allow_bookmarks: bool,
    pub timeout_seconds: Option<u64>,
    pub include_object: Option<String>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    /// Everything, for subresources with their own parameters (logs, exec).
    pub raw: Vec<(String, String)>,
}

/// `fieldValidation`: what to do with unknown fields in a written object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

fn bool_param(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::BadRequest(format!("invalid value for {name}: {v:?}: expected true or false"))),
    }
}

impl Query {
    pub fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut q = Query::default();
        let Some(query) = query else { return Ok(q) };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            match k.as_str() {
                "labelSelector" => q.label_selector = Some(v.clone()).filter(|s| !s.is_empty()),
                "fieldSelector" => q.field_selector = Some(v.clone()).filter(|s| !s.is_empty()),
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| ApiError::BadRequest(format!("invalid limit {v:?}: must be an integer")))?;
                    q.limit = (n > 0).then_some(n as usize);
                }
                "continue" => q.continue_token = Some(v.clone()).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v.clone()).filter(|s| !s.is_empty()),
                "watch" => q.watch = bool_param("watch", &v)?,
                "allowWatchBookmarks" => q.allow_bookmarks = bool_param("allowWatchBookmarks", &v)?,
                "timeoutSeconds" => {
                    q.timeout_seconds = Some(v.parse().map_err(|_| {
                        ApiError::BadRequest(format!("invalid timeoutSeconds {v:?}: must be a non-negative integer"))
                    })?)
                }
                "includeObject" => q.include_object = Some(v.clone()),
                "dryRun" => {
                    if v != "All" && !v.is_empty() {
                        return Err(invalid_option("CreateOptions", FieldError::not_supported("dryRun", &v, &["All"])));
                    }
                    q.dry_run = v == "All";
                }
                "fieldManager" => {
                    if v.len() > 128 {
                        return Err(invalid_option(
                            "CreateOptions",
                            FieldError::invalid("fieldManager", &v, "must be less than 128 characters"),
                        ));
                    }
                    q.field_manager = Some(v.clone()).filter(|s| !s.is_empty());
                }
                "fieldValidation" => {
                    q.field_validation = match v.as_str() {
                        "Ignore" => FieldValidation::Ignore,
                        "Warn" | "" => FieldValidation::Warn,
                        "Strict" => FieldValidation::Strict,
                        _ => {
                            return Err(invalid_option(
                                "CreateOptions",
                                FieldError::not_supported("fieldValidation", &v, &["Ignore", "Warn", "Strict"]),
                            ))
                        }
                    }
                }
                "force" => q.force = bool_param("force", &v)?,
                "propagationPolicy" => q.propagation_policy = Some(v.clone()),
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(v.parse().map_err(|_| {
                        ApiError::BadRequest(format!("invalid gracePeriodSeconds {v:?}: must be an integer"))
                    })?)
                }
                _ => {}
            }
            q.raw.push((k, v));
        }
        Ok(q)
    }

    /// First value of a raw parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All values of a repeated raw parameter (`command=ls&command=-la`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.raw.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn as_map(&self) -> HashMap<&str, &str> {
        self.raw.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_queries() {
        let q = Query::parse(Some("labelSelector=app%3Dweb&limit=500&fieldManager=kubectl-client-side-apply&fieldValidation=Strict&timeout=32s")).unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
        assert_eq!(q.limit, Some(500));
        assert_eq!(q.field_validation, FieldValidation::Strict);
        assert_eq!(q.field_manager.as_deref(), Some("kubectl-client-side-apply"));
        assert!(Query::parse(Some("limit=ten")).is_err());
        assert!(Query::parse(Some("watch=maybe")).is_err());
        assert!(Query::parse(Some("fieldValidation=Loose")).is_err());
        let q = Query::parse(Some("command=ls&command=-la")).unwrap();
        assert_eq!(q.all("command"), vec!["ls", "-la"]);
    }
}
