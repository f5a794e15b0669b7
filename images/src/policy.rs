//! `imagePullPolicy` as Kubernetes defines it, and the reasons a failed pull is reported with.

use std::str::FromStr;

use crate::error::ImageError;
use crate::reference::ImageRef;

/// The container's `imagePullPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// What to do for one container start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullDecision {
    Pull,
    UseLocal,
    /// Policy `Never` and the image is absent: fail with `ErrImageNeverPull`.
    FailNeverPull,
}

impl PullPolicy {
    /// The policy Kubernetes defaults to when the field is empty: `Always` for `:latest` or an
    /// untagged image, `IfNotPresent` otherwise.
    pub fn default_for(image: &ImageRef) -> Self {
        if image.is_latest() {
            Self::Always
        } else {
            Self::IfNotPresent
        }
    }

    /// The explicit policy if given, else the default for `image`.
    pub fn effective(explicit: Option<PullPolicy>, image: &ImageRef) -> Self {
        explicit.unwrap_or_else(|| Self::default_for(image))
    }

    /// Decides given whether the image is already present on the node.
    pub fn decide(self, present: bool) -> PullDecision {
        match (self, present) {
            (Self::Always, _) => PullDecision::Pull,
            (_, true) => PullDecision::UseLocal,
            (Self::IfNotPresent, false) => PullDecision::Pull,
            (Self::Never, false) => PullDecision::FailNeverPull,
        }
    }
}

impl FromStr for PullPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Always" => Ok(Self::Always),
            "IfNotPresent" => Ok(Self::IfNotPresent),
            "Never" => Ok(Self::Never),
            other => Err(format!("unsupported imagePullPolicy {other:?}: expected Always, IfNotPresent or Never")),
        }
    }
}

/// The `waiting.reason` a container shows when its image cannot be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullFailureReason {
    /// The last pull failed.
    ErrImagePull,
    /// Pulls keep failing; the agent backs off before the next (it reports this between attempts).
    ImagePullBackOff,
    /// Policy `Never` and the image is not present.
    ErrImageNeverPull,
    /// The reference does not parse.
    InvalidImageName,
}

impl PullFailureReason {
    /// The reason of a failed attempt; the agent turns repeated `ErrImagePull`s into
    /// `ImagePullBackOff` while it waits.
    pub fn of(error: &ImageError) -> Self {
        match error {
            ImageError::InvalidImageName { .. } => Self::InvalidImageName,
            ImageError::NotPresent(_) => Self::ErrImageNeverPull,
            _ => Self::ErrImagePull,
        }
    }

    /// The reason string as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrImagePull => "ErrImagePull",
            Self::ImagePullBackOff => "ImagePullBackOff",
            Self::ErrImageNeverPull => "ErrImageNeverPull",
            Self::InvalidImageName => "InvalidImageName",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        s.parse().unwrap()
    }

    #[test]
    fn latest_or_untagged_defaults_to_always() {
        assert_eq!(PullPolicy::default_for(&r("busybox")), PullPolicy::Always);
        assert_eq!(PullPolicy::default_for(&r("busybox:latest")), PullPolicy::Always);
        assert_eq!(PullPolicy::default_for(&r("busybox:1.0")), PullPolicy::IfNotPresent);
        assert_eq!(PullPolicy::effective(Some(PullPolicy::Never), &r("busybox")), PullPolicy::Never);
    }

    #[test]
    fn decisions_follow_kubernetes() {
        assert_eq!(PullPolicy::Always.decide(true), PullDecision::Pull);
        assert_eq!(PullPolicy::IfNotPresent.decide(true), PullDecision::UseLocal);
        assert_eq!(PullPolicy::IfNotPresent.decide(false), PullDecision::Pull);
        assert_eq!(PullPolicy::Never.decide(true), PullDecision::UseLocal);
        assert_eq!(PullPolicy::Never.decide(false), PullDecision::FailNeverPull);
    }

    #[test]
    fn failures_map_to_known_reasons() {
        let invalid = "UPPER".parse::<ImageRef>().unwrap_err();
        assert_eq!(PullFailureReason::of(&invalid).as_str(), "InvalidImageName");
        assert_eq!(PullFailureReason::of(&ImageError::NotPresent("x".into())).as_str(), "ErrImageNeverPull");
        let denied = ImageError::Unauthorized { registry: "r".into(), reference: "r/x".into() };
        assert_eq!(PullFailureReason::of(&denied).as_str(), "ErrImagePull");
        assert!("Sometimes".parse::<PullPolicy>().is_err());
    }
}
