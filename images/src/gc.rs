//! Garbage collection: once the blob store passes a size budget, images no container uses are
//! removed least-recently-used first, then blobs and snapshots no remaining image references are
//! swept. Anything a remaining image needs is never removed.

use std::collections::HashSet;

use crate::digest::{chain_ids, Digest};
use crate::error::Result;
use crate::records::ImageKind;
use crate::service::ImageService;

/// What one GC run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_images: Vec<String>,
    pub removed_blobs: usize,
    pub removed_snapshots: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl ImageService {
    /// Removes unused images (names not in `in_use`), oldest use first, until the blobs take at
    /// most `max_bytes`. Runs exclusively: no pull or unpack is in flight meanwhile.
    pub async fn gc(&self, in_use: &HashSet<String>, max_bytes: u64) -> Result<GcReport> {
        let _exclusive = self.gc_lock.write().await;
        let mut report = GcReport { bytes_before: self.blob_bytes()?, ..Default::default() };
        report.bytes_after = report.bytes_before;
        if report.bytes_before <= max_bytes {
            return Ok(report);
        }
        let mut candidates: Vec<_> = self.records.all().into_iter().filter(|r| !in_use.contains(&r.name)).collect();
        candidates.sort_by_key(|r| (r.last_used, r.pulled_at));
        for victim in candidates {
            self.records.remove(&victim.name)?;
            report.removed_images.push(victim.name);
            self.sweep(&mut report)?;
            report.bytes_after = self.blob_bytes()?;
            if report.bytes_after <= max_bytes {
                break;
            }
        }
        Ok(report)
    }

    /// Removes blobs and snapshots that no recorded image references.
    fn sweep(&self, report: &mut GcReport) -> Result<()> {
        let records = self.records.all();
        let live_blobs: HashSet<&Digest> = records.iter().flat_map(|r| r.blobs()).collect();
        let live_snapshots: HashSet<Digest> = records
            .iter()
            .filter_map(|r| match &r.kind {
                ImageKind::Rootfs { diff_ids } => Some(chain_ids(diff_ids)),
                ImageKind::Wasm { .. } => None,
            })
            .flatten()
            .collect();
        for (digest, _) in self.blobs.list()? {
            if !live_blobs.contains(&digest) {
                self.blobs.remove(&digest)?;
                report.removed_blobs += 1;
            }
        }
        for chain in self.snapshots.list()? {
            if !live_snapshots.contains(&chain) {
                self.snapshots.remove(&chain)?;
                report.removed_snapshots += 1;
            }
        }
        Ok(())
    }

    fn blob_bytes(&self) -> Result<u64> {
        Ok(self.blobs.list()?.iter().map(|(_, size)| size).sum())
    }
}
