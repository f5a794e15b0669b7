//! OCI images for wasmkube nodes: pull from registries, a content-addressed blob store, safe
//! unpacking into shared snapshots, wasm artifact recognition, import, pull policy and GC.
//! It knows nothing of pods: callers pass references, credentials and the set of images in use.

pub mod blobs;
pub mod digest;
pub mod error;
pub mod gc;
pub mod import;
pub mod manifest;
pub mod policy;
pub mod progress;
pub mod records;
pub mod reference;
pub mod registry;
pub mod service;
pub mod unpack;
pub mod wasm;

pub use digest::Digest;
pub use error::{ImageError, Result};
pub use gc::GcReport;
pub use policy::{PullFailureReason, PullPolicy};
pub use progress::{Progress, Silent};
pub use records::{ImageKind, ImageRecord};
pub use reference::ImageRef;
pub use registry::auth::{Credentials, Keyring};
pub use registry::RegistryOptions;
pub use service::{Content, ImageService, LocalImage, PullOutcome};
pub use unpack::{mount_rootfs, unmount_rootfs, Snapshot, SnapshotBackend, SnapshotLayout};
