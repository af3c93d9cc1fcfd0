//! `semver` and `semverCompare` with Masterminds/semver v3 rules: loose parsing (`v`
//! prefix, missing minor/patch), prerelease ordering, and its constraint language
//! (`=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `~>`, `^`, `x`/`*` wildcards, hyphen ranges,
//! `,`/space for AND and `||` for OR; a prerelease version only satisfies constraints
//! that carry a prerelease).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use gotemplate::{FuncError, FuncMap, Object, Param, Value};
use regex::Regex;

use crate::conv::{reg, s, vstr};

const INVALID: &str = "Invalid Semantic Version";

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

/// Compile a constraint pattern as Go's `regexp` reads it: `\s` is Go's ASCII
/// `[\t\n\f\r ]` (Rust's would also match `\v` and Unicode spaces), and the patterns
/// are ASCII, so Unicode mode only made compiling each of them cost ~400 KB of tables
/// (measured: the first `semverCompare` of a process was ~4% of rendering a chart).
fn re(p: String) -> Regex {
    regex::RegexBuilder::new(&p.replace(r"\s", r"[\t\n\f\r ]"))
        .unicode(false)
        .build()
        .expect("constant pattern compiles")
}

static CONSTRAINT_RE: LazyLock<Regex> = LazyLock::new(|| re(format!(r"^\s*({OPS})\s*({CV})\s*$")));
static RANGE_RE: LazyLock<Regex> = LazyLock::new(|| re(format!(r"\s*({CV})\s+-\s+({CV})\s*")));
static FIND_RE: LazyLock<Regex> = LazyLock::new(|| re(format!(r"({OPS})\s*({CV})")));
static VALID_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
});

/// The parts of a version string as Masterminds' version pattern reads them
/// (`^v?N(.N)?(.N)?(-PRE)?(+META)?$`, `N` digits, `PRE`/`META` dot-separated
/// `[0-9A-Za-z-]+` identifiers), scanned by hand: compiling the pattern as a regex cost each
/// process more than rendering a small chart.
struct VersionText<'a> {
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: &'a str,
    meta: &'a str,
}

impl<'a> VersionText<'a> {
    fn scan(v: &'a str) -> Option<VersionText<'a>> {
        let s = v.strip_prefix('v').unwrap_or(v);
        let (core, meta) = match s.split_once('+') {
            Some((c, m)) => (c, Some(m)),
            None => (s, None),
        };
        let (core, pre) = match core.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (core, None),
        };
        let idents = |x: &str| {
            x.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        };
        if pre.is_some_and(|p| !idents(p)) || meta.is_some_and(|m| !idents(m)) {
            return None;
        }
        let mut nums = core.split('.');
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        let major = nums.next().filter(|x| digits(x))?;
        let minor = match nums.next() {
            Some(x) if digits(x) => Some(x),
            Some(_) => return None,
            None => None,
        };
        let patch = match nums.next() {
            Some(x) if digits(x) => Some(x),
            Some(_) => return None,
            None => None,
        };
        if nums.next().is_some() {
            return None;
        }
        Some(VersionText {
            major,
            minor,
            patch,
            pre: pre.unwrap_or(""),
            meta: meta.unwrap_or(""),
        })
    }
}

/// A parsed version (`*semver.Version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

impl Version {
    /// `semver.NewVersion`.
    pub fn parse(v: &str) -> Result<Version, String> {
        let m = VersionText::scan(v).ok_or(INVALID)?;
        let seg = |x: Option<&str>| -> Result<u64, String> {
            match x {
                None => Ok(0),
                Some(x) => x.parse::<u64>().map_err(|_| {
                    format!(
                        "Error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
                        gotemplate::gofmt::quote(x)
                    )
                }),
            }
        };
        let pre = m.pre.to_string();
        let metadata = m.meta.to_string();
        for part in pre.split('.').filter(|_| !pre.is_empty()) {
            if part.len() > 1 && part.bytes().all(|c| c.is_ascii_digit()) && part.starts_with('0') {
                return Err("Version segment starts with 0".into());
            }
        }
        Ok(Version {
            major: seg(Some(m.major))?,
            minor: seg(m.minor)?,
            patch: seg(m.patch)?,
            pre,
            metadata,
            original: v.to_string(),
        })
    }

