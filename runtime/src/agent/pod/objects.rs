//! Fetches the ConfigMaps, Secrets and PersistentVolumeClaims a pod refers to (for env and volumes)
//! from the API server. A missing object is simply absent from the result;
//! whether that is an error depends on `optional`, decided by the consumer.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::{Api, Client};

use crate::agent::spec::env::{referenced_objects as env_refs, EnvSources};
use crate::agent::volumes::projection::referenced_objects as volume_refs;
use crate::agent::volumes::Objects;

/// Every ConfigMap and Secret the pod's env and volumes name, as they are now.
pub async fn fetch(client: &Client, pod: &Pod) -> Result<Objects, kube::Error> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let (mut config_maps, mut secrets): (BTreeSet<String>, BTreeSet<String>) = (BTreeSet::new(), BTreeSet::new());
    let spec = pod.spec.clone().unwrap_or_default();
    for container in spec.init_containers.iter().flatten().chain(&spec.containers) {
        let (cms, ss) = env_refs(container);
        config_maps.extend(cms);
        secrets.extend(ss);
    }
    let (cms, ss) = volume_refs(pod);
    config_maps.extend(cms);
    secrets.extend(ss);

    let mut objects = Objects::default();
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    for name in config_maps {
        if let Some(cm) = cm_api.get_opt(&name).await? {
            let mut data: BTreeMap<String, Vec<u8>> =
                cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
            data.extend(cm.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
            objects.config_maps.insert(name, data);
        }
    }
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for name in secrets {
        if let Some(secret) = secret_api.get_opt(&name).await? {
            let mut data: BTreeMap<String, Vec<u8>> =
                secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            data.extend(secret.string_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())));
            objects.secrets.insert(name, data);
        }
    }
    objects.claims = crate::agent::volumes::claims::fetch(client, &namespace, pod).await?;
    Ok(objects)
}

/// The string view env vars need.
pub fn env_sources(objects: &Objects) -> EnvSources {
    let text = |map: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, String> {
        map.iter().map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect()
    };
    EnvSources {
        config_maps: objects.config_maps.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        secrets: objects.secrets.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
    }
}
