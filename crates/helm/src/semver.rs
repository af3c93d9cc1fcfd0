//! Versions and constraints as Helm reads them (Masterminds semver v3): loose versions
//! (`v1.2`, `1`), and constraint strings with `||`, `,`/space conjunctions, `x`
//! wildcards, `~`, `^` and hyphen ranges. Used for `kubeVersion` checks, chart version
//! validation and repository indexes.
//!
//! Helm and Sprig use the same library, so there is one parser, Sprig's
//! ([`sprig::semver`]); this module gives Helm's callers their shapes of it.

use std::cmp::Ordering;

pub use sprig::semver::{Constraints, Version};

/// A parsed constraint: OR of ANDs.
#[derive(Debug, Clone)]
pub struct Constraint(Constraints);

impl Constraint {
    /// `semver.NewConstraint`; `None` where it fails.
    pub fn parse(s: &str) -> Option<Constraint> {
        Constraints::parse(s).ok().map(Constraint)
    }

    /// `(*Constraints).Check`.
    pub fn matches(&self, v: &Version) -> bool {
        self.0.check(v)
    }
}

/// `semver.NewVersion`; `None` where it fails.
pub fn parse_version(s: &str) -> Option<Version> {
    Version::parse(s).ok()
}

/// Versions in semver order (Masterminds' `Compare`: build metadata ignored), a version
/// that does not parse below every one that does.
pub fn cmp_versions(a: Option<&Version>, b: Option<&Version>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.compare(b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

/// Helm's `chartutil.IsCompatibleRange`.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let (Some(c), Some(v)) = (Constraint::parse(constraint), parse_version(version)) else {
        return false;
    };
    c.matches(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_versions() {
        assert!(parse_version("1.2.3").is_some());
        assert!(parse_version("v1.2").is_some());
        assert!(parse_version("1.0.0-rc.1+build.5").is_some());
        assert!(parse_version("abc").is_none());
        assert!(parse_version("1.2.3.4").is_none());
    }

    #[test]
    fn kube_version_constraints() {
        assert!(is_compatible_range(">=1.19.0-0", "v1.32.0"));
        assert!(is_compatible_range(">= 1.21.0-0 < 1.33.0-0", "v1.32.0"));
        assert!(!is_compatible_range(">=1.33.0", "v1.32.0"));
        assert!(is_compatible_range("<1.20 || >=1.30", "v1.32.0"));
        assert!(is_compatible_range("1.32.x", "v1.32.5"));
        assert!(is_compatible_range("~1.32.0", "v1.32.9"));
        assert!(!is_compatible_range("^1.33", "v1.32.0"));
    }
}
