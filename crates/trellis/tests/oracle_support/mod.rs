//! Shared machinery of the differential tests against real Helm (`oracle_cases.rs`, `corpus_charts.rs`).
//!
//! Owns: reading the case files under `testdata/` (format in `testdata/README.md`, written by
//! `scripts/regen-oracle`, whose `scripts/oracle/casefile.py` reads them the same way), laying a case
//! out as a chart in a temporary directory, running the real `trellis` binary as
//! `trellis template RELEASE CHART -n NS FLAGS...`, and comparing its stdout, the stderr from its
//! `Error: ` line on, and its exit code with what Helm produced. Every case runs; the caller gets
//! every mismatch (with a unified diff) to report in one assertion.
//!
//! Environment:
//! - `TRELLIS_ORACLE_FILTER=a,b`   run only cases whose path (relative to testdata/) contains a or b
//! - `TRELLIS_ORACLE_FULL_DIFF=1`  print whole diffs instead of the first lines of each
//! - `TRELLIS_ORACLE_ACTUAL_DIR=D` also write trellis's outputs under D (same layout as testdata/)
//! - `TRELLIS_ORACLE_JOBS=N`       cases run in parallel (default 2)
//! - `TRELLIS_SHARED=DIR`          the shared folder holding corpus/ (default: ../shared from the repo)

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use regex::Regex;

/// The chart directory inside a case's working directory (see `materialize`).
pub const CHART_DIR: &str = "chart";
const DEFAULT_RELEASE: &str = "rel";
const DEFAULT_NAMESPACE: &str = "ns";
const DEFAULT_CHART_YAML: &str = "apiVersion: v2
name: oracle
description: A throwaway chart holding one oracle case
type: application
version: 0.1.0
appVersion: \"1.16.0\"
";
const WRAPPER: &str = "out: {{ include \"case\" . | b64enc | quote }}\n";
/// A file section `PATH (base64)` holds the file's bytes base64-encoded (binary files).
const BASE64_SUFFIX: &str = " (base64)";
/// A trellis run taking longer than this is reported as a hang, and killed.
const TIMEOUT: Duration = Duration::from_secs(60);
const DIFF_LINES: usize = 60;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared folder (holding `corpus/charts`).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("TRELLIS_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("../shared"),
    }
}

/// One case file: header settings and named sections, in file order.
#[derive(Debug, Default)]
pub struct Case {
    pub header: BTreeMap<String, String>,
    pub sections: Vec<(String, String)>,
}

impl Case {
    pub fn parse(text: &str) -> Result<Case, String> {
        let mut case = Case::default();
        let mut current: Option<usize> = None;
        for line in text.split_inclusive('\n') {
            let bare = line.strip_suffix('\n').unwrap_or(line);
            if let Some(name) = bare.strip_prefix("-- ").and_then(|r| r.strip_suffix(" --")) {
                if case.sections.iter().any(|(n, _)| n == name) {
                    return Err(format!("duplicate section {name:?}"));
                }
                case.sections.push((name.to_string(), String::new()));
                current = Some(case.sections.len() - 1);
            } else if let Some(i) = current {
                case.sections[i].1.push_str(line);
            } else {
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let (key, value) = trimmed
                    .split_once(':')
                    .ok_or_else(|| format!("bad header line {line:?}"))?;
                case.header
                    .insert(key.trim().to_string(), value.trim().to_string());
            }
        }
        Ok(case)
    }

    pub fn section(&self, name: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }

    pub fn release(&self) -> &str {
        self.header
            .get("release")
            .map_or(DEFAULT_RELEASE, String::as_str)
    }

    pub fn namespace(&self) -> &str {
        self.header
            .get("namespace")
            .map_or(DEFAULT_NAMESPACE, String::as_str)
    }

    /// The shared corpus chart a corpus case renders.
    pub fn chart(&self) -> Option<&str> {
        self.header.get("chart").map(String::as_str)
    }

    pub fn wrapped(&self) -> bool {
        self.section("template").is_some()
    }

