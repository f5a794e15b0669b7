//! Pull progress callbacks (bytes done / total per layer), so a CLI can draw bars and the node
//! agent can stay silent.

use crate::digest::Digest;

/// Receives per-blob progress during a pull. Called from concurrent downloads.
pub trait Progress: Send + Sync {
    /// A download of `total` bytes starts (`reused` blobs are already present: no download).
    fn started(&self, blob: &Digest, total: u64, reused: bool);
    /// `bytes` more bytes of `blob` arrived.
    fn advanced(&self, blob: &Digest, bytes: u64);
    /// The blob is stored and verified.
    fn finished(&self, blob: &Digest);
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: &Digest, _: u64, _: bool) {}
    fn advanced(&self, _: &Digest, _: u64) {}
    fn finished(&self, _: &Digest) {}
}
