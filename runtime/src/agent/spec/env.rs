//! A container's environment, in Kubernetes' order: the image's `Env`, then
//! `envFrom` sources, then `env` entries (whose values may reference earlier
//! variables with `$(VAR)`), each later definition replacing an earlier one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Container, EnvVarSource, Pod};

use super::argv::expand;
use super::downward::{field_value, resource_value, NodeFacts};
use super::SpecError;

/// The ConfigMaps and Secrets a container refers to, fetched by the caller
/// (values of Secrets already decoded). An absent name means "not found".
#[derive(Clone, Debug, Default)]
pub struct EnvSources {
    pub config_maps: HashMap<String, BTreeMap<String, String>>,
    pub secrets: HashMap<String, BTreeMap<String, String>>,
}

/// Names of the ConfigMaps and Secrets that `container`'s env refers to.
pub fn referenced_objects(container: &Container) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut config_maps = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for from in container.env_from.iter().flatten() {
        if let Some(cm) = &from.config_map_ref {
            config_maps.insert(cm.name.clone());
        }
        if let Some(secret) = &from.secret_ref {
            secrets.insert(secret.name.clone());
        }
    }
    for var in container.env.iter().flatten() {
        let Some(source) = &var.value_from else { continue };
        if let Some(key) = &source.config_map_key_ref {
            config_maps.insert(key.name.clone());
        }
        if let Some(key) = &source.secret_key_ref {
            secrets.insert(key.name.clone());
        }
    }
    (config_maps, secrets)
}

/// The ordered environment of `container`.
pub fn resolve_env(
    pod: &Pod,
    container: &Container,
    image_env: &[String],
    sources: &EnvSources,
    node: &NodeFacts,
) -> Result<Vec<(String, String)>, SpecError> {
    let mut env = Env::default();
    for entry in image_env {
        let (name, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        env.set(name, value.to_string());
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        if let Some(cm) = &from.config_map_ref {
            match sources.config_maps.get(&cm.name) {
                Some(data) => data.iter().for_each(|(k, v)| env.set(&format!("{prefix}{k}"), v.clone())),
                None if cm.optional == Some(true) => {}
                None => return Err(SpecError::ConfigMapNotFound(cm.name.clone())),
            }
        }
        if let Some(secret) = &from.secret_ref {
            match sources.secrets.get(&secret.name) {
                Some(data) => data.iter().for_each(|(k, v)| env.set(&format!("{prefix}{k}"), v.clone())),
                None if secret.optional == Some(true) => {}
                None => return Err(SpecError::SecretNotFound(secret.name.clone())),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (_, Some(source)) => match value_from(pod, container, source, sources, node)? {
                Some(value) => value,
                None => continue,
            },
            (Some(value), None) => expand(value, &env.lookup),
            (None, None) => String::new(),
        };
        env.set(&var.name, value);
    }
    Ok(env.ordered)
}

/// `None` when an optional source is missing: the variable is then not set at all.
fn value_from(
    pod: &Pod,
    container: &Container,
    source: &EnvVarSource,
    sources: &EnvSources,
    node: &NodeFacts,
) -> Result<Option<String>, SpecError> {
    if let Some(key) = &source.config_map_key_ref {
        let optional = key.optional == Some(true);
        return match sources.config_maps.get(&key.name).map(|data| data.get(&key.key)) {
            Some(Some(value)) => Ok(Some(value.clone())),
            _ if optional => Ok(None),
            Some(None) => Err(SpecError::KeyNotFound { kind: "ConfigMap", name: key.name.clone(), key: key.key.clone() }),
            None => Err(SpecError::ConfigMapNotFound(key.name.clone())),
        };
    }
    if let Some(key) = &source.secret_key_ref {
        let optional = key.optional == Some(true);
        return match sources.secrets.get(&key.name).map(|data| data.get(&key.key)) {
            Some(Some(value)) => Ok(Some(value.clone())),
            _ if optional => Ok(None),
            Some(None) => Err(SpecError::KeyNotFound { kind: "Secret", name: key.name.clone(), key: key.key.clone() }),
            None => Err(SpecError::SecretNotFound(key.name.clone())),
        };
    }
    if let Some(field) = &source.field_ref {
        return field_value(pod, node, field).map(Some);
    }
    if let Some(resource) = &source.resource_field_ref {
        return resource_value(container, node, resource).map(Some);
    }
    Err(SpecError::UnsupportedField("valueFrom with no source".into()))
}

/// Variables in first-definition order; a redefinition keeps the position and replaces the value.
#[derive(Default)]
struct Env {
    ordered: Vec<(String, String)>,
    lookup: HashMap<String, String>,
}

impl Env {
    fn set(&mut self, name: &str, value: String) {
        if self.lookup.insert(name.to_string(), value.clone()).is_some() {
            if let Some(slot) = self.ordered.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value;
            }
        } else {
            self.ordered.push((name.to_string(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, ObjectFieldSelector, SecretKeySelector,
    };

    use super::super::downward::tests::{node, pod};
    use super::*;

    fn sources() -> EnvSources {
        EnvSources {
            config_maps: [("cfg".to_string(), [("MODE".to_string(), "fast".to_string())].into())].into(),
            secrets: [("creds".to_string(), [("password".to_string(), "hunter2".to_string())].into())].into(),
        }
    }

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar { name: name.into(), value: None, value_from: Some(source) }
    }

    #[test]
    fn every_source_in_order_with_expansion() {
        let container = Container {
            env_from: Some(vec![EnvFromSource {
                prefix: Some("CM_".into()),
                config_map_ref: Some(ConfigMapEnvSource { name: "cfg".into(), optional: None }),
                secret_ref: None,
            }]),
            env: Some(vec![
                from("PASS", EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector { name: "creds".into(), key: "password".into(), optional: None }),
                    ..Default::default()
                }),
                from("POD", EnvVarSource {
                    field_ref: Some(ObjectFieldSelector { field_path: "metadata.name".into(), api_version: None }),
                    ..Default::default()
                }),
                var("GREETING", "hi $(POD) in $(CM_MODE) mode"),
                var("PATH", "/override"),
            ]),
            ..Default::default()
        };
        let env = resolve_env(&pod(), &container, &["PATH=/bin".into()], &sources(), &node()).expect("resolves");
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["PATH", "CM_MODE", "PASS", "POD", "GREETING"]);
        let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("PATH"), Some("/override"));
        assert_eq!(get("PASS"), Some("hunter2"));
        assert_eq!(get("GREETING"), Some("hi web in fast mode"));
    }

    #[test]
    fn missing_sources_fail_unless_optional() {
        let key = |optional| EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector { name: "cfg".into(), key: "NOPE".into(), optional }),
            ..Default::default()
        };
        let container = Container { env: Some(vec![from("X", key(None))]), ..Default::default() };
        let err = resolve_env(&pod(), &container, &[], &sources(), &node()).expect_err("missing key");
        assert!(matches!(err, SpecError::KeyNotFound { kind: "ConfigMap", .. }));
        let container = Container { env: Some(vec![from("X", key(Some(true)))]), ..Default::default() };
        assert_eq!(resolve_env(&pod(), &container, &[], &sources(), &node()).expect("optional").len(), 0);
        let container = Container {
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: "absent".into(), optional: None }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(matches!(resolve_env(&pod(), &container, &[], &sources(), &node()), Err(SpecError::ConfigMapNotFound(_))));
    }
}
