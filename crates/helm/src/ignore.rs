//! `.helmignore` rules, evaluated exactly as Helm's `pkg/ignore` does, and Go's
//! `filepath.Match` glob which those rules (and `--show-only`) use.

/// One parsed `.helmignore` line.
#[derive(Debug, Clone)]
struct Pattern {
    rule: String,
    negate: bool,
    must_dir: bool,
    kind: MatchKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    /// Leading `/`: matched against the whole path.
    Rooted,
    /// Contains `/`: matched against the whole path.
    Path,
    /// No `/`: matched against the base name only.
    Base,
}

/// A `.helmignore` rule set.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

/// A `.helmignore` line Helm rejects.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IgnoreError {
    #[error("double-star (**) syntax is not supported")]
    DoubleStar,
    #[error("syntax error in pattern")]
    BadPattern,
}

impl Rules {
    /// Helm's defaults: dot-files under `templates/` are never templates.
    pub fn with_defaults() -> Self {
        let mut r = Rules::default();
        r.add("templates/.?*").expect("the default rule is valid");
        r
    }

    /// Parse a `.helmignore` file on top of the defaults.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut r = Rules::with_defaults();
        for line in text.lines() {
            r.add(line)?;
        }
        Ok(r)
    }

    fn add(&mut self, rule: &str) -> Result<(), IgnoreError> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(IgnoreError::DoubleStar);
        }
        if go_match(rule, "abc").is_err() {
            return Err(IgnoreError::BadPattern);
        }
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (must_dir, rule) = match rule.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (kind, rule) = if let Some(r) = rule.strip_prefix('/') {
            (MatchKind::Rooted, r)
        } else if rule.contains('/') {
            (MatchKind::Path, rule)
        } else {
            (MatchKind::Base, rule)
        };
        self.patterns.push(Pattern {
            rule: rule.to_string(),
            negate,
            must_dir,
            kind,
        });
        Ok(())
    }

    fn matches(p: &Pattern, path: &str) -> bool {
        let target = match p.kind {
            MatchKind::Base => path.rsplit('/').next().unwrap_or(path),
            MatchKind::Rooted | MatchKind::Path => path,
        };
        go_match(&p.rule, target).unwrap_or(false)
    }

    /// Whether `path` (slash-separated, relative to the chart root) is ignored.
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !Self::matches(p, path) {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if Self::matches(p, path) {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path/filepath.Match` on `/`-separated names: `*` and `?` never match `/`,
/// `[...]` classes with ranges and `^` negation, `\` escapes. `Err` is `ErrBadPattern`.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(mut p: &[char], mut n: &[char]) -> Result<bool, BadPattern> {
    'pattern: while !p.is_empty() {
        let mut star = false;
        while let Some('*') = p.first() {
            star = true;
            p = &p[1..];
        }
        let (chunk, rest) = split_chunk(p);
        if star && chunk.is_empty() {
            // Trailing star matches the rest unless it has a separator.
            return Ok(!n.contains(&'/'));
        }
        if let Some(t) = match_chunk(chunk, n)? {
            if rest.is_empty() && !t.is_empty() {
                // Need the full name consumed; fall through to star search below.
            } else {
                p = rest;
                n = t;
                continue;
            }
        }
        if star {
            let mut i = 0;
            while i < n.len() && n[i] != '/' {
                if let Some(t) = match_chunk(chunk, &n[i + 1..])? {
                    if rest.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    p = rest;
                    n = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Validate the remaining pattern before reporting no match (Go does).
        let mut rest = rest;
        while !rest.is_empty() {
            while let Some('*') = rest.first() {
                rest = &rest[1..];
            }
            let (c, r) = split_chunk(rest);
            match_chunk(c, &[])?;
            rest = r;
        }
        return Ok(false);
    }
    Ok(n.is_empty())
}

fn split_chunk(p: &[char]) -> (&[char], &[char]) {
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => {
                i += 1;
            }
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (&p[..i], &p[i..])
}

/// Match `chunk` (no stars) at the start of `s`; return the unmatched tail.
fn match_chunk<'a>(
    mut chunk: &[char],
    mut s: &'a [char],
) -> Result<Option<&'a [char]>, BadPattern> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            '[' => {
                let r = if failed { '\0' } else { s[0] };
                if !failed {
                    s = &s[1..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if !chunk.is_empty() && chunk[0] == ']' && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, c2) = get_esc(chunk)?;
                    chunk = c2;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
                        let (h, c3) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = c3;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            '\\' => {
                chunk = &chunk[1..];
                if chunk.is_empty() {
                    return Err(BadPattern);
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            c => {
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed { Ok(None) } else { Ok(Some(s)) }
}

fn get_esc(chunk: &[char]) -> Result<(char, &[char]), BadPattern> {
    if chunk.is_empty() || chunk[0] == '-' || chunk[0] == ']' {
        return Err(BadPattern);
    }
    let mut chunk = chunk;
    if chunk[0] == '\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let r = chunk[0];
    let rest = &chunk[1..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match_semantics() {
        assert_eq!(go_match("*.yaml", "a.yaml"), Ok(true));
        assert_eq!(go_match("*.yaml", "t/a.yaml"), Ok(false));
        assert_eq!(go_match("templates/*", "templates/a.yaml"), Ok(true));
        assert_eq!(go_match("a?c", "abc"), Ok(true));
        assert_eq!(go_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(go_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(go_match("a\\*", "a*"), Ok(true));
        assert!(go_match("[", "abc").is_err());
        assert_eq!(go_match("*", ""), Ok(true));
        assert_eq!(go_match("a*b*c", "axxbyyc"), Ok(true));
    }

    #[test]
    fn helmignore_rules() {
        let r = Rules::parse("# comment\n*.md\n/ci/\ntests/\n.git\n*.tgz\n").unwrap();
        assert!(r.ignore("README.md", false));
        assert!(r.ignore("docs/x.md", false));
        assert!(r.ignore("ci", true));
        assert!(!r.ignore("ci", false));
        assert!(r.ignore("tests", true));
        assert!(r.ignore("templates/.hidden", false));
        assert!(!r.ignore("values.yaml", false));
        // Helm's quirk: a negated rule that does not match ignores the path.
        let neg = Rules::parse("*.tgz\n!keep.tgz\n").unwrap();
        assert!(neg.ignore("values.yaml", false));
        assert!(Rules::parse("a/**/b").is_err());
    }
}