    /// The extra flags, one per line; `$CHART` stands for the chart directory argument.
    pub fn flags(&self, chart: &str) -> Vec<String> {
        self.section("flags")
            .unwrap_or("")
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(|l| l.replace("$CHART", chart))
            .collect()
    }

    /// The shape regex of a case that is random by design, anchored on both ends.
    pub fn shape(&self) -> Option<Result<Regex, String>> {
        self.section("shape").map(|s| {
            let joined: String = s.split('\n').collect();
            Regex::new(&format!("^(?:{joined})$")).map_err(|e| format!("bad shape regex: {e}"))
        })
    }

    /// Writes the case's chart under `work/chart` and its `@files` under `work` (a section
    /// `PATH (base64)` as the bytes its text encodes).
    pub fn materialize(&self, work: &Path) -> std::io::Result<()> {
        let chart = work.join(CHART_DIR);
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        if self.chart().is_none() {
            files.push((chart.join("Chart.yaml"), DEFAULT_CHART_YAML.into()));
        }
        for (name, text) in &self.sections {
            match name.as_str() {
                "flags" | "shape" => {}
                "template" => {
                    let body = text.strip_suffix('\n').unwrap_or(text);
                    files.push((
                        chart.join("templates/_case.tpl"),
                        format!("{{{{define \"case\"}}}}{body}{{{{end}}}}").into(),
                    ));
                    files.push((chart.join("templates/case.yaml"), WRAPPER.into()));
                }
                n => {
                    let (n, data) = match n.strip_suffix(BASE64_SUFFIX) {
                        Some(n) => {
                            let clean: String = text.split_whitespace().collect();
                            let data = base64::engine::general_purpose::STANDARD
                                .decode(clean)
                                .map_err(|e| std::io::Error::other(format!("{n}: {e}")))?;
                            (n, data)
                        }
                        None => (n, text.clone().into_bytes()),
                    };
                    match n.strip_prefix('@') {
                        Some(outside) => files.push((work.join(outside), data)),
                        None => files.push((chart.join(n), data)),
                    }
                }
            }
        }
        for (path, text) in files {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, text)?;
        }
        Ok(())
    }
}

/// What Helm produced for a case (the committed files next to it).
#[derive(Debug)]
pub enum Expected {
    Success {
        stdout: Vec<u8>,
        /// Lines (1-based) whose content is random: they must match the regex instead.
        random: Vec<(usize, Regex)>,
        /// The warnings Helm printed (`.stderr`, empty when there is none): trellis must
        /// print the same.
        stderr: String,
    },
    Failure {
        exit: i32,
        /// Helm's stderr from its `Error: ` line to the end.
        error: String,
    },
}

