//! Environment names: from git branch names to DNS labels that are valid, unique and stable.
//!
//! An environment's name is its Environment's name and its namespace's name, so it must be a
//! DNS-1123 label: lowercase letters, digits and `-`, starting and ending with a letter or digit,
//! at most 63 characters. The EnvironmentSet's `namespaceTemplate` (default `{{branch}}`) is
//! rendered for the branch ([`render_namespace_template`]) and slugged ([`slug`]).
//!
//! Two branches can come out alike: `feat/a` and `feat-a`, `Feat-A` and `feat-a`, or two long
//! names equal in their first 63 characters. The second one then gets `-` and 6 hex digits of the
//! SHA-256 of its branch name appended (after truncating so the whole stays ≤ 63 characters).
//!
//! **Stability rule.** A name, once given, never changes while its branch lives: renaming would
//! delete and recreate a whole environment. So names are not a pure function of the current set
//! of branches (with such a function, pushing `feat-a` next to an existing `feat/a` would rename
//! one of them). Instead [`assign_names`] takes the assignments already made (read back from the
//! existing Environments, including those being deleted) and keeps them, and gives each new
//! branch the plain rendered name if it is free, else the hashed one. A name stays taken as long
//! as an Environment holds it, even when its branch is gone, so a new branch never takes over a
//! namespace that is still being cleaned up. Names of other EnvironmentSets are passed as
//! `reserved`. Within one call, new branches whose rendered name needed no slugging (the
//! branch `feat-a` for `{{branch}}`) are served first, then the others in branch order, so the
//! outcome does not depend on the order branches are listed in.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

/// Longest DNS-1123 label.
pub const MAX_LABEL: usize = 63;

/// Hex digits of the branch hash used to tell colliding names apart.
const HASH_LEN: usize = 6;

/// Name used when a branch has no letter or digit at all.
const EMPTY_NAME: &str = "env";

/// Errors in a namespace template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// A `{{...}}` placeholder that is not `branch`, `branch_slug` or `set`.
    #[error(
        "unknown placeholder {{{{{0}}}}} in namespaceTemplate (known: branch, branch_slug, set)"
    )]
    UnknownPlaceholder(String),
    /// `{{` without a closing `}}`.
    #[error("unclosed {{{{ in namespaceTemplate")]
    Unclosed,
    /// The template names no branch: every branch would get the same name but for its hash.
    #[error("namespaceTemplate does not use {{{{branch}}}}: every environment would share a name")]
    NoBranch,
}

/// A DNS-1123 label made from `s`: lowercased, every run of characters other than `a-z`/`0-9`
/// replaced by one `-`, trimmed of `-`, cut to 63 characters (and trimmed again). A string with no
/// ASCII letter or digit gives `env`.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_LABEL));
    let mut pending_dash = false;
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
            if out.len() >= MAX_LABEL {
                break;
            }
        } else {
            pending_dash = true;
        }
    }
    out.truncate(MAX_LABEL);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        EMPTY_NAME.to_string()
    } else {
        trimmed.to_string()
    }
}

/// Whether `s` is a DNS-1123 label of at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Split a template into text and `{{ name }}` placeholders (names trimmed).
fn parse_template(template: &str) -> Result<Vec<Piece<'_>>, NamingError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        pieces.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(NamingError::Unclosed)?;
        pieces.push(Piece::Var(after[..end].trim()));
        rest = &after[end + 2..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// Check a namespace template: only `{{branch}}`, `{{branch_slug}}` and `{{set}}` (spaces
/// inside the braces allowed), closed braces, and at least one branch placeholder.
pub fn validate_namespace_template(template: &str) -> Result<(), NamingError> {
    let mut has_branch = false;
    for piece in parse_template(template)? {
        if let Piece::Var(name) = piece {
            match name {
                "branch" | "branch_slug" => has_branch = true,
                "set" => {}
                other => return Err(NamingError::UnknownPlaceholder(other.to_string())),
            }
        }
    }
    if has_branch {
        Ok(())
    } else {
        Err(NamingError::NoBranch)
    }
}

/// The template with its placeholders replaced, before slugging. Unknown placeholders and an
/// unclosed `{{` are kept as text (the slug drops the braces); [`validate_namespace_template`]
/// reports them.
fn render_raw(template: &str, set: &str, branch: &str) -> String {
    let Ok(pieces) = parse_template(template) else {
        return template.to_string();
    };
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var("branch") => out.push_str(branch),
            Piece::Var("branch_slug") => out.push_str(&slug(branch)),
            Piece::Var("set") => out.push_str(set),
            Piece::Var(other) => out.push_str(other),
        }
    }
    out
}

