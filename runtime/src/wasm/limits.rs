//! `limits.memory` for a wasm container: a [`ResourceLimiter`] that refuses
//! growth of linear memory and tables past the container's cap and records
//! that it did. The exit reason OOMKilled comes from that record, never from
//! an error message: the guest may trap on the failed growth, or see malloc
//! return NULL and exit on its own; both are the limit's doing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use wasmtime::ResourceLimiter;

/// What a table element is charged against the cap: a funcref slot on a 64-bit host.
pub const TABLE_ELEMENT_BYTES: u64 = 8;

/// Readings of a container's limiter that other tasks may look at (stats, exit mapping).
#[derive(Debug, Default)]
pub struct MemoryRecord {
    /// Bytes of linear memory plus table elements currently granted.
    pub granted_bytes: AtomicU64,
    /// A growth was refused because of the cap.
    pub hit_cap: AtomicBool,
}

impl MemoryRecord {
    pub fn hit_cap(&self) -> bool {
        self.hit_cap.load(Ordering::Relaxed)
    }

    pub fn granted_bytes(&self) -> u64 {
        self.granted_bytes.load(Ordering::Relaxed)
    }
}

/// The limiter of one Store. Linear memories and tables share one budget.
#[derive(Debug)]
pub struct MemoryLimiter {
    cap: Option<u64>,
    memory_bytes: u64,
    table_bytes: u64,
    record: Arc<MemoryRecord>,
}

impl MemoryLimiter {
    /// `cap` in bytes; `None` for no limit.
    pub fn new(cap: Option<u64>, record: Arc<MemoryRecord>) -> Self {
        MemoryLimiter { cap, memory_bytes: 0, table_bytes: 0, record }
    }

    /// Whether `desired` bytes for the part being resized fit next to `others`,
    /// the bytes every other memory and table holds.
    fn grant(&self, others: u64, desired: u64) -> bool {
        match self.cap {
            Some(cap) => others.saturating_add(desired) <= cap,
            None => true,
        }
    }

    fn publish(&self) {
        self.record.granted_bytes.store(self.memory_bytes + self.table_bytes, Ordering::Relaxed);
    }

    fn refused(&self) {
        self.record.hit_cap.store(true, Ordering::Relaxed);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Past the module's own declared maximum: the guest's business, not our limit.
            return Ok(false);
        }
        let (current, desired) = (current as u64, desired as u64);
        if !self.grant(self.table_bytes + self.memory_bytes.saturating_sub(current), desired) {
            self.refused();
            return Ok(false);
        }
        self.memory_bytes = self.memory_bytes.saturating_sub(current) + desired;
        self.publish();
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let current = current as u64 * TABLE_ELEMENT_BYTES;
        let desired = (desired as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        if !self.grant(self.memory_bytes + self.table_bytes.saturating_sub(current), desired) {
            self.refused();
            return Ok(false);
        }
        self.table_bytes = self.table_bytes.saturating_sub(current) + desired;
        self.publish();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memory_and_tables_share_one_cap_and_a_refusal_is_recorded() {
        let record = Arc::new(MemoryRecord::default());
        let mut limiter = MemoryLimiter::new(Some(16 << 20), record.clone());
        assert!(limiter.memory_growing(0, 2 * MIB, None).expect("limiter"));
        assert!(limiter.memory_growing(2 * MIB, 15 * MIB, None).expect("limiter"));
        assert!(!record.hit_cap());
        assert_eq!(record.granted_bytes(), 15 << 20);
        // 1 MiB is left: 131,072 elements of 8 bytes fit, one more does not.
        assert!(limiter.table_growing(0, 131_072, None).expect("limiter"));
        assert!(!limiter.table_growing(131_072, 131_073, None).expect("limiter"));
        assert!(record.hit_cap());
        assert!(!limiter.memory_growing(15 * MIB, 16 * MIB, None).expect("limiter"));
        assert_eq!(record.granted_bytes(), 16 << 20);
    }

    #[test]
    fn the_module_maximum_is_not_the_cap() {
        let record = Arc::new(MemoryRecord::default());
        let mut limiter = MemoryLimiter::new(Some(64 << 20), record.clone());
        assert!(!limiter.memory_growing(MIB, 2 * MIB, Some(MIB)).expect("limiter"));
        assert!(!record.hit_cap(), "a guest's own maximum does not make it OOMKilled");
    }

    #[test]
    fn without_a_cap_everything_is_granted() {
        let record = Arc::new(MemoryRecord::default());
        let mut limiter = MemoryLimiter::new(None, record.clone());
        assert!(limiter.memory_growing(0, 1 << 32, None).expect("limiter"));
        assert!(!record.hit_cap());
    }
}
