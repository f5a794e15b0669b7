//! The in-memory index of current objects, like the apiserver's watch cache:
//! loaded once at open and updated by the writer after each commit, so gets
//! and lists never touch SQLite and a list of 10,000 objects is a range scan
//! that clones Arcs. Because the writer applies a batch here before it replies
//! to any caller of that batch, a read that starts after an acknowledged write
//! sees it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};

use crate::store::{EventKind, ListPage, Revision, StoredObject, WatchEvent};

pub(super) struct Index {
    state: RwLock<Snapshot>,
}

struct Snapshot {
    objects: BTreeMap<String, StoredObject>,
    /// Revision of the last batch applied: the revision reads are served at.
    revision: Revision,
}

impl Index {
    pub(super) fn new(objects: BTreeMap<String, StoredObject>, revision: Revision) -> Self {
        Index {
            state: RwLock::new(Snapshot { objects, revision }),
        }
    }

    pub(super) fn revision(&self) -> Revision {
        self.read().revision
    }

    pub(super) fn get(&self, key: &str) -> Option<StoredObject> {
        self.read().objects.get(key).cloned()
    }

    /// Keys starting with `prefix`, strictly after `after_key`, at most
    /// `limit` of them (`Some(0)` means no limit, as in Kubernetes).
    pub(super) fn list(
        &self,
        prefix: &str,
        after_key: Option<&str>,
        limit: Option<usize>,
    ) -> ListPage {
        let limit = limit.filter(|&n| n > 0).unwrap_or(usize::MAX);
        let start = match after_key {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let snapshot = self.read();
        let mut matching = snapshot
            .objects
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, object)| object);
        let items: Vec<StoredObject> = matching.by_ref().take(limit).cloned().collect();
        let continue_after = match matching.next() {
            Some(_) => items.last().map(|object| object.key.clone()),
            None => None,
        };
        ListPage {
            items,
            revision: snapshot.revision,
            continue_after,
        }
    }

    /// Apply a committed batch; `revision` is the batch's last revision.
    pub(super) fn apply(&self, events: &[WatchEvent], revision: Revision) {
        let mut snapshot = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            let object = &event.object;
            match event.kind {
                EventKind::Added | EventKind::Modified => {
                    snapshot.objects.insert(object.key.clone(), object.clone());
                }
                EventKind::Deleted => {
                    snapshot.objects.remove(&object.key);
                }
            }
        }
        snapshot.revision = snapshot.revision.max(revision);
    }

    // A panic while holding the lock cannot leave the map half-updated in a
    // way that matters more than stopping service would, so poisoning is ignored.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::sqlite::object::stamp;

    fn added(key: &str, revision: Revision) -> WatchEvent {
        let object = stamp(key, json!({"metadata": {"name": key}}), revision).expect("stamp");
        WatchEvent {
            kind: EventKind::Added,
            object,
            prev: None,
        }
    }

    fn keys(page: &ListPage) -> Vec<&str> {
        page.items
            .iter()
            .map(|object| object.key.as_str())
            .collect()
    }

    fn sample() -> Index {
        let index = Index::new(BTreeMap::new(), 0);
        let events: Vec<_> = [
            "default/a",
            "default/b",
            "default/c",
            "default2/a",
            "kube/a",
        ]
        .iter()
        .zip(1..)
        .map(|(key, revision)| added(key, revision))
        .collect();
        index.apply(&events, 5);
        index
    }

    #[test]
    fn list_keeps_prefixes_apart() {
        let page = sample().list("default/", None, None);
        assert_eq!(keys(&page), ["default/a", "default/b", "default/c"]);
        assert_eq!(page.revision, 5);
        assert_eq!(page.continue_after, None);
    }

    #[test]
    fn list_pages_with_after_key_and_limit() {
        let index = sample();
        let first = index.list("default/", None, Some(2));
        assert_eq!(keys(&first), ["default/a", "default/b"]);
        assert_eq!(first.continue_after.as_deref(), Some("default/b"));
        let second = index.list("default/", first.continue_after.as_deref(), Some(2));
        assert_eq!(keys(&second), ["default/c"]);
        assert_eq!(
            second.continue_after, None,
            "an exact last page has no continuation"
        );
        assert_eq!(
            keys(&index.list("default/", None, Some(0))).len(),
            3,
            "limit 0 means all"
        );
        assert!(index
            .list("default/", Some("default/c"), None)
            .items
            .is_empty());
        assert_eq!(
            keys(&index.list("default/", Some("a"), Some(1))),
            ["default/a"]
        );
    }

    #[test]
    fn deletes_remove_and_revision_only_grows() {
        let index = sample();
        let mut gone = added("default/b", 6);
        gone.kind = EventKind::Deleted;
        index.apply(&[gone], 6);
        assert!(index.get("default/b").is_none());
        assert_eq!(
            index.get("default/a").map(|object| object.revision),
            Some(1)
        );
        index.apply(&[], 3);
        assert_eq!(index.revision(), 6);
    }
}