pub fn load_expected(case_path: &Path) -> Result<Expected, String> {
    let stem = case_path.with_extension("");
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    let error_path = with("error");
    if error_path.exists() {
        let text = std::fs::read_to_string(&error_path).map_err(|e| e.to_string())?;
        let (first, rest) = text.split_once('\n').ok_or("empty .error file")?;
        let exit = first
            .strip_prefix("exit: ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("bad first line in {}", error_path.display()))?;
        return Ok(Expected::Failure {
            exit,
            error: rest.to_string(),
        });
    }
    let stdout_path = with("stdout");
    let stdout = std::fs::read(&stdout_path).map_err(|e| {
        format!(
            "no expected output ({}: {e}); run scripts/regen-oracle",
            stdout_path.display()
        )
    })?;
    let mut random = Vec::new();
    let random_path = with("random");
    if random_path.exists() {
        let text = std::fs::read_to_string(&random_path).map_err(|e| e.to_string())?;
        for line in text.lines() {
            let (n, re) = line
                .split_once('\t')
                .ok_or_else(|| format!("bad line in {}: {line:?}", random_path.display()))?;
            let n: usize = n.parse().map_err(|_| format!("bad line number {n:?}"))?;
            let re = Regex::new(&format!("^(?:{re})$")).map_err(|e| e.to_string())?;
            random.push((n, re));
        }
    }
    let stderr = std::fs::read_to_string(with("stderr")).unwrap_or_default();
    Ok(Expected::Success {
        stdout,
        random,
        stderr,
    })
}

/// What `trellis template` did.
#[derive(Debug)]
pub struct Actual {
    /// None when killed (timeout) or ended by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub timed_out: bool,
}

/// Runs `trellis template RELEASE CHART -n NAMESPACE FLAGS...` in `cwd`.
pub fn run_trellis(
    cwd: &Path,
    chart: &str,
    release: &str,
    namespace: &str,
    flags: &[String],
) -> Actual {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .arg("template")
        .arg(release)
        .arg(chart)
        .arg("-n")
        .arg(namespace)
        .args(flags)
        .current_dir(cwd)
        .env("KUBECONFIG", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the trellis binary");
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for trellis") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed trellis");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Actual {
        code: status.code(),
        stdout,
        stderr,
        timed_out,
    }
}

/// The part of stderr compared with Helm's: from the first line starting with `Error: ` to the end.
pub fn error_block(stderr: &str) -> Option<&str> {
    if stderr.starts_with("Error: ") {
        return Some(stderr);
    }
    stderr.find("\nError: ").map(|i| &stderr[i + 1..])
}

/// The case output inside the wrapper's `out: "BASE64"` line, decoded.
pub fn decode_wrapped(stdout: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(stdout).ok()?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("# Source: ") && line.ends_with("/templates/case.yaml") {
            let out = lines.next()?;
            let b64 = out.strip_prefix("out: \"")?.strip_suffix('"')?;
            return base64::engine::general_purpose::STANDARD.decode(b64).ok();
        }
    }
    None
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A unified diff from `expected` to `actual`, cut to `DIFF_LINES` lines unless asked otherwise.
pub fn diff(label: &str, expected: &str, actual: &str) -> String {
    let text = similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(
            &format!("expected (helm) {label}"),
            &format!("actual (trellis) {label}"),
        )
        .to_string();
    if std::env::var_os("TRELLIS_ORACLE_FULL_DIFF").is_some() {
        return text;
    }
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= DIFF_LINES {
        return text;
    }
    format!(
        "{}\n... {} more diff lines (TRELLIS_ORACLE_FULL_DIFF=1 shows all)\n",
        lines[..DIFF_LINES].join("\n"),
        lines.len() - DIFF_LINES
    )
}

/// Replaces in `actual` each line that Helm marked random (and that matches its regex) with the
/// expected line, so that the remaining comparison is byte for byte. Lines are paired through a
/// line diff, so a random line is still recognised when other lines were added or removed.
fn mask_random(expected: &[u8], actual: &[u8], random: &[(usize, Regex)]) -> Vec<u8> {
    if random.is_empty() {
        return actual.to_vec();
    }
    let (Ok(exp), Ok(act)) = (std::str::from_utf8(expected), std::str::from_utf8(actual)) else {
        return actual.to_vec();
    };
    let exp_lines: Vec<&str> = exp.split('\n').collect();
    let mut act_lines: Vec<&str> = act.split('\n').collect();
    let masks: BTreeMap<usize, &Regex> = random.iter().map(|(n, re)| (n - 1, re)).collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &exp_lines, &act_lines);
    for op in ops {
        if let similar::DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } = op
        {
            for k in 0..old_len.min(new_len) {
                if let Some(re) = masks.get(&(old_index + k))
                    && re.is_match(act_lines[new_index + k])
                {
                    act_lines[new_index + k] = exp_lines[old_index + k];
                }
            }
        }
    }
    act_lines.join("\n").into_bytes()
}

