//! The files of configMap, secret, downwardAPI and projected volumes,
//! computed from the pod spec and the objects it names: a pure map from
//! relative path to content and mode, which the atomic writer then puts on
//! disk.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, Volume};

use super::VolumeError;
use crate::agent::spec::downward::{field_value, resource_value, NodeFacts};

/// The ConfigMaps (data and binaryData) and Secrets a pod refers to; an absent
/// name means the object does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Objects {
    pub config_maps: HashMap<String, BTreeMap<String, Vec<u8>>>,
    pub secrets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// The directories of the PersistentVolumeClaims the pod's volumes name.
    pub claims: super::claims::Claims,
}

/// One file of a projected volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectedFile {
    pub content: Vec<u8>,
    pub mode: u32,
}

/// Relative path → file.
pub type Projection = BTreeMap<String, ProjectedFile>;

const DEFAULT_MODE: i32 = 0o644;

/// The files of `volume` if it is a projected kind, `None` for other kinds.
pub fn project(pod: &Pod, volume: &Volume, objects: &Objects, node: &NodeFacts) -> Result<Option<Projection>, VolumeError> {
    let mut files = Projection::new();
    if let Some(cm) = &volume.config_map {
        let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
        let data = objects.config_maps.get(&cm.name);
        add_keys(&mut files, "ConfigMap", &cm.name, data, cm.items.as_deref(), mode, cm.optional == Some(true))?;
    } else if let Some(secret) = &volume.secret {
        let name = secret.secret_name.clone().unwrap_or_default();
        let mode = secret.default_mode.unwrap_or(DEFAULT_MODE);
        let data = objects.secrets.get(&name);
        add_keys(&mut files, "Secret", &name, data, secret.items.as_deref(), mode, secret.optional == Some(true))?;
    } else if let Some(downward) = &volume.downward_api {
        let mode = downward.default_mode.unwrap_or(DEFAULT_MODE);
        add_downward(&mut files, pod, node, downward.items.as_deref().unwrap_or(&[]), mode)?;
    } else if let Some(projected) = &volume.projected {
        let mode = projected.default_mode.unwrap_or(DEFAULT_MODE);
        for source in projected.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                let data = objects.config_maps.get(&cm.name);
                add_keys(&mut files, "ConfigMap", &cm.name, data, cm.items.as_deref(), mode, cm.optional == Some(true))?;
            }
            if let Some(secret) = &source.secret {
                let data = objects.secrets.get(&secret.name);
                add_keys(&mut files, "Secret", &secret.name, data, secret.items.as_deref(), mode, secret.optional == Some(true))?;
            }
            if let Some(downward) = &source.downward_api {
                add_downward(&mut files, pod, node, downward.items.as_deref().unwrap_or(&[]), mode)?;
            }
        }
    } else {
        return Ok(None);
    }
    Ok(Some(files))
}

/// The ConfigMaps and Secrets that `pod`'s volumes name.
pub fn referenced_objects(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        if let Some(cm) = &volume.config_map {
            config_maps.push(cm.name.clone());
        }
        if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.push(name);
        }
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &source.config_map {
                config_maps.push(cm.name.clone());
            }
            if let Some(secret) = &source.secret {
                secrets.push(secret.name.clone());
            }
        }
    }
    (config_maps, secrets)
}

fn add_keys(
    files: &mut Projection,
    kind: &'static str,
    name: &str,
    data: Option<&BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
) -> Result<(), VolumeError> {
    let Some(data) = data else {
        return if optional { Ok(()) } else { Err(VolumeError::ObjectNotFound { kind, name: name.to_string() }) };
    };
    match items {
        None => {
            for (key, content) in data {
                insert(files, key, content.clone(), default_mode)?;
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(content) => insert(files, &item.path, content.clone(), item.mode.unwrap_or(default_mode))?,
                    None if optional => {}
                    None => {
                        return Err(VolumeError::KeyNotFound { kind, name: name.to_string(), key: item.key.clone() })
                    }
                }
            }
        }
    }
    Ok(())
}

fn add_downward(
    files: &mut Projection,
    pod: &Pod,
    node: &NodeFacts,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
) -> Result<(), VolumeError> {
    for item in items {
        let value = if let Some(field) = &item.field_ref {
            field_value(pod, node, field)?
        } else if let Some(resource) = &item.resource_field_ref {
            let wanted = resource.container_name.as_deref().unwrap_or_default();
            let container = pod
                .spec
                .iter()
                .flat_map(|s| &s.containers)
                .find(|c| c.name == wanted)
                .ok_or_else(|| VolumeError::Invalid(format!("resourceFieldRef names no container {wanted:?}")))?;
            resource_value(container, node, resource)?
        } else {
            return Err(VolumeError::Invalid(format!("downwardAPI item {:?} has no source", item.path)));
        };
        insert(files, &item.path, value.into_bytes(), item.mode.unwrap_or(default_mode))?;
    }
    Ok(())
}

