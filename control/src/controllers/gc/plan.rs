//! What to do with a dependent once each of its owners has been checked
//! against the live API (upstream's `attemptToDeleteItem` decision).

use super::graph::Uid;

/// An owner as the live API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists with the uid the reference names.
    Solid,
    /// Gone, or replaced by another object of the same name.
    Dangling,
    /// Being deleted with Foreground: waits for its dependents to go.
    WaitingForDependents,
}

/// How the DELETE of a dependent asks its own dependents to be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A solid owner remains and every reference is sound.
    Keep,
    /// A solid owner remains: drop only the references to these owners.
    DropOwnerRefs(Vec<Uid>),
    Delete(Propagation),
}

/// The decision for a dependent whose owners are `owners` (uid, state).
/// `has_dependents`: the dependent owns objects itself; `finalizers`: its own.
pub fn plan(owners: &[(Uid, OwnerState)], has_dependents: bool, finalizers: &[String]) -> Plan {
    let with = |s: OwnerState| owners.iter().filter(move |(_, st)| *st == s).map(|(u, _)| u.clone());
    if with(OwnerState::Solid).next().is_some() {
        // A reference to an owner waiting on its dependents would keep that
        // owner stuck forever: drop it along with the dangling ones.
        let drop: Vec<Uid> = with(OwnerState::Dangling).chain(with(OwnerState::WaitingForDependents)).collect();
        return if drop.is_empty() { Plan::Keep } else { Plan::DropOwnerRefs(drop) };
    }
    let waiting = with(OwnerState::WaitingForDependents).next().is_some();
    if waiting && has_dependents {
        // Go in foreground too, so the owner waits for the whole subtree.
        return Plan::Delete(Propagation::Foreground);
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    if has(super::graph::ORPHAN) {
        Plan::Delete(Propagation::Orphan)
    } else if has(super::graph::FOREGROUND) {
        Plan::Delete(Propagation::Foreground)
    } else {
        Plan::Delete(Propagation::Background)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(states: &[OwnerState]) -> Vec<(Uid, OwnerState)> {
        states.iter().enumerate().map(|(i, s)| (format!("o{i}"), s.clone())).collect()
    }

    #[test]
    fn a_solid_owner_keeps_the_dependent() {
        assert_eq!(plan(&owners(&[OwnerState::Solid]), false, &[]), Plan::Keep);
        assert_eq!(
            plan(&owners(&[OwnerState::Solid, OwnerState::Dangling, OwnerState::WaitingForDependents]), false, &[]),
            Plan::DropOwnerRefs(vec!["o1".into(), "o2".into()])
        );
    }

    #[test]
    fn without_solid_owners_the_dependent_goes() {
        assert_eq!(plan(&owners(&[OwnerState::Dangling]), false, &[]), Plan::Delete(Propagation::Background));
        assert_eq!(plan(&owners(&[OwnerState::WaitingForDependents]), false, &[]), Plan::Delete(Propagation::Background));
        assert_eq!(plan(&owners(&[OwnerState::WaitingForDependents]), true, &[]), Plan::Delete(Propagation::Foreground));
        assert_eq!(plan(&owners(&[OwnerState::Dangling]), true, &["orphan".into()]), Plan::Delete(Propagation::Orphan));
    }
}