/// Compares one run with Helm's; `None` when they agree, else a readable report.
pub fn compare(case: &Case, expected: &Expected, actual: &Actual) -> Option<String> {
    if actual.timed_out {
        return Some(format!(
            "trellis did not finish within {TIMEOUT:?} (killed)\n"
        ));
    }
    match expected {
        Expected::Failure { exit, error } => {
            let mut report = String::new();
            if actual.code != Some(*exit) {
                report.push_str(&format!(
                    "exit code: helm {exit}, trellis {:?}\n",
                    actual.code
                ));
            }
            if !actual.stdout.is_empty() {
                report.push_str(&format!(
                    "helm printed nothing on stdout, trellis printed:\n{}\n",
                    truncate(&show(&actual.stdout))
                ));
            }
            let got = error_block(&actual.stderr).unwrap_or(&actual.stderr);
            if got != error {
                report.push_str(&diff("stderr from `Error: `", error, got));
            }
            (!report.is_empty()).then_some(report)
        }
        Expected::Success {
            stdout,
            random,
            stderr,
        } => {
            if actual.code != Some(0) {
                return Some(format!(
                    "helm succeeded, trellis exited {:?} with stderr:\n{}",
                    actual.code,
                    truncate(&actual.stderr)
                ));
            }
            if &actual.stderr != stderr {
                return Some(diff("warnings on stderr", stderr, &actual.stderr));
            }
            if let Some(shape) = case.shape() {
                return compare_shape(shape, stdout, &actual.stdout);
            }
            let masked = mask_random(stdout, &actual.stdout, random);
            if &masked == stdout {
                return None;
            }
            let mut report = String::new();
            if case.wrapped()
                && let (Some(e), Some(a)) = (decode_wrapped(stdout), decode_wrapped(&actual.stdout))
            {
                report.push_str(&diff(
                    "case output (decoded from the wrapper)",
                    &show(&e),
                    &show(&a),
                ));
            }
            report.push_str(&diff("stdout", &show(stdout), &show(&masked)));
            Some(report)
        }
    }
}