/// Adds a file at a relative path that cannot escape the volume.
fn insert(files: &mut Projection, path: &str, content: Vec<u8>, mode: i32) -> Result<(), VolumeError> {
    let escapes = path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|part| part == ".." || part.is_empty() || part.starts_with(".."));
    if escapes {
        return Err(VolumeError::Invalid(format!("file path {path:?} must be relative, without '..'")));
    }
    files.insert(path.to_string(), ProjectedFile { content, mode: (mode as u32) & 0o777 });
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ConfigMapProjection, ConfigMapVolumeSource, DownwardAPIProjection, ObjectFieldSelector, ProjectedVolumeSource,
        SecretVolumeSource, VolumeProjection,
    };

    use super::*;
    use crate::agent::spec::downward::tests::{node, pod};

    fn objects() -> Objects {
        Objects {
            config_maps: [("cfg".to_string(), [("a.txt".to_string(), b"A".to_vec()), ("b.txt".to_string(), b"B".to_vec())].into())]
                .into(),
            secrets: [("creds".to_string(), [("password".to_string(), b"hunter2".to_vec())].into())].into(),
            ..Default::default()
        }
    }

    fn volume(build: impl FnOnce(&mut Volume)) -> Volume {
        let mut v = Volume { name: "v".into(), ..Default::default() };
        build(&mut v);
        v
    }

    #[test]
    fn config_map_all_keys_or_selected_items() {
        let all = volume(|v| v.config_map = Some(ConfigMapVolumeSource { name: "cfg".into(), ..Default::default() }));
        let files = project(&pod(), &all, &objects(), &node()).expect("ok").expect("projected");
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.txt", "b.txt"]);
        assert_eq!(files["a.txt"].mode, 0o644);

        let some = volume(|v| {
            v.config_map = Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                items: Some(vec![KeyToPath { key: "b.txt".into(), path: "sub/b".into(), mode: Some(0o400) }]),
                ..Default::default()
            })
        });
        let files = project(&pod(), &some, &objects(), &node()).expect("ok").expect("projected");
        assert_eq!(files.get("sub/b"), Some(&ProjectedFile { content: b"B".to_vec(), mode: 0o400 }));
    }

    #[test]
    fn missing_objects_and_escaping_paths_fail() {
        let missing = volume(|v| v.secret = Some(SecretVolumeSource { secret_name: Some("nope".into()), ..Default::default() }));
        assert!(matches!(project(&pod(), &missing, &objects(), &node()), Err(VolumeError::ObjectNotFound { kind: "Secret", .. })));
        let optional = volume(|v| {
            v.secret = Some(SecretVolumeSource { secret_name: Some("nope".into()), optional: Some(true), ..Default::default() })
        });
        assert_eq!(project(&pod(), &optional, &objects(), &node()).expect("ok"), Some(Projection::new()));
        let escaping = volume(|v| {
            v.config_map = Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                items: Some(vec![KeyToPath { key: "a.txt".into(), path: "../etc/passwd".into(), mode: None }]),
                ..Default::default()
            })
        });
        assert!(matches!(project(&pod(), &escaping, &objects(), &node()), Err(VolumeError::Invalid(_))));
    }

    #[test]
    fn projected_combines_sources() {
        let projected = volume(|v| {
            v.projected = Some(ProjectedVolumeSource {
                default_mode: Some(0o440),
                sources: Some(vec![
                    VolumeProjection {
                        config_map: Some(ConfigMapProjection {
                            name: "cfg".into(),
                            items: Some(vec![KeyToPath { key: "a.txt".into(), path: "a".into(), mode: None }]),
                            optional: None,
                        }),
                        ..Default::default()
                    },
                    VolumeProjection {
                        downward_api: Some(DownwardAPIProjection {
                            items: Some(vec![DownwardAPIVolumeFile {
                                path: "name".into(),
                                field_ref: Some(ObjectFieldSelector { field_path: "metadata.name".into(), api_version: None }),
                                ..Default::default()
                            }]),
                        }),
                        ..Default::default()
                    },
                ]),
            })
        });
        let files = project(&pod(), &projected, &objects(), &node()).expect("ok").expect("projected");
        assert_eq!(files.get("a").map(|f| (f.content.as_slice(), f.mode)), Some((&b"A"[..], 0o440)));
        assert_eq!(files.get("name").map(|f| f.content.as_slice()), Some(&b"web"[..]));
        let empty_dir = volume(|_| {});
        assert_eq!(project(&pod(), &empty_dir, &objects(), &node()).expect("ok"), None);
    }
}
