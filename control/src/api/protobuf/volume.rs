//! Pod volumes: the sources a single-binary node can serve (emptyDir, hostPath,
//! configMap, secret, downwardAPI, persistentVolumeClaim). Other sources are dropped,
//! which leaves a volume without a source for validation to reject.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EmptyDirVolumeSource,
    HostPathVolumeSource, KeyToPath, PersistentVolumeClaimVolumeSource, SecretVolumeSource, Volume,
};
use k8s_pb::api::core::v1 as pb;

use super::convert::from_proto;

from_proto!(pb::Volume => Volume {
    name,
    volume_source {
        host_path,
        empty_dir,
        secret,
        persistent_volume_claim,
        downward_api,
        config_map,
    },
});

from_proto!(pb::HostPathVolumeSource => HostPathVolumeSource { path, r#type => type_ });
from_proto!(pb::EmptyDirVolumeSource => EmptyDirVolumeSource { medium, size_limit });
from_proto!(pb::SecretVolumeSource => SecretVolumeSource { secret_name, items, default_mode, optional });
from_proto!(pb::ConfigMapVolumeSource => ConfigMapVolumeSource {
    local_object_reference { name },
    items,
    default_mode,
    optional,
});
from_proto!(pb::KeyToPath => KeyToPath { key, path, mode });
from_proto!(pb::PersistentVolumeClaimVolumeSource => PersistentVolumeClaimVolumeSource {
    claim_name,
    omit_zero read_only,
});
from_proto!(pb::DownwardAPIVolumeSource => DownwardAPIVolumeSource { items, default_mode });
from_proto!(pb::DownwardAPIVolumeFile => DownwardAPIVolumeFile {
    path,
    field_ref,
    resource_field_ref,
    mode,
});