/// Render `namespaceTemplate` for `branch` of EnvironmentSet `set` and slug the result:
/// `{{branch}}` (or `{{ branch }}`) is the branch, `{{branch_slug}}` its [`slug`], `{{set}}` the
/// EnvironmentSet's name. The result is a DNS label of at most 63 characters, not yet made
/// unique (see [`assign_names`]).
pub fn render_namespace_template(template: &str, set: &str, branch: &str) -> String {
    slug(&render_raw(template, set, branch))
}

/// Hex digits of the SHA-256 of `branch`.
fn branch_hash(branch: &str, len: usize) -> String {
    let digest = Sha256::digest(branch.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex.truncate(len);
    hex
}

/// `base` cut so that `-` + `suffix` fits in 63 characters, then `-` + `suffix`.
fn with_suffix(base: &str, suffix: &str) -> String {
    let room = MAX_LABEL.saturating_sub(suffix.len() + 1);
    // `base` is a slug: ASCII only, so any byte index is a char boundary.
    let cut = base.get(..room.min(base.len())).unwrap_or(base);
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        suffix.to_string()
    } else {
        format!("{cut}-{suffix}")
    }
}

/// Names for `branches` of EnvironmentSet `set` under `template`, as if no environment existed
/// yet: [`assign_names`] with nothing existing or reserved.
pub fn environment_names(
    set: &str,
    template: &str,
    branches: &[String],
) -> BTreeMap<String, String> {
    assign_names(set, template, &BTreeMap::new(), &BTreeSet::new(), branches)
}

/// Names for `branches` (each listed branch once in the result), keeping the names already
/// assigned.
///
/// - `existing`: branch → name of every environment of this set that exists, including those
///   whose branch is gone and that are being deleted. A listed branch keeps its name (if it is a
///   valid label not already kept for another branch); every existing name stays taken.
/// - `reserved`: names taken otherwise (other EnvironmentSets' environments).
///
/// A new branch gets the rendered template if that name is free, else the name cut to leave room
/// for `-` and 6 hex digits of the branch's SHA-256, with more digits (then a counter) in the
/// unlikely case that is taken too. Every name is a DNS label of at most 63 characters and no two
/// branches share one.
pub fn assign_names(
    set: &str,
    template: &str,
    existing: &BTreeMap<String, String>,
    reserved: &BTreeSet<String>,
    branches: &[String],
) -> BTreeMap<String, String> {
    let wanted: BTreeSet<&str> = branches.iter().map(String::as_str).collect();
    let mut taken: BTreeSet<String> = reserved.clone();
    taken.extend(existing.values().cloned());

    let mut out = BTreeMap::new();
    let mut kept_names = BTreeSet::new();
    for (branch, name) in existing {
        if wanted.contains(branch.as_str()) && is_dns_label(name) && kept_names.insert(name.clone())
        {
            out.insert(branch.clone(), name.clone());
        }
    }

    // New branches: those whose rendering needed no slugging first, then by branch name.
    let mut new: Vec<(bool, &str, String)> = wanted
        .iter()
        .filter(|b| !out.contains_key(**b))
        .map(|b| {
            let raw = render_raw(template, set, b);
            let name = slug(&raw);
            (name != raw, *b, name)
        })
        .collect();
    new.sort();

    for (_, branch, candidate) in new {
        let name = if taken.contains(&candidate) {
            free_hashed_name(&candidate, branch, &taken)
        } else {
            candidate
        };
        taken.insert(name.clone());
        out.insert(branch.to_string(), name);
    }
    out
}

