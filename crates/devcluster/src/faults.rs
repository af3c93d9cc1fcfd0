//! Fault injection for reliability tests: a cluster started with a [`FaultSpec`] answers some
//! requests with the failures a real API server under load or during a rollout produces, so a
//! client's retries, watch restarts and conflict handling can be exercised on purpose.
//!
//! The spec is a comma-separated list of `key=value` parts (every part optional):
//!
//! | part | effect |
//! |---|---|
//! | `error-rate=R` | a fraction `R` (0..=1) of API requests fail, in equal shares, with 500 InternalError, 503 ServiceUnavailable or 429 TooManyRequests (the last two with `Retry-After: 1`, as the real server's priority-and-fairness and shutdown paths send) |
//! | `conflict-rate=R` | a fraction `R` of updates (`PUT`) and non-apply patches fail with 409 Conflict ("the object has been modified") |
//! | `latency=A..B` or `latency=A` | every API request waits a uniformly drawn time in `[A, B]` before it is served |
//! | `watch-drop-every=D` | each watch is closed by the server after about `D` (drawn in `[D/2, 3D/2]`), as an API server restart or a load balancer's idle timeout does |
//! | `gone-rate=R` | a fraction `R` of watches started from a resourceVersion are answered with 410 Gone ("too old resource version"), so the client must list again; default 0.2 when `watch-drop-every` is set, else 0 |
//! | `seed=N` | the random sequence (default: a random seed, shown by `Display`) |
//!
//! Durations are a number with a unit: `ms`, `s`, `m` or `h` (`20ms`, `1.5s`, `2m`).
//! Only resource requests (`/api/v1/...`, `/apis/GROUP/VERSION/...`) are affected; health,
//! version, discovery and OpenAPI documents are always served, so clients can still find the
//! resources they then retry against.
//!
//! Decisions are reproducible: request number `i` (in arrival order) draws its faults from
//! `hash(seed, i)` alone, so the same seed and the same sequence of requests give the same faults.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Which faults to inject, parsed from `error-rate=0.05,latency=20ms..200ms,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Fraction of API requests failing with 500, 503 or 429.
    pub error_rate: f64,
    /// Fraction of updates and non-apply patches failing with 409 Conflict.
    pub conflict_rate: f64,
    /// Delay range applied to every API request.
    pub latency: Option<(Duration, Duration)>,
    /// Mean lifetime of a watch before the server closes it.
    pub watch_drop_every: Option<Duration>,
    /// Fraction of watches from a resourceVersion answered with 410 Gone.
    pub gone_rate: f64,
    /// Seed of the decisions.
    pub seed: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            error_rate: 0.0,
            conflict_rate: 0.0,
            latency: None,
            watch_drop_every: None,
            gone_rate: 0.0,
            seed: 0,
        }
    }
}

/// A spec that does not parse; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault spec part {part:?}: {reason}")]
pub struct FaultSpecError {
    /// The `key=value` part at fault (as written).
    pub part: String,
    /// What is wrong with it.
    pub reason: String,
}

const KEYS: &str = "error-rate, conflict-rate, latency, watch-drop-every, gone-rate, seed";
/// Longest accepted duration (a day): larger values are surely typos.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

fn err(part: &str, reason: impl Into<String>) -> FaultSpecError {
    FaultSpecError {
        part: part.to_string(),
        reason: reason.into(),
    }
}

fn parse_rate(part: &str, v: &str) -> Result<f64, FaultSpecError> {
    let r: f64 = v.parse().map_err(|_| {
        err(
            part,
            format!("{v:?} is not a number (expected 0..1, e.g. 0.05)"),
        )
    })?;
    if !r.is_finite() || !(0.0..=1.0).contains(&r) {
        return Err(err(part, format!("{v} is not a rate between 0 and 1")));
    }
    Ok(r)
}

