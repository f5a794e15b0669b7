//! The `pod-template-hash` of a Deployment's ReplicaSets and template
//! equality. As upstream: an FNV-1a 32-bit hash of the pod template (plus the
//! collision count, when there was a collision) written with a "safe"
//! alphabet without vowels, so names never spell words. Templates are
//! compared (and hashed) after normalising away what clients write
//! differently for the same thing: `null`, `{}`, `[]` and the hash label
//! itself (`kubectl rollout undo` sends `creationTimestamp: null` and
//! `resources: {}`).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label (and selector key) that tells the ReplicaSets of a Deployment apart.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Upstream's alphabet for generated names: no vowels, no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The template as JSON with empty values and the hash label removed.
pub fn normalized(template: Option<&PodTemplateSpec>) -> Value {
    let mut value = template.and_then(|t| serde_json::to_value(t).ok()).unwrap_or(Value::Null);
    if let Some(labels) = value.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(HASH_LABEL);
    }
    prune(&mut value);
    value
}

/// Removes nulls, empty objects and empty arrays, innermost first.
fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                prune(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Whether two templates describe the same pods (the hash label aside).
pub fn same_template(a: Option<&PodTemplateSpec>, b: Option<&PodTemplateSpec>) -> bool {
    normalized(a) == normalized(b)
}

/// The hash label value of `template` after `collision_count` collisions.
pub fn pod_template_hash(template: Option<&PodTemplateSpec>, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv1a32::new();
    hasher.write(normalized(template).to_string().as_bytes());
    if let Some(count) = collision_count {
        hasher.write(&count.to_le_bytes());
    }
    safe_encode(&hasher.finish().to_string())
}

/// Maps each character onto the safe alphabet (upstream's SafeEncodeString).
fn safe_encode(text: &str) -> String {
    text.bytes().map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()])).collect()
}

/// 32-bit FNV-1a.
struct Fnv1a32(u32);

impl Fnv1a32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    fn new() -> Self {
        Fnv1a32(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(v: Value) -> PodTemplateSpec {
        serde_json::from_value(v).expect("a template")
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let hash = |s: &str| {
            let mut h = Fnv1a32::new();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0x811c9dc5);
        assert_eq!(hash("a"), 0xe40c292c);
        assert_eq!(hash("foobar"), 0xbf9cf968);
    }

    #[test]
    fn empty_values_and_the_hash_label_do_not_matter() {
        let stored = template(json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
            "spec": {"containers": [{"name": "c", "image": "img:1"}]}}));
        let from_undo = template(json!({"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "img:1", "resources": {}}]}}));
        assert!(same_template(Some(&stored), Some(&from_undo)));
        assert_eq!(pod_template_hash(Some(&stored), None), pod_template_hash(Some(&from_undo), None));
        let other = template(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "img:2"}]}}));
        assert!(!same_template(Some(&stored), Some(&other)));
        assert_ne!(pod_template_hash(Some(&stored), None), pod_template_hash(Some(&other), None));
    }

    #[test]
    fn a_collision_count_changes_the_hash_and_names_are_safe() {
        let t = template(json!({"spec": {"containers": [{"name": "c", "image": "img:1"}]}}));
        let first = pod_template_hash(Some(&t), None);
        assert_ne!(first, pod_template_hash(Some(&t), Some(1)));
        assert_eq!(first, pod_template_hash(Some(&t), None), "deterministic");
        assert!(first.bytes().all(|b| SAFE_ALPHABET.contains(&b)) && !first.is_empty() && first.len() <= 10, "{first}");
    }
}
