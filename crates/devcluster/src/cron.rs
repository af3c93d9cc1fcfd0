//! Standard 5-field cron schedules as the CronJob controller reads them (robfig/cron's
//! `ParseStandard`): minute, hour, day of month, month, day of week; `*`, `?`, lists, ranges,
//! steps (`*/5`, `10-40/10`, `5/15` meaning `5-max/15`), month and weekday names (`JAN`,
//! `mon`), `7` for Sunday, and the macros `@yearly`/`@annually`, `@monthly`, `@weekly`,
//! `@daily`/`@midnight`, `@hourly`. When both day fields are restricted a time matches either
//! (as in Vixie cron); a `*` in one of them defers to the other. Times are UTC.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// A parsed schedule: one bit per allowed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    dom: u64,
    months: u64,
    dow: u64,
    /// Whether the day-of-month / day-of-week field was `*` or `?`.
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(name_base + i as u32);
    }
    let v: u32 = s.parse().map_err(|_| {
        format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax")
    })?;
    if v < min {
        return Err(format!(
            "beginning of range ({v}) below minimum ({min}): {s}"
        ));
    }
    if v > max {
        return Err(format!("end of range ({v}) above maximum ({max}): {s}"));
    }
    Ok(v)
}

/// Parse one field into a bit set; the bool says whether it was a plain `*`/`?`.
fn field(
    expr: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| {
                    format!(
                        "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"
                    )
                })?;
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if step.is_none_or(|s| s == 1) {
                star = true;
            }
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, min, max, names, name_base)?,
                value(b, min, max, names, name_base)?,
            )
        } else {
            let v = value(range, min, max, names, name_base)?;
            // `N/step` means `N-max/step`.
            (v, if step.is_some() { max } else { v })
        };
        if lo > hi {
            return Err(format!(
                "beginning of range ({lo}) beyond end of range ({hi}): {part}"
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star && !expr.contains(',')))
}

impl Schedule {
    /// Parse a schedule; the error reads like the CronJob validation's.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            s if s.starts_with('@') => {
                return Err(format!("unrecognized descriptor: {spec}"));
            }
            _ => spec.to_string(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            ));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[], 0)?;
        let (hours, _) = field(fields[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = field(fields[2], 1, 31, &[], 0)?;
        let (months, _) = field(fields[3], 1, 12, &MONTHS, 1)?;
        let (mut dow, dow_star) = field(fields[4], 0, 7, &DAYS, 0)?;
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & !(1 << 7);
        }
        Ok(Schedule {
            minutes,
            hours,
            dom,
            months,
            dow,
            dom_star,
            dow_star,
        })
    }

    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let d = self.dom & (1 << t.day()) != 0;
        let w = self.dow & (1 << t.weekday().num_days_from_sunday()) != 0;
        if self.dom_star || self.dow_star {
            d && w
        } else {
            d || w
        }
    }

    /// Whether the schedule fires at this minute.
    pub fn matches(&self, t: &DateTime<Utc>) -> bool {
        self.minutes & (1 << t.minute()) != 0
            && self.hours & (1 << t.hour()) != 0
            && self.months & (1 << t.month()) != 0
            && self.day_matches(t)
    }

    /// The first time strictly after `after` that the schedule fires (`None` if none within
    /// five years, e.g. `0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.timestamp().div_euclid(60) * 60 + 60;
        let mut t = Utc.timestamp_opt(start, 0).single()?;
        let limit = t + Duration::days(366 * 5);
        while t <= limit {
            if self.months & (1 << t.month()) == 0 {
                // Jump to the first minute of the next month.
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(&t) {
                t = Utc
                    .with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
                    .single()?
                    + Duration::days(1);
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = Utc
                    .with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), 0, 0)
                    .single()?
                    + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += Duration::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid time")
            .with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec)
            .expect("valid schedule")
            .next_after(at(after))
            .expect("a next time")
            .to_rfc3339()
    }

    #[test]
    fn next_times() {
        assert_eq!(
            next("* * * * *", "2026-01-01T00:00:30Z"),
            "2026-01-01T00:01:00+00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-01-01T00:16:00Z"),
            "2026-01-01T00:30:00+00:00"
        );
        assert_eq!(
            next("5/20 * * * *", "2026-01-01T00:46:00Z"),
            "2026-01-01T01:05:00+00:00"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2026-01-01T13:00:00Z"),
            "2026-01-01T17:00:00+00:00"
        );
        assert_eq!(
            next("@hourly", "2026-01-01T13:00:00Z"),
            "2026-01-01T14:00:00+00:00"
        );
        assert_eq!(
            next("@daily", "2026-01-01T13:00:00Z"),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(
            next("@monthly", "2026-01-15T00:00:00Z"),
            "2026-02-01T00:00:00+00:00"
        );
        assert_eq!(
            next("@yearly", "2026-01-15T00:00:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
        // 2026-01-01 is a Thursday.
        assert_eq!(
            next("@weekly", "2026-01-01T00:00:00Z"),
            "2026-01-04T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 * * MON-FRI", "2026-01-02T12:00:00Z"),
            "2026-01-05T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-01-01T00:00:00Z"),
            "2026-01-04T00:00:00+00:00"
        );
        assert_eq!(
            next("30 6 1,15 FEB *", "2026-01-01T00:00:00Z"),
            "2026-02-01T06:30:00+00:00"
        );
        // Both day fields restricted: either matches (the 13th, or a Friday).
        assert_eq!(
            next("0 0 13 * 5", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        assert!(
            Schedule::parse("0 0 30 2 *")
                .expect("valid")
                .next_after(at("2026-01-01T00:00:00Z"))
                .is_none()
        );
    }

    #[test]
    fn invalid_schedules() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "@reboot",
            "x * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    proptest! {
        /// The next time matches the schedule, is after the start, and no minute in between
        /// matches (checked by brute force over at most a few days).
        #[test]
        fn next_is_the_first_matching_minute(
            minute in prop::sample::select(vec!["*", "0", "*/7", "5-20/5", "1,31,59", "10/25"]),
            hour in prop::sample::select(vec!["*", "3", "*/6", "8-18", "0,12"]),
            dom in prop::sample::select(vec!["*", "1", "15", "1-7", "*/10"]),
            dow in prop::sample::select(vec!["*", "0", "1-5", "SAT", "sun,wed"]),
            start in 1_700_000_000i64..1_900_000_000,
        ) {
            let spec = format!("{minute} {hour} {dom} * {dow}");
            let s = Schedule::parse(&spec).expect("valid schedule");
            let after = Utc.timestamp_opt(start, 0).single().expect("valid timestamp");
            let n = s.next_after(after).expect("fires within five years");
            prop_assert!(n > after);
            prop_assert!(s.matches(&n));
            prop_assert_eq!(n.second(), 0);
            let mut t = Utc.timestamp_opt(start.div_euclid(60) * 60 + 60, 0).single().expect("valid");
            let mut steps = 0;
            while t < n && steps < 60 * 24 * 40 {
                prop_assert!(!s.matches(&t), "{} matches {} before {}", spec, t, n);
                t += Duration::minutes(1);
                steps += 1;
            }
        }
    }
}