/// `20ms`, `1.5s`, `2m`, `1h`.
fn parse_duration(part: &str, v: &str) -> Result<Duration, FaultSpecError> {
    let v = v.trim();
    let (num, unit_secs) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600.0)
    } else {
        return Err(err(
            part,
            format!("{v:?} is not a duration (a number with a unit: ms, s, m or h, e.g. 200ms)"),
        ));
    };
    let x: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| err(part, format!("{v:?} is not a non-negative duration")))?;
    Duration::try_from_secs_f64(x * unit_secs)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| err(part, format!("{v:?} is longer than a day")))
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    /// Parses a spec; without `seed=`, the seed is random (see `Display` to reproduce a run).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut seed = None;
        let mut gone = None;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(err(part, format!("expected key=value, one of: {KEYS}")));
            };
            let (key, value) = (key.trim(), value.trim());
            if seen.contains(&key) {
                return Err(err(part, format!("{key} is given twice")));
            }
            match key {
                "error-rate" => spec.error_rate = parse_rate(part, value)?,
                "conflict-rate" => spec.conflict_rate = parse_rate(part, value)?,
                "gone-rate" => gone = Some(parse_rate(part, value)?),
                "latency" => {
                    let (lo, hi) = match value.split_once("..") {
                        Some((a, b)) => (parse_duration(part, a)?, parse_duration(part, b)?),
                        None => {
                            let d = parse_duration(part, value)?;
                            (d, d)
                        }
                    };
                    if lo > hi {
                        return Err(err(part, "the range's lower bound exceeds its upper bound"));
                    }
                    spec.latency = Some((lo, hi));
                }
                "watch-drop-every" => {
                    let d = parse_duration(part, value)?;
                    if d.is_zero() {
                        return Err(err(part, "must be longer than zero"));
                    }
                    spec.watch_drop_every = Some(d);
                }
                "seed" => {
                    seed = Some(value.parse::<u64>().map_err(|_| {
                        err(part, format!("{value:?} is not an unsigned 64-bit integer"))
                    })?);
                }
                other => {
                    return Err(err(part, format!("unknown key {other:?}; known: {KEYS}")));
                }
            }
            seen.push(key);
        }
        spec.gone_rate = gone.unwrap_or(if spec.watch_drop_every.is_some() {
            0.2
        } else {
            0.0
        });
        spec.seed = seed.unwrap_or_else(rand::random);
        Ok(spec)
    }
}

fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms.fract() == 0.0 {
        format!("{ms}ms")
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

impl fmt::Display for FaultSpec {
    /// The full spec, seed included: parsing it again gives the same spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error-rate={},conflict-rate={}",
            self.error_rate, self.conflict_rate
        )?;
        if let Some((lo, hi)) = self.latency {
            write!(f, ",latency={}..{}", fmt_duration(lo), fmt_duration(hi))?;
        }
        if let Some(d) = self.watch_drop_every {
            write!(f, ",watch-drop-every={}", fmt_duration(d))?;
        }
        write!(f, ",gone-rate={},seed={}", self.gone_rate, self.seed)
    }
}

/// How many faults a cluster injected so far (for a test to check that faults did happen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// API requests that went through fault injection.
    pub requests: u64,
    /// 500 InternalError answers.
    pub internal_errors: u64,
    /// 503 ServiceUnavailable answers.
    pub unavailable: u64,
    /// 429 TooManyRequests answers.
    pub throttled: u64,
    /// 409 Conflict answers.
    pub conflicts: u64,
    /// Requests delayed.
    pub delayed: u64,
    /// Watches closed by the server.
    pub watch_drops: u64,
    /// Watches answered with 410 Gone.
    pub gone: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    internal_errors: AtomicU64,
    unavailable: AtomicU64,
    throttled: AtomicU64,
    conflicts: AtomicU64,
    delayed: AtomicU64,
    watch_drops: AtomicU64,
    gone: AtomicU64,
}

/// The running injector of a cluster.
pub struct Faults {
    spec: FaultSpec,
    next: AtomicU64,
    counters: Counters,
    /// While set, requests pass untouched (and draw nothing from the seed's sequence).
    paused: std::sync::atomic::AtomicBool,
}

/// What one request is to suffer.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub delay: Option<Duration>,
    pub failure: Option<Response>,
    /// For a watch: close it after this long.
    pub watch_lifetime: Option<Duration>,
    /// For a watch from a resourceVersion: answer 410 Gone.
    pub watch_gone: bool,
}