/// The first free name among `candidate-<hash>` with 6, 8, ... 64 hex digits, then
/// `candidate-<6 hex>-<n>`.
fn free_hashed_name(candidate: &str, branch: &str, taken: &BTreeSet<String>) -> String {
    let mut len = HASH_LEN;
    while len <= 64 {
        let name = with_suffix(candidate, &branch_hash(branch, len));
        if !taken.contains(&name) {
            return name;
        }
        len += 2;
    }
    let hash = branch_hash(branch, HASH_LEN);
    let mut n: u64 = 2;
    loop {
        let name = with_suffix(candidate, &format!("{hash}-{n}"));
        if !taken.contains(&name) {
            return name;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn branches(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("feat/login"), "feat-login");
        assert_eq!(
            slug("Feature/JIRA-123_New.Login"),
            "feature-jira-123-new-login"
        );
        assert_eq!(slug("--a--b--"), "a-b");
        assert_eq!(slug("日本語"), "env");
        assert_eq!(slug(""), "env");
        assert_eq!(slug("café/ü"), "caf");
        assert_eq!(slug(&"a".repeat(100)), "a".repeat(63));
        // A cut that lands on a separator drops it.
        let s = format!("{}/b", "a".repeat(62));
        assert_eq!(slug(&s), "a".repeat(62));
        assert!(is_dns_label(&slug("x/y")));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("a"));
        assert!(is_dns_label("1-a"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn templates() {
        assert_eq!(
            render_namespace_template("{{branch}}", "s", "feat/login"),
            "feat-login"
        );
        assert_eq!(
            render_namespace_template("{{ branch }}", "s", "Feat/Login"),
            "feat-login"
        );
        assert_eq!(
            render_namespace_template("{{set}}-{{branch_slug}}", "previews", "feat/x"),
            "previews-feat-x"
        );
        assert_eq!(
            render_namespace_template("pr-{{branch}}", "s", "日本"),
            "pr"
        );
        assert_eq!(render_namespace_template("{{nope}}", "s", "b"), "nope");
        assert_eq!(render_namespace_template("{{branch", "s", "b"), "branch");
        assert_eq!(validate_namespace_template("{{branch}}"), Ok(()));
        assert_eq!(
            validate_namespace_template("{{ set }}-{{ branch_slug }}"),
            Ok(())
        );
        assert_eq!(
            validate_namespace_template("{{nope}}"),
            Err(NamingError::UnknownPlaceholder("nope".into()))
        );
        assert_eq!(
            validate_namespace_template("x-{{branch"),
            Err(NamingError::Unclosed)
        );
        assert_eq!(
            validate_namespace_template("{{set}}"),
            Err(NamingError::NoBranch)
        );
        assert_eq!(
            NamingError::UnknownPlaceholder("x".into()).to_string(),
            "unknown placeholder {{x}} in namespaceTemplate (known: branch, branch_slug, set)"
        );
    }

    #[test]
    fn collisions_get_hash_suffixes() {
        let names = environment_names(
            "s",
            "{{branch}}",
            &branches(&["feat/a", "feat-a", "Feat-A"]),
        );
        // `feat-a` needed no slugging: it keeps the plain name.
        assert_eq!(names["feat-a"], "feat-a");
        assert_eq!(
            names["feat/a"],
            format!("feat-a-{}", branch_hash("feat/a", 6))
        );
        assert_eq!(
            names["Feat-A"],
            format!("feat-a-{}", branch_hash("Feat-A", 6))
        );

        let long_a = format!("{}-one", "x".repeat(70));
        let long_b = format!("{}-two", "x".repeat(70));
        let names = environment_names("s", "{{branch}}", &[long_a.clone(), long_b.clone()]);
        assert_eq!(names[&long_a], "x".repeat(63));
        let b = &names[&long_b];
        assert_eq!(b.len(), 63);
        assert!(b.ends_with(&format!("-{}", branch_hash(&long_b, 6))));
        assert!(is_dns_label(b));
    }

    #[test]
    fn listing_order_does_not_matter() {
        let a = environment_names("s", "{{branch}}", &branches(&["feat/a", "feat-a", "b"]));
        let b = environment_names(
            "s",
            "{{branch}}",
            &branches(&["b", "feat-a", "feat/a", "b"]),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn existing_names_are_kept_and_stay_taken() {
        // `feat/a` came first and got the plain name; `feat-a` arrives later.
        let existing = environment_names("s", "{{branch}}", &branches(&["feat/a"]));
        assert_eq!(existing["feat/a"], "feat-a");
        let names = assign_names(
            "s",
            "{{branch}}",
            &existing,
            &BTreeSet::new(),
            &branches(&["feat/a", "feat-a"]),
        );
        assert_eq!(names["feat/a"], "feat-a");
        assert_eq!(
            names["feat-a"],
            format!("feat-a-{}", branch_hash("feat-a", 6))
        );

        // `feat/a` is deleted but its environment still exists: its name is not reused.
        let names = assign_names(
            "s",
            "{{branch}}",
            &existing,
            &BTreeSet::new(),
            &branches(&["feat-a"]),
        );
        assert_eq!(names.len(), 1);
        assert_ne!(names["feat-a"], "feat-a");

        // Other sets' names are avoided too.
        let reserved: BTreeSet<String> = ["main-x".to_string()].into();
        let names = assign_names(
            "s",
            "{{branch}}",
            &BTreeMap::new(),
            &reserved,
            &branches(&["main/x"]),
        );
        assert_ne!(names["main/x"], "main-x");
    }

    #[test]
    fn invalid_or_duplicate_existing_names_are_replaced() {
        let existing: BTreeMap<String, String> = [
            ("a".to_string(), "Not_A_Label".to_string()),
            ("b".to_string(), "same".to_string()),
            ("c".to_string(), "same".to_string()),
        ]
        .into();
        let names = assign_names(
            "s",
            "{{branch}}",
            &existing,
            &BTreeSet::new(),
            &branches(&["a", "b", "c"]),
        );
        assert_eq!(names["a"], "a");
        assert_eq!(names["b"], "same");
        assert_eq!(names["c"], "c");
    }

    #[test]
    fn hash_suffix_exhaustion_falls_back_to_a_counter() {
        let mut taken: BTreeSet<String> = ["x".to_string()].into();
        let mut len = HASH_LEN;
        while len <= 64 {
            taken.insert(with_suffix("x", &branch_hash("y", len)));
            len += 2;
        }
        let name = free_hashed_name("x", "y", &taken);
        assert_eq!(name, format!("x-{}-2", branch_hash("y", 6)));
        assert!(is_dns_label(&name));
    }

    fn branch_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,8}",
            "[a-zA-Z0-9/._-]{0,20}",
            "(feat|fix|Feat)[/_.-][a-c]{1,2}",
            "[a-z/]{60,80}",
            "\\PC{0,12}",
            "[日本語é/-]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn names_are_valid_distinct_and_stable(
            first in proptest::collection::vec(branch_name(), 0..12),
            second in proptest::collection::vec(branch_name(), 0..12),
            template in prop_oneof![
                Just("{{branch}}".to_string()),
                Just("{{set}}-{{ branch }}".to_string()),
                Just("pr-{{branch_slug}}".to_string()),
                Just("same".to_string()),
            ],
        ) {
            let check = |names: &BTreeMap<String, String>, wanted: &[String]| {
                let set: BTreeSet<&String> = wanted.iter().collect();
                prop_assert_eq!(names.len(), set.len());
                let distinct: BTreeSet<&String> = names.values().collect();
                prop_assert_eq!(distinct.len(), names.len());
                for name in names.values() {
                    prop_assert!(is_dns_label(name), "{:?}", name);
                }
                Ok(())
            };
            let before = environment_names("previews", &template, &first);
            check(&before, &first)?;

            // Later, some branches are gone and new ones appear: the survivors keep their names,
            // and no new branch takes a name that is still held.
            let mut later: Vec<String> = first.iter().step_by(2).cloned().collect();
            later.extend(second.iter().cloned());
            let after = assign_names("previews", &template, &before, &BTreeSet::new(), &later);
            check(&after, &later)?;
            for (branch, name) in &after {
                match before.get(branch) {
                    Some(old) => prop_assert_eq!(old, name),
                    None => prop_assert!(!before.values().any(|n| n == name)),
                }
            }
        }
    }
}
