//! Leader election on a coordination.k8s.io Lease, so that when several
//! servers share one store only one scheduler and one controller manager act.
//!
//! The holder renews the Lease every `renew_every`; anyone may take it over
//! once `renewTime + leaseDurationSeconds` has passed. Every write carries the
//! Lease's resourceVersion, so two candidates can never both win: the loser
//! gets 409 and reads again. The work runs only while the Lease is held and is
//! dropped (cancelled) the moment a renewal fails for longer than the lease
//! lasts, before anyone else may take it over. On a clean shutdown the Lease
//! is given back so the next leader does not wait for it to expire.

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};

/// Where a candidate competes and how long a Lease lasts.
#[derive(Clone, Debug)]
pub struct Election {
    pub namespace: String,
    /// The Lease's name: one per component (`kube-scheduler`, `kube-controller-manager`).
    pub lease_name: String,
    /// Who this candidate is. Stable across restarts of the same server, so a
    /// restarted server takes its own Lease back at once.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
}

impl Election {
    pub fn new(lease_name: &str, identity: &str) -> Self {
        Election {
            namespace: "kube-system".into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(2),
        }
    }
}

/// Runs `work` whenever this candidate holds the Lease, until `shutdown`.
/// `work` is started afresh after each time leadership is regained.
pub async fn run_while_leader<W, F>(client: Client, election: Election, shutdown: impl Future<Output = ()>, mut work: W)
where
    W: FnMut() -> F,
    F: Future<Output = ()>,
{
    let leases: Api<Lease> = Api::namespaced(client, &election.namespace);
    tokio::pin!(shutdown);
    loop {
        // Campaign until the Lease is ours.
        loop {
            match try_acquire_or_renew(&leases, &election).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => tracing::debug!(lease = %election.lease_name, error = %err, "leader election"),
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(election.renew_every) => {}
            }
        }
        tracing::info!(lease = %election.lease_name, identity = %election.identity, "became leader");
        let led = work();
        tokio::pin!(led);
        let mut last_renewed = tokio::time::Instant::now();
        let lost = loop {
            tokio::select! {
                _ = &mut shutdown => {
                    release(&leases, &election).await;
                    return;
                }
                _ = &mut led => {
                    // The work ended by itself (it should not); give the Lease back and campaign again.
                    release(&leases, &election).await;
                    break false;
                }
                _ = tokio::time::sleep(election.renew_every) => {
                    match try_acquire_or_renew(&leases, &election).await {
                        Ok(true) => last_renewed = tokio::time::Instant::now(),
                        Ok(false) => break true,
                        // A passing error: keep leading until the Lease could have expired.
                        Err(err) if last_renewed.elapsed() + election.renew_every < election.lease_duration => {
                            tracing::warn!(lease = %election.lease_name, error = %err, "renewing the leader lease");
                        }
                        Err(_) => break true,
                    }
                }
            }
        };
        if lost {
            tracing::warn!(lease = %election.lease_name, identity = %election.identity, "lost leadership; stopping until it is regained");
        }
    }
}

/// Takes the Lease if it is free, expired or already ours; renews it if ours.
/// `Ok(false)` when someone else holds it (or won a race for it).
async fn try_acquire_or_renew(leases: &Api<Lease>, election: &Election) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let current = leases.get_opt(&election.lease_name).await?;
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(election.lease_name.clone()), ..Default::default() },
            spec: Some(held_by(election, now, None, 0)),
        };
        return match leases.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    if !may_take(&spec, &election.identity, now) {
        return Ok(false);
    }
    let ours = spec.holder_identity.as_deref() == Some(election.identity.as_str());
    let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
    let acquired = if ours { spec.acquire_time.clone() } else { None };
    lease.spec = Some(held_by(election, now, acquired, transitions));
    match leases.replace(&election.lease_name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(err) => Err(err),
    }
}

fn held_by(election: &Election, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(election.identity.clone()),
        lease_duration_seconds: Some(election.lease_duration.as_secs().max(1) as i32),
        acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    }
}

/// Whether `identity` may write itself into a Lease with this spec at `now`.
fn may_take(spec: &LeaseSpec, identity: &str, now: Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || holder == identity {
        return true;
    }
    let Some(MicroTime(renewed)) = spec.renew_time else { return true };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(1));
    renewed.as_second().saturating_add(duration) < now.as_second()
}

/// Gives the Lease up so another candidate need not wait for it to expire.
async fn release(leases: &Api<Lease>, election: &Election) {
    let Ok(Some(mut lease)) = leases.get_opt(&election.lease_name).await else { return };
    let Some(spec) = lease.spec.as_mut() else { return };
    if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    if let Err(err) = leases.replace(&election.lease_name, &PostParams::default(), &lease).await {
        tracing::debug!(lease = %election.lease_name, error = %err, "releasing the leader lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64, duration: i32) -> LeaseSpec {
        let now = Timestamp::now();
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(Timestamp::from_second(now.as_second() - renewed_secs_ago).expect("valid time"))),
            lease_duration_seconds: Some(duration),
            ..Default::default()
        }
    }

    #[test]
    fn a_live_lease_of_someone_else_is_not_taken() {
        assert!(!may_take(&spec("server-b", 3, 15), "server-a", Timestamp::now()));
    }

    #[test]
    fn an_expired_free_or_own_lease_is_taken() {
        assert!(may_take(&spec("server-b", 20, 15), "server-a", Timestamp::now()));
        assert!(may_take(&spec("server-a", 1, 15), "server-a", Timestamp::now()));
        assert!(may_take(&LeaseSpec::default(), "server-a", Timestamp::now()));
    }
}