fn compare_shape(shape: Result<Regex, String>, expected: &[u8], actual: &[u8]) -> Option<String> {
    let shape = match shape {
        Ok(re) => re,
        Err(e) => return Some(e),
    };
    let Some(decoded) = decode_wrapped(actual) else {
        return Some(format!(
            "trellis output does not have the wrapper's shape:\n{}",
            truncate(&show(actual))
        ));
    };
    let decoded = show(&decoded);
    let mut report = String::new();
    if !shape.is_match(&decoded) {
        report.push_str(&format!(
            "case output does not match the shape {}\n--- trellis output:\n{decoded}\n",
            shape.as_str()
        ));
    }
    // Outside the random `out:` line, the document must be Helm's exactly.
    let strip = |b: &[u8]| -> String {
        show(b)
            .lines()
            .filter(|l| !l.starts_with("out: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (e, a) = (strip(expected), strip(actual));
    if e != a {
        report.push_str(&diff("stdout without the out: line", &e, &a));
    }
    (!report.is_empty()).then_some(report)
}

fn truncate(text: &str) -> String {
    const MAX: usize = 4000;
    if text.len() <= MAX || std::env::var_os("TRELLIS_ORACLE_FULL_DIFF").is_some() {
        return text.to_string();
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n... ({} more bytes)", &text[..cut], text.len() - cut)
}

/// Every `*.txtar` under `testdata/<subdir>`, filtered by `TRELLIS_ORACLE_FILTER`, sorted.
pub fn collect_cases(subdir: &str) -> Vec<PathBuf> {
    let testdata = repo_root().join("testdata");
    let base = testdata.join(subdir);
    let filters: Vec<String> = std::env::var("TRELLIS_ORACLE_FILTER")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut found = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "txtar") {
                let rel = path
                    .strip_prefix(&testdata)
                    .expect("under testdata")
                    .to_string_lossy()
                    .into_owned();
                if filters.is_empty() || filters.iter().any(|f| rel.contains(f.as_str())) {
                    found.push(path);
                }
            }
        }
    }
    found.sort();
    found
}

pub fn filtered() -> bool {
    std::env::var("TRELLIS_ORACLE_FILTER").is_ok_and(|f| !f.is_empty())
}

/// Runs every case; returns the reports of those that differ from Helm, as (name, report).
/// `chart_for` gives the chart argument for a case, given its prepared working directory.
pub fn run_cases<F>(cases: &[PathBuf], chart_for: &F) -> Vec<(String, String)>
where
    F: Fn(&Case, &Path) -> Result<String, String> + Sync,
{
    let testdata = repo_root().join("testdata");
    let jobs: usize = std::env::var("TRELLIS_ORACLE_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2)
        .max(1);
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(path) = cases.get(i) else { break };
                    let name = path
                        .strip_prefix(&testdata)
                        .expect("under testdata")
                        .with_extension("")
                        .to_string_lossy()
                        .into_owned();
                    if let Some(report) = run_one(path, &name, chart_for) {
                        failures
                            .lock()
                            .expect("no panics while holding the lock")
                            .push((name, report));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("threads joined");
    failures.sort();
    failures
}

fn run_one<F>(path: &Path, name: &str, chart_for: &F) -> Option<String>
where
    F: Fn(&Case, &Path) -> Result<String, String> + Sync,
{
    let case = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| Case::parse(&t))
    {
        Ok(case) => case,
        Err(e) => return Some(format!("bad case file: {e}")),
    };
    let expected = match load_expected(path) {
        Ok(e) => e,
        Err(e) => return Some(e),
    };
    let work = tempfile::Builder::new()
        .prefix("trellis-oracle-")
        .tempdir()
        .expect("create a temporary directory");
    if let Err(e) = case.materialize(work.path()) {
        return Some(format!("cannot lay out the case: {e}"));
    }
    let chart = match chart_for(&case, work.path()) {
        Ok(c) => c,
        Err(e) => return Some(e),
    };
    let actual = run_trellis(
        work.path(),
        &chart,
        case.release(),
        case.namespace(),
        &case.flags(&chart),
    );
    if let Some(dir) = std::env::var_os("TRELLIS_ORACLE_ACTUAL_DIR") {
        let base = PathBuf::from(dir).join(name);
        if let Some(parent) = base.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(base.with_extension("stdout"), &actual.stdout);
        let _ = std::fs::write(
            base.with_extension("stderr"),
            format!("exit: {:?}\n{}", actual.code, actual.stderr),
        );
    }
    compare(&case, &expected, &actual)
}

/// Cases known to differ from Helm, with the reason, from `testdata/known-divergences.txt`
/// (`<suite-relative case name>  # reason` per line). Each is a gap listed in the parity docs.
pub fn known_divergences() -> Vec<(String, String)> {
    let path = repo_root().join("testdata/known-divergences.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('#') {
            Some((name, why)) => (name.trim().to_string(), why.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// Prints every report, then fails once with the summary (or passes).
///
/// A case listed in `testdata/known-divergences.txt` may differ (it is reported, not hidden);
/// a listed case that now matches Helm fails the test until it is removed from the list, so the
/// list can only shrink honestly.
pub fn report(suite: &str, total: usize, ran: &[PathBuf], failures: &[(String, String)]) {
    let known = known_divergences();
    let testdata = repo_root().join("testdata");
    let ran: Vec<String> = ran
        .iter()
        .filter_map(|p| p.strip_prefix(&testdata).ok())
        .map(|p| p.with_extension("").to_string_lossy().into_owned())
        .collect();
    let is_known = |name: &str| known.iter().any(|(k, _)| k == name);
    let mut unexpected = Vec::new();
    for (name, report) in failures {
        if is_known(name) {
            println!("=== {suite} case {name} differs from helm (known divergence):\n{report}");
        } else {
            println!("=== {suite} case {name} differs from helm:\n{report}");
            unexpected.push(name.as_str());
        }
    }
    let fixed: Vec<&str> = known
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| ran.iter().any(|r| r == k) && !failures.iter().any(|(n, _)| n == k))
        .collect();
    let known_failing = failures.len() - unexpected.len();
    assert!(
        unexpected.is_empty(),
        "{} of {total} {suite} cases differ from real Helm (details above; \
         TRELLIS_ORACLE_FILTER=substring runs a subset):\n  {}",
        unexpected.len(),
        unexpected.join("\n  ")
    );
    assert!(
        fixed.is_empty(),
        "these cases now match Helm: remove them from testdata/known-divergences.txt:\n  {}",
        fixed.join("\n  ")
    );
    println!(
        "{suite}: {} of {total} cases match real Helm byte for byte; {known_failing} known divergences (testdata/known-divergences.txt)",
        total - known_failing
    );
}