/// SplitMix64: a well-mixed 64-bit hash of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `k`-th uniform draw in `[0, 1)` of request `i`.
fn unit(seed: u64, i: u64, k: u64) -> f64 {
    let h = mix(mix(seed ^ mix(i)) ^ k);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn lerp(lo: Duration, hi: Duration, t: f64) -> Duration {
    lo + (hi - lo).mul_f64(t)
}

/// A failure with `Retry-After: 1` (and `details.retryAfterSeconds`) where the real server sends it.
fn failure(code: u16, reason: &str, message: &str, retry_after: bool) -> Response {
    let mut status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    if retry_after {
        status["details"] = json!({"retryAfterSeconds": 1});
    }
    let body = serde_json::to_vec(&status).unwrap_or_default();
    let mut resp = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body,
    )
        .into_response();
    if retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    resp
}

impl Faults {
    pub fn new(spec: FaultSpec) -> Self {
        Faults {
            spec,
            next: AtomicU64::new(0),
            counters: Counters::default(),
            paused: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// Stops (`true`) or resumes (`false`) injecting: a test sets the scene and checks the end
    /// state without faults, and lets the code under test run with them.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn counts(&self) -> FaultCounts {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FaultCounts {
            requests: g(&c.requests),
            internal_errors: g(&c.internal_errors),
            unavailable: g(&c.unavailable),
            throttled: g(&c.throttled),
            conflicts: g(&c.conflicts),
            delayed: g(&c.delayed),
            watch_drops: g(&c.watch_drops),
            gone: g(&c.gone),
        }
    }

    pub(crate) fn count_watch_drop(&self) {
        self.counters.watch_drops.fetch_add(1, Ordering::Relaxed);
    }

