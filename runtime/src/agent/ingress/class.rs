//! Which Ingresses are ours: those whose IngressClass names our controller
//! (`wasmkube.io/ingress`; the cluster's class is `wasmkube`), and those
//! naming no class at all while one of our classes is the cluster default.
//! The deprecated `kubernetes.io/ingress.class` annotation still counts, as
//! in the controllers that users migrate from.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

/// The `spec.controller` of our IngressClasses.
pub const CONTROLLER: &str = "wasmkube.io/ingress";
/// The class the control plane creates.
pub const CLASS_NAME: &str = "wasmkube";
const DEFAULT_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
const LEGACY_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Our class names and whether one of them is the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OurClasses {
    names: HashSet<String>,
    default: bool,
}

impl OurClasses {
    pub fn from(classes: &[Arc<IngressClass>]) -> OurClasses {
        let mut names = HashSet::from([CLASS_NAME.to_string()]);
        let mut default = false;
        for class in classes {
            if class.spec.as_ref().and_then(|s| s.controller.as_deref()) != Some(CONTROLLER) {
                continue;
            }
            let Some(name) = class.metadata.name.clone() else { continue };
            let annotations = class.metadata.annotations.as_ref();
            default |= annotations.and_then(|a| a.get(DEFAULT_ANNOTATION)).is_some_and(|v| v == "true");
            names.insert(name);
        }
        OurClasses { names, default }
    }

    pub fn owns(&self, ing: &Ingress) -> bool {
        let named = ing.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref());
        let legacy = ing.metadata.annotations.as_ref().and_then(|a| a.get(LEGACY_ANNOTATION)).map(String::as_str);
        match named.or(legacy) {
            Some(class) => self.names.contains(class),
            None => self.default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, controller: &str, default: bool) -> Arc<IngressClass> {
        let annotations = if default { json!({DEFAULT_ANNOTATION: "true"}) } else { json!({}) };
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}})).unwrap())
    }

    fn ingress(class: Option<&str>) -> Ingress {
        serde_json::from_value(json!({"metadata": {"name": "i"}, "spec": {"ingressClassName": class}})).unwrap()
    }

    #[test]
    fn classes_decide() {
        let ours = OurClasses::from(&[class("wasmkube", CONTROLLER, true), class("nginx", "k8s.io/ingress-nginx", false)]);
        assert!(ours.owns(&ingress(Some("wasmkube"))));
        assert!(!ours.owns(&ingress(Some("nginx"))));
        assert!(ours.owns(&ingress(None)), "no class while ours is the default");
        let not_default = OurClasses::from(&[class("wasmkube", CONTROLLER, false)]);
        assert!(!not_default.owns(&ingress(None)));
    }
}
