//! The garbage collector: deletes objects whose owners are all gone
//! (background propagation), deletes the dependents of an owner deleted in
//! the foreground before letting the owner go, and releases the dependents
//! of an owner deleted with `Orphan`.
//!
//! It watches every kind discovery reports as watchable and deletable (except
//! Events), keeps the ownership graph in memory ([`graph`]), and turns what
//! the graph flags into actions checked against the live API ([`collector`]).

pub mod catalog;
mod collector;
mod graph;
mod plan;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt};
use kube::core::DynamicObject;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::mpsc;

use super::Context;
use catalog::{Catalog, Kind};
use collector::Collector;
use graph::{Graph, ObjectId, Observed, OwnerRef, Work};

/// How often every object is looked at again, in case an event was missed.
const RESYNC: Duration = Duration::from_secs(30);
/// Wait before retrying discovery or a failed work item.
const RETRY: Duration = Duration::from_secs(2);

pub async fn run(ctx: Context) {
    let catalog = loop {
        match Catalog::discover(&ctx.client).await {
            Ok(c) => break c,
            Err(err) => {
                tracing::warn!(error = %err, "garbage collector: discovery failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    let kinds: Vec<Kind> = catalog.collectable().filter(|k| k.resource.kind != "Event").cloned().collect();
    let collector = Collector::new(ctx.client.clone(), catalog);
    Loop::new(kinds.len()).run(&ctx, &kinds, &collector).await;
}

/// One watch event, tagged with the index of the kind it is about.
type Tagged = (usize, Result<Event<DynamicObject>, watcher::Error>);

fn watch_all(ctx: &Context, kinds: &[Kind]) -> BoxStream<'static, Tagged> {
    let streams = kinds.iter().enumerate().map(|(i, kind)| {
        let api = kind.api(&ctx.client, None);
        watcher(api, watcher::Config::default()).default_backoff().map(move |e| (i, e)).boxed()
    });
    stream::select_all(streams).boxed()
}

fn observed(kind: &Kind, obj: &DynamicObject) -> Option<Observed> {
    let meta = &obj.metadata;
    let owners = meta.owner_references.iter().flatten().map(|r| OwnerRef {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        uid: r.uid.clone(),
        block_owner_deletion: r.block_owner_deletion.unwrap_or(false),
    });
    Some(Observed {
        id: ObjectId {
            api_version: kind.resource.api_version.clone(),
            kind: kind.resource.kind.clone(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone()?,
            uid: meta.uid.clone()?,
        },
        owners: owners.collect(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}

/// The collector's state: the graph, the work queue (deduplicated), and
/// which kinds have completed their first list.
struct Loop {
    graph: Graph,
    queue: VecDeque<Work>,
    queued: HashSet<Work>,
    /// Uids seen during the relist in progress, per kind.
    relisting: HashMap<usize, HashSet<String>>,
    listed: HashSet<usize>,
    kinds: usize,
    started: Instant,
}

impl Loop {
    fn new(kinds: usize) -> Self {
        Loop { graph: Graph::default(), queue: VecDeque::new(), queued: HashSet::new(), relisting: HashMap::new(), listed: HashSet::new(), kinds, started: Instant::now() }
    }

    /// Work is only acted on once every kind has been listed: before that an
    /// owner may merely not have been seen yet. A kind whose list keeps
    /// failing must not stall collection for good: every action verifies
    /// owners with a live GET anyway, so after one resync period it starts.
    fn synced(&self) -> bool {
        self.listed.len() == self.kinds || self.started.elapsed() >= RESYNC
    }

    fn enqueue(&mut self, work: impl IntoIterator<Item = Work>) {
        for w in work {
            if self.queued.insert(w.clone()) {
                self.queue.push_back(w);
            }
        }
    }

    async fn run(mut self, ctx: &Context, kinds: &[Kind], collector: &Collector) {
        let mut events = watch_all(ctx, kinds);
        let (retry_tx, mut retries) = mpsc::unbounded_channel::<Work>();
        let mut resync = tokio::time::interval(RESYNC);
        loop {
            let ready = self.synced() && !self.queue.is_empty();
            tokio::select! {
                biased;
                event = events.next() => match event {
                    Some((i, Ok(e))) => self.on_event(&kinds[i], i, e),
                    Some((i, Err(err))) => tracing::debug!(kind = %kinds[i].resource.kind, error = %err, "garbage collector watch"),
                    None => return,
                },
                Some(work) = retries.recv() => self.enqueue([work]),
                _ = resync.tick() => {
                    if self.synced() {
                        let all = self.graph.resync();
                        self.enqueue(all);
                    }
                }
                _ = std::future::ready(()), if ready => self.work_one(collector, &retry_tx).await,
            }
        }
    }

    async fn work_one(&mut self, collector: &Collector, retry_tx: &mpsc::UnboundedSender<Work>) {
        let Some(work) = self.queue.pop_front() else { return };
        self.queued.remove(&work);
        match collector.process(&self.graph, &work).await {
            Ok(more) => self.enqueue(more),
            Err(err) => {
                tracing::debug!(?work, error = %err, "garbage collector: retrying");
                let tx = retry_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY).await;
                    let _ = tx.send(work);
                });
            }
        }
    }

    fn on_event(&mut self, kind: &Kind, index: usize, event: Event<DynamicObject>) {
        match event {
            Event::Apply(obj) => {
                if let Some(o) = observed(kind, &obj) {
                    let work = self.graph.observe(o);
                    self.enqueue(work);
                }
            }
            Event::Delete(obj) => {
                if let Some(uid) = obj.metadata.uid.as_deref() {
                    let work = self.graph.forget(uid);
                    self.enqueue(work);
                }
            }
            Event::Init => {
                self.relisting.insert(index, HashSet::new());
            }
            Event::InitApply(obj) => {
                if let Some(o) = observed(kind, &obj) {
                    self.relisting.entry(index).or_default().insert(o.id.uid.clone());
                    let work = self.graph.observe(o);
                    self.enqueue(work);
                }
            }
            Event::InitDone => {
                // Whatever the relist no longer shows was deleted meanwhile.
                let seen = self.relisting.remove(&index).unwrap_or_default();
                for uid in self.graph.uids_of(&kind.resource.api_version, &kind.resource.kind) {
                    if !seen.contains(&uid) {
                        let work = self.graph.forget(&uid);
                        self.enqueue(work);
                    }
                }
                let first_sync = self.listed.insert(index) && self.listed.len() == self.kinds;
                if first_sync {
                    tracing::info!(kinds = self.kinds, "garbage collector: every kind listed");
                    let all = self.graph.resync();
                    self.enqueue(all);
                }
            }
        }
    }
}