    /// The faults of the next API request. `conflictable`: an update or a non-apply patch;
    /// `watch_from_rv`: a watch resuming from a resourceVersion.
    pub(crate) fn decide(
        &self,
        conflictable: bool,
        is_watch: bool,
        watch_from_rv: bool,
        resource: &str,
        name: &str,
    ) -> Decision {
        if self.paused.load(Ordering::Relaxed) {
            return Decision::default();
        }
        let s = &self.spec;
        let c = &self.counters;
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        c.requests.fetch_add(1, Ordering::Relaxed);
        let u = |k| unit(s.seed, i, k);
        let mut d = Decision::default();
        if let Some((lo, hi)) = s.latency
            && !hi.is_zero()
        {
            d.delay = Some(lerp(lo, hi, u(1)));
            c.delayed.fetch_add(1, Ordering::Relaxed);
        }
        if u(2) < s.error_rate {
            let (code, reason, message, retry) = match (u(3) * 3.0) as u32 {
                0 => (
                    500,
                    "InternalError",
                    "Internal error occurred: injected fault (devcluster --faults)",
                    false,
                ),
                1 => (
                    503,
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request (injected fault)",
                    true,
                ),
                _ => (
                    429,
                    "TooManyRequests",
                    "Too many requests, please try again later. (injected fault)",
                    true,
                ),
            };
            let counter = match code {
                500 => &c.internal_errors,
                503 => &c.unavailable,
                _ => &c.throttled,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            d.failure = Some(failure(code, reason, message, retry));
            return d;
        }
        if conflictable && u(4) < s.conflict_rate {
            c.conflicts.fetch_add(1, Ordering::Relaxed);
            let message = format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            );
            d.failure = Some(failure(409, "Conflict", &message, false));
            return d;
        }
        if is_watch {
            if watch_from_rv && u(5) < s.gone_rate {
                c.gone.fetch_add(1, Ordering::Relaxed);
                d.watch_gone = true;
            }
            if let Some(every) = s.watch_drop_every {
                d.watch_lifetime = Some(lerp(every / 2, every * 3 / 2, u(6)));
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let s: FaultSpec =
            "error-rate=0.05,latency=20ms..200ms,watch-drop-every=30s,conflict-rate=0.02,seed=7"
                .parse()
                .expect("parses");
        assert_eq!(s.error_rate, 0.05);
        assert_eq!(s.conflict_rate, 0.02);
        assert_eq!(
            s.latency,
            Some((Duration::from_millis(20), Duration::from_millis(200)))
        );
        assert_eq!(s.watch_drop_every, Some(Duration::from_secs(30)));
        assert_eq!(s.gone_rate, 0.2);
        assert_eq!(s.seed, 7);
        // Display round-trips, seed included.
        assert_eq!(s.to_string().parse::<FaultSpec>(), Ok(s.clone()));
        let single: FaultSpec = "latency=1.5s,gone-rate=0,seed=1".parse().expect("parses");
        assert_eq!(
            single.latency,
            Some((Duration::from_millis(1500), Duration::from_millis(1500)))
        );
        assert_eq!(single.gone_rate, 0.0);
        assert_eq!(single.to_string().parse::<FaultSpec>(), Ok(single.clone()));
    }

    #[test]
    fn errors_name_the_bad_part() {
        for (spec, part, says) in [
            (
                "error-rate=0.05,latency=20ms..2",
                "latency=20ms..2",
                "not a duration",
            ),
            ("error-rate=1.5", "error-rate=1.5", "between 0 and 1"),
            ("error-rate=abc", "error-rate=abc", "not a number"),
            ("latency=200ms..20ms", "latency=200ms..20ms", "lower bound"),
            (
                "watch-drop-every=0s",
                "watch-drop-every=0s",
                "longer than zero",
            ),
            ("seed=-1", "seed=-1", "unsigned"),
            ("speed=3", "speed=3", "unknown key"),
            ("error-rate", "error-rate", "expected key=value"),
            ("seed=1,seed=2", "seed=2", "twice"),
            ("latency=99999h", "latency=99999h", "longer than a day"),
        ] {
            let e = spec.parse::<FaultSpec>().expect_err(spec);
            assert_eq!(e.part, part, "{spec}");
            assert!(e.reason.contains(says), "{spec}: {e}");
            assert!(e.to_string().contains(part), "{e}");
        }
    }

    #[test]
    fn decisions_are_reproducible_from_the_seed_and_follow_the_rates() {
        let spec: FaultSpec = "error-rate=0.1,conflict-rate=0.2,latency=1ms..3ms,seed=42"
            .parse()
            .expect("parses");
        let run = || {
            let f = Faults::new(spec.clone());
            (0..4000)
                .map(|i| {
                    let d = f.decide(i % 2 == 0, false, false, "configmaps", "x");
                    (d.delay, d.failure.map(|r| r.status().as_u16()))
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same faults");
        let failed = |code| a.iter().filter(|(_, c)| *c == Some(code)).count();
        let errors = failed(500) + failed(503) + failed(429);
        assert!((300..500).contains(&errors), "{errors} errors of 4000");
        assert!(failed(500) > 60 && failed(503) > 60 && failed(429) > 60);
        // Conflicts only for the conflictable half, at 0.2 of those not already failed.
        let conflicts = failed(409);
        assert!((260..460).contains(&conflicts), "{conflicts} conflicts");
        assert!(a.iter().all(|(d, _)| {
            d.is_some_and(|d| d >= Duration::from_millis(1) && d <= Duration::from_millis(3))
        }));
        let f = Faults::new(spec);
        let r = (0..200)
            .find_map(|_| {
                f.decide(false, false, false, "x", "y")
                    .failure
                    .filter(|r| r.status() == 429)
            })
            .expect("a 429");
        assert_eq!(
            r.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }

    proptest::proptest! {
        /// Any input either parses or is refused with a message naming a part: never a panic.
        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            if let Err(e) = s.parse::<FaultSpec>() {
                proptest::prop_assert!(s.contains(e.part.as_str()));
            }
        }

        /// Specs built from the grammar parse, and print back to themselves.
        #[test]
        fn well_formed_specs_round_trip(
            e in 0u32..=1000, c in 0u32..=1000, lo in 0u64..5000, span in 0u64..5000,
            drop in proptest::option::of(1u64..100_000), seed: u64,
        ) {
            let mut text = format!(
                "error-rate={},conflict-rate={},latency={lo}ms..{}ms,seed={seed}",
                f64::from(e) / 1000.0, f64::from(c) / 1000.0, lo + span
            );
            if let Some(d) = drop {
                text.push_str(&format!(",watch-drop-every={d}ms"));
            }
            let spec: FaultSpec = text.parse().map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e}")))?;
            proptest::prop_assert_eq!(spec.to_string().parse::<FaultSpec>(), Ok(spec.clone()));
        }
    }
}
