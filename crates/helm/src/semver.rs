//! Versions and constraints as Helm reads them (Masterminds semver v3): loose versions
//! (`v1.2`, `1`), and constraint strings with `||`, `,`/space conjunctions, `x`
//! wildcards, `~`, `^` and hyphen ranges. Used for `kubeVersion` checks and chart
//! version validation.

use std::cmp::Ordering;

/// A semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
}

impl Version {
    /// Masterminds' loose `NewVersion`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let (s, _meta) = match s.split_once('+') {
            Some((a, m)) => {
                if m.is_empty() || !m.split('.').all(valid_ident) {
                    return None;
                }
                (a, Some(m))
            }
            None => (s, None),
        };
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => {
                if p.is_empty() || !p.split('.').all(valid_ident) {
                    return None;
                }
                (c, p.to_string())
            }
            None => (s, String::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nums[i] = p.parse().ok()?;
        }
        Some(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
        })
    }
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

#[derive(Debug, Clone)]
struct Cmp {
    op: &'static str,
    v: Version,
    /// Which parts were wildcards/missing: 0 = none given beyond major, etc.
    given: usize,
}

/// A parsed constraint: OR of ANDs.
#[derive(Debug, Clone)]
pub struct Constraint {
    any: Vec<Vec<Cmp>>,
}

fn parse_partial(s: &str) -> Option<(Version, usize)> {
    let s = s.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    if s.is_empty() || s == "*" || s == "x" || s == "X" {
        return Some((
            Version {
                major: 0,
                minor: 0,
                patch: 0,
                pre: String::new(),
            },
            0,
        ));
    }
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (s.split('+').next().unwrap_or(s), String::new()),
    };
    let mut nums = [0u64; 3];
    let mut given = 0;
    for (i, p) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if p == "x" || p == "X" || p == "*" {
            break;
        }
        nums[i] = p.parse().ok()?;
        given = i + 1;
    }
    Some((
        Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
        },
        given,
    ))
}

impl Constraint {
    pub fn parse(s: &str) -> Option<Constraint> {
        if s.trim().is_empty() {
            return None;
        }
        let mut any = Vec::new();
        for alt in s.split("||") {
            let mut all = Vec::new();
            let alt = alt.trim();
            // Hyphen range.
            if let Some((a, b)) = alt.split_once(" - ") {
                let (va, ga) = parse_partial(a)?;
                let (vb, gb) = parse_partial(b)?;
                all.push(Cmp {
                    op: ">=",
                    v: va,
                    given: ga,
                });
                all.push(Cmp {
                    op: "<=",
                    v: vb,
                    given: gb,
                });
                any.push(all);
                continue;
            }
            // Split on commas and whitespace, joining operators with their operand.
            let mut tokens: Vec<String> = Vec::new();
            for t in alt.split([',', ' ']).filter(|t| !t.is_empty()) {
                if let Some(last) = tokens.last_mut()
                    && ["=", "!=", ">", "<", ">=", "<=", "=>", "=<", "~", "~>", "^"]
                        .contains(&last.as_str())
                {
                    last.push_str(t);
                    continue;
                }
                tokens.push(t.to_string());
            }
            for t in tokens {
                let ops = ["!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^"];
                let (op, rest) = ops
                    .iter()
                    .find_map(|o| t.strip_prefix(o).map(|r| (*o, r)))
                    .unwrap_or(("", t.as_str()));
                let op = match op {
                    "=>" => ">=",
                    "=<" => "<=",
                    "~>" => "~",
                    "" => "=",
                    o => o,
                };
                let (v, given) = parse_partial(rest)?;
                all.push(Cmp { op, v, given });
            }
            if all.is_empty() {
                all.push(Cmp {
                    op: ">=",
                    v: Version {
                        major: 0,
                        minor: 0,
                        patch: 0,
                        pre: String::new(),
                    },
                    given: 0,
                });
            }
            any.push(all);
        }
        Some(Constraint { any })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.any.iter().any(|all| all.iter().all(|c| c.check(v)))
    }
}

impl Cmp {
    fn check(&self, v: &Version) -> bool {
        // A prerelease version only satisfies constraints that carry a prerelease.
        if !v.pre.is_empty() && self.v.pre.is_empty() {
            return false;
        }
        let c = &self.v;
        let upper = |level: usize| -> Version {
            match level {
                0 => Version {
                    major: u64::MAX,
                    minor: 0,
                    patch: 0,
                    pre: String::new(),
                },
                1 => Version {
                    major: c.major + 1,
                    minor: 0,
                    patch: 0,
                    pre: String::new(),
                },
                _ => Version {
                    major: c.major,
                    minor: c.minor + 1,
                    patch: 0,
                    pre: String::new(),
                },
            }
        };
        match self.op {
            "=" => {
                if self.given == 3 {
                    v == c
                } else {
                    v >= c && *v < upper(self.given)
                }
            }
            "!=" => {
                if self.given == 3 {
                    v != c
                } else {
                    !(v >= c && *v < upper(self.given))
                }
            }
            ">" => {
                if self.given == 3 {
                    v > c
                } else {
                    *v >= upper(self.given)
                }
            }
            ">=" => v >= c,
            "<" => v < c,
            "<=" => {
                if self.given == 3 {
                    v <= c
                } else {
                    *v < upper(self.given)
                }
            }
            "~" => v >= c && *v < upper(if self.given <= 1 { 1 } else { 2 }),
            "^" => {
                let up = if c.major > 0 || self.given <= 1 {
                    upper(1)
                } else if c.minor > 0 || self.given == 2 {
                    upper(2)
                } else {
                    Version {
                        major: 0,
                        minor: 0,
                        patch: c.patch + 1,
                        pre: String::new(),
                    }
                };
                v >= c && *v < up
            }
            _ => false,
        }
    }
}

/// Helm's `chartutil.IsCompatibleRange`.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let (Some(c), Some(v)) = (Constraint::parse(constraint), Version::parse(version)) else {
        return false;
    };
    c.matches(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_versions() {
        assert!(Version::parse("1.2.3").is_some());
        assert!(Version::parse("v1.2").is_some());
        assert!(Version::parse("1.0.0-rc.1+build.5").is_some());
        assert!(Version::parse("abc").is_none());
        assert!(Version::parse("1.2.3.4").is_none());
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