    fn string(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    /// `(*Version).Compare`.
    pub fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            })
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let ap: Vec<&str> = a.split('.').collect();
    let bp: Vec<&str> = b.split('.').collect();
    for i in 0..ap.len().max(bp.len()) {
        let d = compare_pre_part(
            ap.get(i).copied().unwrap_or(""),
            bp.get(i).copied().unwrap_or(""),
        );
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    let num = |x: &str| x.parse::<u64>().ok().filter(|_| !x.starts_with('+'));
    if o.is_empty() {
        return if num(s).is_some() {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    if s.is_empty() {
        return if num(o).is_some() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    match (num(s), num(o)) {
        (None, None) => s.cmp(o),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

#[derive(Debug)]
struct Constraint {
    con: Version,
    op: Op,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    let m = CONSTRAINT_RE
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {c}"))?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    constraint_of(&[g(1), g(2), g(3), g(4), g(5), g(6)])
}

/// A constraint from the groups of Masterminds' constraint pattern: the operator, the whole
/// version, its first segment, `.`second, `.`third and `-`prerelease (empty when absent).
fn constraint_of(g: &[&str; 6]) -> Result<Constraint, String> {
    let g = |i: usize| g[i - 1];
    let op = match g(1) {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Gt,
        "<" => Op::Lt,
        ">=" | "=>" => Op::Ge,
        "<=" | "=<" => Op::Le,
        "~" | "~>" => Op::Tilde,
        _ => Op::Caret,
    };
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let ver = if is_x(g(3)) || g(3).is_empty() {
        dirty = true;
        format!("0.0.0{}", g(6))
    } else if is_x(g(4).trim_start_matches('.')) || g(4).is_empty() {
        minor_dirty = true;
        dirty = true;
        format!("{}.0.0{}", g(3), g(6))
    } else if is_x(g(5).trim_start_matches('.')) || g(5).is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{}{}.0{}", g(3), g(4), g(6))
    } else {
        g(2).to_string()
    };
    let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
    Ok(Constraint {
        con,
        op,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// `semver.NewConstraint`: OR groups of AND constraints. Common constraints (operators,
/// versions, `,`/space and `||`, no hyphen range) are scanned by hand; anything else goes
/// through Masterminds' patterns as regexes, whose compilation costs a process more than
/// rendering a small chart. Both read the same (a property test checks it).
fn parse_constraints(c: &str) -> Result<Vec<Vec<Constraint>>, String> {
    match scan_constraints(c) {
        Some(groups) => groups
            .into_iter()
            .map(|and| and.iter().map(constraint_of).collect())
            .collect(),
        None => parse_constraints_regex(c),
    }
}

const OPERATORS: [&str; 11] = ["!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^"];

fn is_go_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The constraint groups (see [`constraint_of`]) of a common constraint text, or `None` to
/// leave it to the regexes (errors included).
fn scan_constraints(c: &str) -> Option<Vec<Vec<[&str; 6]>>> {
    let b = c.as_bytes();
    // A hyphen range (`1 - 2`) is rewritten first; a lone `|` belongs to the version class.
    if b.windows(3)
        .any(|w| is_go_space(w[0]) && w[1] == b'-' && is_go_space(w[2]))
        || c.replace("||", "").contains('|')
    {
        return None;
    }
    c.split("||").map(scan_and).collect()
}

fn scan_and(part: &str) -> Option<Vec<[&str; 6]>> {
    let b = part.as_bytes();
    let mut i = 0;
    let skip = |mut i: usize| {
        while i < b.len() && is_go_space(b[i]) {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    i = skip(i);
    loop {
        let op = OPERATORS
            .iter()
            .find(|o| part[i..].starts_with(**o))
            .copied()
            .unwrap_or("");
        i = skip(i + op.len());
        let start = i;
        if b.get(i) == Some(&b'v') {
            i += 1;
        }
        let seg = |i: usize| {
            let mut j = i;
            while j < b.len() && matches!(b[j], b'0'..=b'9' | b'x' | b'X' | b'*') {
                j += 1;
            }
            j
        };
        let s1 = (i, seg(i));
        if s1.0 == s1.1 {
            return None;
        }
        i = s1.1;
        let mut dotted = [(i, i); 2];
        for d in &mut dotted {
            if b.get(i) == Some(&b'.') && seg(i + 1) > i + 1 {
                *d = (i, seg(i + 1));
                i = d.1;
            } else {
                break;
            }
        }
        let ident = |mut j: usize| {
            let from = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
                j += 1;
            }
            (j > from).then_some(j)
        };
        let idents = |j: usize| {
            let mut end = ident(j)?;
            while b.get(end) == Some(&b'.')
                && let Some(e) = ident(end + 1)
            {
                end = e;
            }
            Some(end)
        };
        let mut pre = (i, i);
        if b.get(i) == Some(&b'-')
            && let Some(end) = idents(i + 1)
        {
            pre = (i, end);
            i = end;
        }
        if b.get(i) == Some(&b'+')
            && let Some(end) = idents(i + 1)
        {
            i = end;
        }
        out.push([
            op,
            &part[start..i],
            &part[s1.0..s1.1],
            &part[dotted[0].0..dotted[0].1],
            &part[dotted[1].0..dotted[1].1],
            &part[pre.0..pre.1],
        ]);
        let after = i;
        i = skip(i);
        if i == b.len() {
            return Some(out);
        }
        if b[i] == b',' {
            i = skip(i + 1);
        } else if i == after {
            return None;
        }
    }
}

/// `semver.NewConstraint` through Masterminds' patterns.
fn parse_constraints_regex(c: &str) -> Result<Vec<Vec<Constraint>>, String> {
    // rewriteRange: "a - b" becomes ">= a, <= b".
    let mut text = c.to_string();
    let ranges: Vec<(String, String, String)> = RANGE_RE
        .captures_iter(c)
        .map(|m| {
            (
                m[0].to_string(),
                m[1].to_string(),
                m.get(11).map_or("", |x| x.as_str()).to_string(),
            )
        })
        .collect();
    for (all, a, b) in ranges {
        text = text.replacen(&all, &format!(">= {a}, <= {b}"), 1);
    }
    let mut out = Vec::new();
    for part in text.split("||") {
        if !VALID_RE.is_match(part) {
            return Err(format!("improper constraint: {part}"));
        }
        let found: Vec<&str> = FIND_RE.find_iter(part).map(|m| m.as_str()).collect();
        let items = if found.is_empty() { vec![part] } else { found };
        out.push(
            items
                .into_iter()
                .map(parse_constraint)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(out)
}

fn check(v: &Version, c: &Constraint) -> bool {
    let con = &c.con;
    if c.op != Op::NotEqual && !v.pre.is_empty() && con.pre.is_empty() {
        return false;
    }
    let cmp = v.compare(con);
    match c.op {
        Op::NotEqual => {
            if c.dirty {
                if !v.pre.is_empty() && con.pre.is_empty() {
                    return false;
                }
                if con.major != v.major {
                    return true;
                }
                if con.minor != v.minor && !c.minor_dirty {
                    return true;
                } else if c.minor_dirty {
                    return false;
                } else if con.patch != v.patch && !c.patch_dirty {
                    return true;
                } else if c.patch_dirty {
                    if !v.pre.is_empty() || !con.pre.is_empty() {
                        return compare_prerelease(&v.pre, &con.pre) != Ordering::Equal;
                    }
                    return false;
                }
            }
            cmp != Ordering::Equal
        }
        Op::Gt => {
            if !c.dirty {
                return cmp == Ordering::Greater;
            }
            if v.major != con.major {
                return v.major > con.major;
            }
            if c.minor_dirty {
                return false;
            }
            if c.patch_dirty {
                return v.minor > con.minor;
            }
            cmp == Ordering::Greater
        }
        Op::Lt => cmp == Ordering::Less,
        Op::Ge => cmp != Ordering::Less,
        Op::Le => {
            if !c.dirty {
                return cmp != Ordering::Greater;
            }
            if v.major > con.major {
                return false;
            }
            !(v.major == con.major && v.minor > con.minor && !c.minor_dirty)
        }
        Op::Tilde => tilde(v, c),
        Op::TildeOrEqual => {
            if c.dirty {
                tilde(v, c)
            } else {
                cmp == Ordering::Equal
            }
        }
        Op::Caret => {
            if cmp == Ordering::Less {
                return false;
            }
            if con.major > 0 || c.minor_dirty {
                return v.major == con.major;
            }
            if v.major > 0 {
                return false;
            }
            if con.minor > 0 || c.patch_dirty {
                return v.minor == con.minor;
            }
            if v.minor > 0 {
                return false;
            }
            v.patch == con.patch
        }
    }
}

fn tilde(v: &Version, c: &Constraint) -> bool {
    let con = &c.con;
    if v.compare(con) == Ordering::Less {
        return false;
    }
    if con.major == 0 && con.minor == 0 && con.patch == 0 && !c.minor_dirty && !c.patch_dirty {
        return true;
    }
    if v.major != con.major {
        return false;
    }
    v.minor == con.minor || c.minor_dirty
}

type Parsed = Arc<Vec<Vec<Constraint>>>;

/// Parsed constraints by text: charts test the same few constraints on every render.
static CACHE: LazyLock<Mutex<HashMap<String, Parsed>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn parse_cached(constraint: &str) -> Result<Parsed, String> {
    if let Some(p) = CACHE.lock().ok().and_then(|c| c.get(constraint).cloned()) {
        return Ok(p);
    }
    let parsed = Arc::new(parse_constraints(constraint)?);
    if let Ok(mut c) = CACHE.lock() {
        if c.len() >= 512 {
            c.clear();
        }
        c.insert(constraint.to_string(), parsed.clone());
    }
    Ok(parsed)
}

/// Parsed constraints (`*semver.Constraints`): OR groups of AND constraints. The one
/// constraint parser of Trellis: Sprig's `semverCompare`, and Helm's `kubeVersion` checks
/// and chart version constraints (`helm::semver`), as Masterminds semver v3 serves both.
#[derive(Clone, Debug)]
pub struct Constraints(Parsed);

impl Constraints {
    /// `semver.NewConstraint`, with its error texts (`improper constraint: ...`).
    pub fn parse(text: &str) -> Result<Constraints, String> {
        parse_cached(text).map(Constraints)
    }

    /// `(*Constraints).Check`.
    pub fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|and| and.iter().all(|c| check(v, c)))
    }
}

/// `semverCompare constraint version`.
pub fn semver_compare(constraint: &str, version: &str) -> Result<bool, String> {
    let cs = Constraints::parse(constraint)?;
    let v = Version::parse(version)?;
    Ok(cs.check(&v))
}

#[derive(Debug)]
struct VersionObj(Version, bool);

impl Object for VersionObj {
    fn type_name(&self) -> &str {
        if self.1 {
            "*semver.Version"
        } else {
            "semver.Version"
        }
    }
    fn field(&self, name: &str) -> Option<Value> {
        let v = &self.0;
        Some(match name {
            "Major" => Value::int64(v.major as i64),
            "Minor" => Value::int64(v.minor as i64),
            "Patch" => Value::int64(v.patch as i64),
            "Prerelease" => vstr(v.pre.as_str()),
            "Metadata" => vstr(v.metadata.as_str()),
            "Original" => vstr(v.original.as_str()),
            "String" => vstr(v.string()),
            "IncMajor" | "IncMinor" | "IncPatch" => {
                let mut n = v.clone();
                match name {
                    "IncMajor" => {
                        n.major += 1;
                        n.minor = 0;
                        n.patch = 0;
                    }
                    "IncMinor" => {
                        n.minor += 1;
                        n.patch = 0;
                    }
                    _ => {
                        if n.pre.is_empty() {
                            n.patch += 1;
                        }
                    }
                }
                n.pre.clear();
                n.metadata.clear();
                n.original = n.string();
                version_value(n, false)
            }
            _ => return None,
        })
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Major"
                | "Minor"
                | "Patch"
                | "Prerelease"
                | "Metadata"
                | "Original"
                | "String"
                | "IncMajor"
                | "IncMinor"
                | "IncPatch"
                | "Compare"
                | "LessThan"
                | "GreaterThan"
                | "Equal"
                | "LessThanEqual"
                | "GreaterThanEqual"
        )
    }
    fn method_params(&self, name: &str) -> Option<(&'static [Param], Option<Param>)> {
        match name {
            "Compare" | "LessThan" | "GreaterThan" | "Equal" | "LessThanEqual"
            | "GreaterThanEqual" => Some((&[Param::Any], None)),
            _ => None,
        }
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let other = || -> Result<Version, String> {
            match args.first() {
                Some(Value::Object(o)) if o.type_name().ends_with("semver.Version") => {
                    let s = o
                        .field("String")
                        .and_then(|s| s.as_str().map(str::to_string))
                        .unwrap_or_default();
                    Version::parse(&s)
                }
                Some(v) => Err(format!(
                    "wrong type for value; expected *semver.Version; got {}",
                    v.type_name()
                )),
                None => Err(format!("wrong number of args for {name}: want 1 got 0")),
            }
        };
        let r = match name {
            "Compare" => other().map(|o| Value::int(self.0.compare(&o) as i64)),
            "LessThan" => other().map(|o| Value::Bool(self.0.compare(&o) == Ordering::Less)),
            "GreaterThan" => other().map(|o| Value::Bool(self.0.compare(&o) == Ordering::Greater)),
            "Equal" => other().map(|o| Value::Bool(self.0.compare(&o) == Ordering::Equal)),
            "LessThanEqual" => {
                other().map(|o| Value::Bool(self.0.compare(&o) != Ordering::Greater))
            }
            "GreaterThanEqual" => {
                other().map(|o| Value::Bool(self.0.compare(&o) != Ordering::Less))
            }
            _ => {
                if !args.is_empty() {
                    return Some(Err(format!(
                        "wrong number of args for {name}: want 0 got {}",
                        args.len()
                    )));
                }
                return self.field(name).map(Ok);
            }
        };
        Some(r)
    }
    fn display(&self) -> String {
        self.0.string()
    }
    fn to_data(&self) -> Option<Value> {
        Some(vstr(self.0.string()))
    }
}

fn version_value(v: Version, ptr: bool) -> Value {
    Value::Object(Arc::new(VersionObj(v, ptr)))
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "semver", &[Param::String], None, |a| {
        Version::parse(s(&a[0]))
            .map(|v| version_value(v, true))
            .map_err(FuncError)
    });
    reg(
        m,
        "semverCompare",
        &[Param::String, Param::String],
        None,
        |a| {
            semver_compare(s(&a[0]), s(&a[1]))
                .map(Value::Bool)
                .map_err(FuncError)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Masterminds' version pattern, which [`VersionText::scan`] reads by hand.
    static VERSION_RE: LazyLock<Regex> = LazyLock::new(|| {
        re(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$".into())
    });

    fn text(pieces: &[&str], picks: &[usize]) -> String {
        picks.iter().map(|&i| pieces[i % pieces.len()]).collect()
    }

    const PIECES: &[&str] = &[
        "1",
        "2",
        "0",
        "10",
        "01",
        ".",
        ".",
        "x",
        "*",
        "X",
        "v",
        "-",
        "+",
        "rc",
        "beta",
        "a-b",
        " ",
        " ",
        ",",
        ", ",
        "||",
        "|",
        ">",
        "<",
        "=",
        "!",
        "~",
        "^",
        ">=",
        "<=",
        "!=",
        "~>",
        "\t",
        "\u{e9}",
        "99999999999999999999",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// The hand scan of constraints reads every text as Masterminds' patterns do (or
        /// leaves it to them): same constraints, same errors.
        #[test]
        fn constraint_scan_agrees_with_the_patterns(picks in proptest::collection::vec(0usize..64, 0..14)) {
            let c = text(PIECES, &picks);
            proptest::prop_assert_eq!(
                format!("{:?}", parse_constraints(&c)),
                format!("{:?}", parse_constraints_regex(&c)),
                "{:?}", c
            );
        }

        /// The same over texts made mostly of well-formed constraints.
        #[test]
        fn constraint_scan_agrees_on_likely_constraints(
            parts in proptest::collection::vec((0usize..12, 0usize..6, 0usize..5, 0usize..4), 1..4),
        ) {
            const OPS: &[&str] = &["", ">=", "<", "~", "^", "!=", "=", ">", "<=", "=>", "~>", "= "];
            const VERSIONS: &[&str] = &["1", "1.2", "1.2.3", "v1.x", "1.2.3-rc.1", "1.19.0-0"];
            const SEPS: &[&str] = &[" ", ", ", ",", " || ", "  "];
            let mut c = String::new();
            for (i, &(o, v, sep, _)) in parts.iter().enumerate() {
                if i > 0 {
                    c.push_str(SEPS[sep]);
                }
                c.push_str(OPS[o]);
                c.push_str(VERSIONS[v]);
            }
            proptest::prop_assert!(scan_constraints(&c).is_some(), "{:?} not scanned", c);
            proptest::prop_assert_eq!(
                format!("{:?}", parse_constraints(&c)),
                format!("{:?}", parse_constraints_regex(&c)),
                "{:?}", c
            );
        }

        #[test]
        fn version_scan_agrees_with_the_pattern(picks in proptest::collection::vec(0usize..64, 0..10)) {
            let v = text(PIECES, &picks);
            proptest::prop_assert_eq!(VersionText::scan(&v).is_some(), VERSION_RE.is_match(&v), "{:?}", v);
            if let (Some(t), Some(m)) = (VersionText::scan(&v), VERSION_RE.captures(&v)) {
                let g = |i: usize| m.get(i).map(|x| x.as_str().trim_start_matches('.'));
                proptest::prop_assert_eq!(Some(t.major), g(1));
                proptest::prop_assert_eq!(t.minor, g(2));
                proptest::prop_assert_eq!(t.patch, g(3));
                proptest::prop_assert_eq!(t.pre, g(5).unwrap_or(""));
                proptest::prop_assert_eq!(t.meta, g(8).unwrap_or(""));
            }
        }
    }

    // Expected values from helm-template:
    // {{ list (semverCompare "^1.2" "1.9.0") (semverCompare "~1.2" "1.3.0")
    //   (semverCompare ">=1.19-0" "v1.32.0") (semverCompare ">=1.19" "1.32.0-rc.1")
    //   (semverCompare "1.2 - 1.4" "1.4.5") (semverCompare "1.x" "1.9.9")
    //   (semverCompare "<2 || >3" "3.5.0") (semverCompare ">1, <3" "2.0.0")
    //   (semverCompare "!=1.2.3" "1.2.3") (semverCompare "*" "0.0.1")
    //   (semverCompare ">1.2.3-alpha.10" "1.2.3-alpha.9") | toJson }}
    // → [true,false,true,false,true,true,false,true,false,true,false]
    // {{ list (semverCompare ">= 1.2.3 < 2" "1.5.0") (semverCompare "=1.2.3+meta" "1.2.3")
    //   (semverCompare "^0.2.3" "0.2.9") (semverCompare "^0.0.3" "0.0.4")
    //   (semverCompare "~1.2.3-beta" "1.2.3-beta.2") (semverCompare ">=1.2.3-beta" "1.3.0-alpha")
    //   (semverCompare "<=1.2" "1.2.9") (semverCompare ">1.2" "1.2.9") | toJson }}
    // → [true,true,true,false,true,true,true,false]
    #[test]
    fn constraints_match_helm() {
        let cases = [
            ("^1.2", "1.9.0", true),
            ("~1.2", "1.3.0", false),
            (">=1.19-0", "v1.32.0", true),
            (">=1.19", "1.32.0-rc.1", false),
            ("1.2 - 1.4", "1.4.5", true),
            ("1.x", "1.9.9", true),
            ("<2 || >3", "3.5.0", false),
            (">1, <3", "2.0.0", true),
            ("!=1.2.3", "1.2.3", false),
            ("*", "0.0.1", true),
            (">1.2.3-alpha.10", "1.2.3-alpha.9", false),
            (">= 1.2.3 < 2", "1.5.0", true),
            ("=1.2.3+meta", "1.2.3", true),
            ("^0.2.3", "0.2.9", true),
            ("^0.0.3", "0.0.4", false),
            ("~1.2.3-beta", "1.2.3-beta.2", true),
            (">=1.2.3-beta", "1.3.0-alpha", true),
            ("<=1.2", "1.2.9", true),
            (">1.2", "1.2.9", false),
        ];
        for (c, v, want) in cases {
            assert_eq!(semver_compare(c, v), Ok(want), "{c} {v}");
        }
    }

    // helm-template: semver "1.2.3.4" → Invalid Semantic Version; "1.2.3-01" → Version
    // segment starts with 0; semverCompare "foo" → improper constraint: foo; "" → improper
    // constraint: (empty); version "x" → Invalid Semantic Version. "01.2.3" → 1.2.3.
    #[test]
    fn errors_match_helm() {
        assert_eq!(Version::parse("1.2.3.4").unwrap_err(), INVALID);
        assert_eq!(
            Version::parse("1.2.3-01").unwrap_err(),
            "Version segment starts with 0"
        );
        assert_eq!(
            semver_compare("foo", "1.2.3").unwrap_err(),
            "improper constraint: foo"
        );
        assert_eq!(
            semver_compare("", "1.2.3").unwrap_err(),
            "improper constraint: "
        );
        assert_eq!(semver_compare(">1", "x").unwrap_err(), INVALID);
        // Go's `\s` is `[\t\n\f\r ]`: a vertical tab or a no-break space is no separator
        // (helm-template: improper constraint: <the constraint>), a tab is.
        for c in ["\u{b}>=1.0", ">=1.0\u{b}", "\u{a0}>=1.0"] {
            assert_eq!(
                semver_compare(c, "1.2.3").unwrap_err(),
                format!("improper constraint: {c}")
            );
        }
        assert_eq!(semver_compare("\t>=1.0 ", "1.2.3"), Ok(true));
        assert_eq!(Version::parse("01.2.3").unwrap().string(), "1.2.3");
        assert_eq!(
            Version::parse("v1.2.3-beta.1+build.5").unwrap().string(),
            "1.2.3-beta.1+build.5"
        );
    }
}
