//! Dates and durations: a Go `time.Time` value ([`GoTime`]) with Go's layout-based
//! `Format` and `Parse` ("2006-01-02T15:04:05Z07:00"), IANA zones through `chrono-tz`,
//! Go's `Duration.String` and `time.ParseDuration`, and Sprig's `now`, `date`,
//! `dateInZone`, `dateModify`, `toDate`, `unixEpoch`, `duration`, `durationRound`, `ago`,
//! `htmlDate`, `htmlDateInZone` (plus the `must*` and snake_case aliases).
//!
//! `Local` is the zone named by `TZ` or `/etc/localtime`, else UTC (as Go resolves it).

use std::sync::{Arc, LazyLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetName, Tz};
use gotemplate::{FuncError, FuncMap, IntKind, Object, Param, Value};

use crate::conv::{parse_int, reg, s, vstr};

use Param::{Any, String as Str};

/// A Go `*time.Location`.
#[derive(Clone, Debug)]
pub enum Zone {
    Utc,
    Local,
    Tz(Tz),
    Fixed { name: String, offset: i32 },
}

/// What `Local` resolves to: (zone, name Go prints for the location).
static LOCAL: LazyLock<Option<Tz>> = LazyLock::new(|| {
    let name = match std::env::var("TZ") {
        Ok(v) => v.trim_start_matches(':').to_string(),
        Err(_) => std::fs::read_link("/etc/localtime")
            .ok()
            .and_then(|p| {
                p.to_str()
                    .and_then(|s| s.split("zoneinfo/").nth(1).map(str::to_string))
            })
            .unwrap_or_default(),
    };
    if name.is_empty() || name == "UTC" {
        return None;
    }
    name.parse::<Tz>().ok()
});

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Zone {
    /// Offset east of UTC in seconds and the abbreviation in effect at `secs`.
    fn lookup(&self, secs: i64) -> (i32, String) {
        let tz_lookup = |tz: &Tz| {
            let utc = DateTime::from_timestamp(secs, 0)
                .unwrap_or_default()
                .naive_utc();
            let off = tz.offset_from_utc_datetime(&utc);
            let fix = off.fix().local_minus_utc();
            let abbr = off
                .abbreviation()
                .map(str::to_string)
                .unwrap_or_else(|| numeric_zone(fix));
            (fix, abbr)
        };
        match self {
            Zone::Utc => (0, "UTC".into()),
            Zone::Local => match LOCAL.as_ref() {
                Some(tz) => tz_lookup(tz),
                None => (0, "UTC".into()),
            },
            Zone::Tz(tz) => tz_lookup(tz),
            Zone::Fixed { name, offset } => (*offset, name.clone()),
        }
    }

    /// `time.LoadLocation`.
    fn load(name: &str) -> Option<Zone> {
        match name {
            "" | "UTC" => Some(Zone::Utc),
            "Local" => Some(Zone::Local),
            n => n.parse::<Tz>().ok().map(Zone::Tz),
        }
    }
}

/// Abbreviations chrono-tz lacks print as Go's tzdata does: "+03", "-0430".
fn numeric_zone(off: i32) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    if a % 3600 == 0 {
        format!("{sign}{:02}", a / 3600)
    } else {
        format!("{sign}{:02}{:02}", a / 3600, a % 3600 / 60)
    }
}

/// A Go `time.Time`.
#[derive(Clone, Debug)]
pub struct GoTime {
    pub secs: i64,
    pub nsec: u32,
    pub zone: Zone,
    /// Monotonic reading (nanoseconds since process start) for `time.Now()` values.
    pub mono: Option<i64>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero Time.
const ZERO_SECS: i64 = -62_135_596_800;

impl GoTime {
    pub fn now() -> GoTime {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        GoTime {
            secs: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
            zone: Zone::Local,
            mono: Some(START.elapsed().as_nanos() as i64 + 1),
        }
    }

    pub fn zero() -> GoTime {
        GoTime {
            secs: ZERO_SECS,
            nsec: 0,
            zone: Zone::Utc,
            mono: None,
        }
    }

    pub fn unix(secs: i64) -> GoTime {
        GoTime {
            secs,
            nsec: 0,
            zone: Zone::Local,
            mono: None,
        }
    }

    fn civil(&self) -> (NaiveDateTime, i32, String) {
        let (off, name) = self.zone.lookup(self.secs);
        let dt = DateTime::from_timestamp(self.secs + off as i64, self.nsec)
            .unwrap_or_default()
            .naive_utc();
        (dt, off, name)
    }

    fn in_zone(&self, zone: Zone) -> GoTime {
        GoTime {
            zone,
            mono: None,
            ..self.clone()
        }
    }

    fn add_nanos(&self, d: i64) -> GoTime {
        let total = self.nsec as i128 + d as i128;
        let secs = self.secs as i128 + total.div_euclid(1_000_000_000);
        GoTime {
            secs: secs as i64,
            nsec: total.rem_euclid(1_000_000_000) as u32,
            zone: self.zone.clone(),
            mono: self.mono.map(|m| m + d),
        }
    }

    /// Nanoseconds since `other` (Go's `Sub`, saturating).
    fn sub(&self, other: &GoTime) -> i64 {
        if let (Some(a), Some(b)) = (self.mono, other.mono) {
            return a.saturating_sub(b);
        }
        let d = (self.secs as i128 - other.secs as i128) * 1_000_000_000 + self.nsec as i128
            - other.nsec as i128;
        d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// Go's `Time.Format`.
    pub fn format(&self, layout: &str) -> String {
        let (dt, off, name) = self.civil();
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(rest);
            out.push_str(prefix);
            let Some(std) = std else { break };
            rest = suffix;
            let year = dt.year();
            match std {
                Std::Year => out.push_str(&format!("{:02}", year.rem_euclid(100))),
                Std::LongYear => out.push_str(&pad(year as i64, 4)),
                Std::Month => out.push_str(&MONTHS[dt.month0() as usize][..3]),
                Std::LongMonth => out.push_str(MONTHS[dt.month0() as usize]),
                Std::NumMonth => out.push_str(&dt.month().to_string()),
                Std::ZeroMonth => out.push_str(&format!("{:02}", dt.month())),
                Std::WeekDay => {
                    out.push_str(&DAYS[dt.weekday().num_days_from_sunday() as usize][..3])
                }
                Std::LongWeekDay => {
                    out.push_str(DAYS[dt.weekday().num_days_from_sunday() as usize])
                }
                Std::Day => out.push_str(&dt.day().to_string()),
                Std::UnderDay => out.push_str(&format!("{:>2}", dt.day())),
                Std::ZeroDay => out.push_str(&format!("{:02}", dt.day())),
                Std::UnderYearDay => out.push_str(&format!("{:>3}", dt.ordinal())),
                Std::ZeroYearDay => out.push_str(&format!("{:03}", dt.ordinal())),
                Std::Hour => out.push_str(&format!("{:02}", dt.hour())),
                Std::Hour12 | Std::ZeroHour12 => {
                    let h = match dt.hour() % 12 {
                        0 => 12,
                        h => h,
                    };
                    out.push_str(&if std == Std::Hour12 {
                        h.to_string()
                    } else {
                        format!("{h:02}")
                    });
                }
                Std::Minute => out.push_str(&dt.minute().to_string()),
                Std::ZeroMinute => out.push_str(&format!("{:02}", dt.minute())),
                Std::Second => out.push_str(&dt.second().to_string()),
                Std::ZeroSecond => out.push_str(&format!("{:02}", dt.second())),
                Std::PM => out.push_str(if dt.hour() >= 12 { "PM" } else { "AM" }),
                Std::Pm => out.push_str(if dt.hour() >= 12 { "pm" } else { "am" }),
                Std::Tz(kind) => {
                    if kind.iso && off == 0 {
                        out.push('Z');
                    } else {
                        let mut zone = off / 60;
                        let mut abs = off;
                        if zone < 0 {
                            out.push('-');
                            zone = -zone;
                            abs = -abs;
                        } else {
                            out.push('+');
                        }
                        out.push_str(&format!("{:02}", zone / 60));
                        if kind.colon {
                            out.push(':');
                        }
                        if !kind.short {
                            out.push_str(&format!("{:02}", zone % 60));
                        }
                        if kind.seconds {
                            if kind.colon {
                                out.push(':');
                            }
                            out.push_str(&format!("{:02}", abs % 60));
                        }
                    }
                }
                Std::TzName => {
                    if !name.is_empty() {
                        out.push_str(&name);
                    } else {
                        let zone = off / 60;
                        let (sign, z) = if zone < 0 { ('-', -zone) } else { ('+', zone) };
                        out.push_str(&format!("{sign}{:02}{:02}", z / 60, z % 60));
                    }
                }
                Std::Frac { sep, digits, nine } => {
                    let frac = format!("{:09}", self.nsec);
                    let mut f = &frac[..digits.min(9)];
                    if nine {
                        f = f.trim_end_matches('0');
                        if !f.is_empty() {
                            out.push(sep);
                            out.push_str(f);
                        }
                    } else {
                        out.push(sep);
                        out.push_str(f);
                    }
                }
            }
        }
        out
    }

    /// Go's `Time.String`.
    pub fn string(&self) -> String {
        let mut s = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let a = m.unsigned_abs();
            s.push_str(&format!(
                " m={sign}{}.{:09}",
                a / 1_000_000_000,
                a % 1_000_000_000
            ));
        }
        s
    }
}

fn pad(v: i64, w: usize) -> String {
    if v < 0 {
        format!("-{:0w$}", -v)
    } else {
        format!("{v:0w$}")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct TzKind {
    iso: bool,
    colon: bool,
    short: bool,
    seconds: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TzName,
    Tz(TzKind),
    Frac {
        sep: char,
        digits: usize,
        nine: bool,
    },
}

fn lower_start(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: (literal prefix, element, rest).
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    let tz = |iso, colon, short, seconds| {
        Std::Tz(TzKind {
            iso,
            colon,
            short,
            seconds,
        })
    };
    for i in 0..b.len() {
        let ret = |n: usize, std: Std| (&layout[..i], Some(std), &layout[i + n..]);
        match b[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return ret(7, Std::LongMonth);
                }
                if !lower_start(&layout[i + 3..]) {
                    return ret(3, Std::Month);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return ret(6, Std::LongWeekDay);
                    }
                    if !lower_start(&layout[i + 3..]) {
                        return ret(3, Std::WeekDay);
                    }
                }
                if at(i, "MST") {
                    return ret(3, Std::TzName);
                }
            }
            b'0' => {
                if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) {
                    let std = [
                        Std::ZeroMonth,
                        Std::ZeroDay,
                        Std::ZeroHour12,
                        Std::ZeroMinute,
                        Std::ZeroSecond,
                        Std::Year,
                    ][(b[i + 1] - b'1') as usize];
                    return ret(2, std);
                }
                if at(i, "002") {
                    return ret(3, Std::ZeroYearDay);
                }
            }
            b'1' => {
                if i + 1 < b.len() && b[i + 1] == b'5' {
                    return ret(2, Std::Hour);
                }
                return ret(1, Std::NumMonth);
            }
            b'2' => {
                if at(i, "2006") {
                    return ret(4, Std::LongYear);
                }
                return ret(1, Std::Day);
            }
            b'_' => {
                if i + 1 < b.len() && b[i + 1] == b'2' {
                    if at(i + 1, "2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return ret(2, Std::UnderDay);
                }
                if at(i, "__2") {
                    return ret(3, Std::UnderYearDay);
                }
            }
            b'3' => return ret(1, Std::Hour12),
            b'4' => return ret(1, Std::Minute),
            b'5' => return ret(1, Std::Second),
            b'P' if at(i, "PM") => return ret(2, Std::PM),
            b'p' if at(i, "pm") => return ret(2, Std::Pm),
            b'-' => {
                if at(i, "-070000") {
                    return ret(7, tz(false, false, false, true));
                }
                if at(i, "-07:00:00") {
                    return ret(9, tz(false, true, false, true));
                }
                if at(i, "-0700") {
                    return ret(5, tz(false, false, false, false));
                }
                if at(i, "-07:00") {
                    return ret(6, tz(false, true, false, false));
                }
                if at(i, "-07") {
                    return ret(3, tz(false, false, true, false));
                }
            }
            b'Z' => {
                if at(i, "Z070000") {
                    return ret(7, tz(true, false, false, true));
                }
                if at(i, "Z07:00:00") {
                    return ret(9, tz(true, true, false, true));
                }
                if at(i, "Z0700") {
                    return ret(5, tz(true, false, false, false));
                }
                if at(i, "Z07:00") {
                    return ret(6, tz(true, true, false, false));
                }
                if at(i, "Z07") {
                    return ret(3, tz(true, false, true, false));
                }
            }
            c @ (b'.' | b',') if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if !(j < b.len() && b[j].is_ascii_digit()) {
                    let std = Std::Frac {
                        sep: c as char,
                        digits: j - (i + 1),
                        nine: ch == b'9',
                    };
                    return (&layout[..i], Some(std), &layout[j..]);
                }
            }
            _ => {}
        }
    }
    (layout, None, "")
}

fn parse_err(layout: &str, value: &str, elem: &str, velem: &str, msg: &str) -> String {
    let q = gotemplate::gofmt::quote;
    if msg.is_empty() {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            q(value),
            q(layout),
            q(velem),
            q(elem)
        )
    } else {
        format!("parsing time {}{msg}", q(value))
    }
}

/// `s[a:b]` for the parser: a cut inside a UTF-8 sequence is a mismatch, not a panic.
fn cut(s: &str, a: usize, b: usize) -> Result<&str, ()> {
    s.get(a..b).ok_or(())
}

fn cutspace(s: &str) -> &str {
    s.trim_start_matches(' ')
}

fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Result<&'a str, ()> {
    while !prefix.is_empty() {
        if prefix.starts_with(' ') {
            if !value.is_empty() && !value.starts_with(' ') {
                return Err(());
            }
            prefix = cutspace(prefix);
            value = cutspace(value);
            continue;
        }
        let (Some(p), Some(v)) = (prefix.chars().next(), value.chars().next()) else {
            return Err(());
        };
        if p != v {
            return Err(());
        }
        prefix = &prefix[p.len_utf8()..];
        value = &value[v.len_utf8()..];
    }
    Ok(value)
}

fn is_digit(s: &str, i: usize) -> bool {
    s.as_bytes().get(i).is_some_and(u8::is_ascii_digit)
}

fn getnum(s: &str, fixed: bool) -> Result<(i64, &str), ()> {
    if !is_digit(s, 0) {
        return Err(());
    }
    if !is_digit(s, 1) {
        if fixed {
            return Err(());
        }
        return Ok(((s.as_bytes()[0] - b'0') as i64, &s[1..]));
    }
    let b = s.as_bytes();
    Ok((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &s[2..]))
}

fn lookup_name<'a>(names: &[&str], short: bool, v: &'a str) -> Result<(usize, &'a str), ()> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if v.get(..n.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(n))
        {
            return Ok((i, &v[n.len()..]));
        }
    }
    Err(())
}

fn parse_nanos(v: &str, n: usize) -> Result<u32, ()> {
    let digits = v.get(1..n).ok_or(())?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let mut d = digits.to_string();
    d.truncate(9);
    while d.len() < 9 {
        d.push('0');
    }
    d.parse::<u32>().map_err(|_| ())
}

fn parse_tz_name(v: &str) -> Option<usize> {
    let b = v.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if v.starts_with("ChST") || v.starts_with("MeST") {
        return Some(4);
    }
    if let Some(rest) = v.strip_prefix("GMT") {
        let sign = rest.as_bytes().first().copied();
        if matches!(sign, Some(b'+') | Some(b'-')) {
            let n = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if n > 0 {
                return Some(3 + 1 + n);
            }
        }
        return Some(3);
    }
    let n = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match n {
        3 => Some(3),
        4 if b[3] == b'T' || v.starts_with("WITA") => Some(4),
        5 if b[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `time.ParseInLocation(layout, value, loc)`.
pub fn parse_in(layout: &str, value: &str, loc: Zone) -> Result<GoTime, String> {
    let (alayout, avalue) = (layout, value);
    let mut layout = layout;
    let mut value = value;
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0u32);
    let (mut pm_set, mut am_set) = (false, false);
    let mut z: Option<Zone> = None;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name = String::new();
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        let stdstr = &layout[prefix.len()..layout.len() - suffix.len()];
        value = skip(value, prefix).map_err(|_| parse_err(alayout, avalue, prefix, value, ""))?;
        let Some(std) = std else {
            if !value.is_empty() {
                return Err(parse_err(
                    alayout,
                    avalue,
                    "",
                    value,
                    &format!(": extra text: {}", gotemplate::gofmt::quote(value)),
                ));
            }
            break;
        };
        layout = suffix;
        let hold = value;
        let mut range_err = "";
        let res: Result<(), ()> = (|| {
            match std {
                Std::Year => {
                    if value.len() < 2 {
                        return Err(());
                    }
                    let p = cut(value, 0, 2)?;
                    let y = p.parse::<i64>().map_err(|_| ())?;
                    value = cut(value, 2, value.len())?;
                    year = if y >= 69 { y + 1900 } else { y + 2000 };
                }
                Std::LongYear => {
                    if value.len() < 4 || !is_digit(value, 0) {
                        return Err(());
                    }
                    year = cut(value, 0, 4)?.parse::<i64>().map_err(|_| ())?;
                    value = cut(value, 4, value.len())?;
                }
                Std::Month | Std::LongMonth => {
                    let (m, r) = lookup_name(&MONTHS, std == Std::Month, value)?;
                    month = m as i64 + 1;
                    value = r;
                }
                Std::NumMonth | Std::ZeroMonth => {
                    let (m, r) = getnum(value, std == Std::ZeroMonth)?;
                    value = r;
                    month = m;
                    if !(1..=12).contains(&m) {
                        range_err = "month";
                    }
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let (_, r) = lookup_name(&DAYS, std == Std::WeekDay, value)?;
                    value = r;
                }
                Std::Day | Std::UnderDay | Std::ZeroDay => {
                    if std == Std::UnderDay && value.starts_with(' ') {
                        value = cut(value, 1, value.len())?;
                    }
                    let (d, r) = getnum(value, std == Std::ZeroDay)?;
                    value = r;
                    day = d;
                }
                Std::UnderYearDay | Std::ZeroYearDay => {
                    let mut v = value;
                    if std == Std::UnderYearDay {
                        v = v.trim_start_matches(' ');
                    }
                    let n = v.bytes().take(3).take_while(u8::is_ascii_digit).count();
                    if n == 0 || (std == Std::ZeroYearDay && n < 3) {
                        return Err(());
                    }
                    yday = v[..n].parse().map_err(|_| ())?;
                    value = &v[n..];
                    if !(1..=366).contains(&yday) {
                        range_err = "day-of-year";
                    }
                }
                Std::Hour => {
                    let (h, r) = getnum(value, false)?;
                    value = r;
                    hour = h;
                    if !(0..24).contains(&h) {
                        range_err = "hour";
                    }
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let (h, r) = getnum(value, std == Std::ZeroHour12)?;
                    value = r;
                    hour = h;
                    if !(0..=12).contains(&h) {
                        range_err = "hour";
                    }
                }
                Std::Minute | Std::ZeroMinute => {
                    let (m, r) = getnum(value, std == Std::ZeroMinute)?;
                    value = r;
                    min = m;
                    if !(0..60).contains(&m) {
                        range_err = "minute";
                    }
                }
                Std::Second | Std::ZeroSecond => {
                    let (s2, r) = getnum(value, std == Std::ZeroSecond)?;
                    value = r;
                    sec = s2;
                    if !(0..60).contains(&s2) {
                        range_err = "second";
                        return Ok(());
                    }
                    let b = value.as_bytes();
                    if b.len() >= 2 && (b[0] == b'.' || b[0] == b',') && b[1].is_ascii_digit() {
                        let (_, next, _) = next_std_chunk(layout);
                        if matches!(next, Some(Std::Frac { .. })) {
                            return Ok(());
                        }
                        let mut n = 2;
                        while n < b.len() && b[n].is_ascii_digit() {
                            n += 1;
                        }
                        nsec = parse_nanos(value, n)?;
                        value = cut(value, n, value.len())?;
                    }
                }
                Std::PM | Std::Pm => {
                    if value.len() < 2 {
                        return Err(());
                    }
                    let p = cut(value, 0, 2)?;
                    let (am, pmv) = if std == Std::PM {
                        ("AM", "PM")
                    } else {
                        ("am", "pm")
                    };
                    if p == pmv {
                        pm_set = true;
                    } else if p == am {
                        am_set = true;
                    } else {
                        return Err(());
                    }
                    value = cut(value, 2, value.len())?;
                }
                Std::Tz(k) => {
                    if k.iso && value.starts_with('Z') {
                        value = cut(value, 1, value.len())?;
                        z = Some(Zone::Utc);
                        return Ok(());
                    }
                    let vb = value.as_bytes();
                    let (sign, h, m, s2, rest);
                    if k.colon && !k.seconds {
                        if vb.len() < 6 || vb[3] != b':' {
                            return Err(());
                        }
                        (sign, h, m, s2, rest) = (
                            cut(value, 0, 1)?,
                            cut(value, 1, 3)?,
                            cut(value, 4, 6)?,
                            "00",
                            cut(value, 6, value.len())?,
                        );
                    } else if k.short {
                        if vb.len() < 3 {
                            return Err(());
                        }
                        (sign, h, m, s2, rest) = (
                            cut(value, 0, 1)?,
                            cut(value, 1, 3)?,
                            "00",
                            "00",
                            cut(value, 3, value.len())?,
                        );
                    } else if k.colon && k.seconds {
                        if vb.len() < 9 || vb[3] != b':' || vb[6] != b':' {
                            return Err(());
                        }
                        (sign, h, m, s2, rest) = (
                            cut(value, 0, 1)?,
                            cut(value, 1, 3)?,
                            cut(value, 4, 6)?,
                            cut(value, 7, 9)?,
                            cut(value, 9, value.len())?,
                        );
                    } else if k.seconds {
                        if vb.len() < 7 {
                            return Err(());
                        }
                        (sign, h, m, s2, rest) = (
                            cut(value, 0, 1)?,
                            cut(value, 1, 3)?,
                            cut(value, 3, 5)?,
                            cut(value, 5, 7)?,
                            cut(value, 7, value.len())?,
                        );
                    } else {
                        if vb.len() < 5 {
                            return Err(());
                        }
                        (sign, h, m, s2, rest) = (
                            cut(value, 0, 1)?,
                            cut(value, 1, 3)?,
                            cut(value, 3, 5)?,
                            "00",
                            cut(value, 5, value.len())?,
                        );
                    }
                    value = rest;
                    let (hr, _) = getnum(h, true)?;
                    let (mm, _) = getnum(m, true)?;
                    let (ss, _) = getnum(s2, true)?;
                    if hr > 24 {
                        range_err = "time zone offset hour";
                    }
                    if mm > 60 {
                        range_err = "time zone offset minute";
                    }
                    if ss > 60 {
                        range_err = "time zone offset second";
                    }
                    let off = ((hr * 60 + mm) * 60 + ss) as i32;
                    zone_offset = Some(match sign {
                        "+" => off,
                        "-" => -off,
                        _ => return Err(()),
                    });
                }
                Std::TzName => {
                    if value.starts_with("UTC") {
                        z = Some(Zone::Utc);
                        value = cut(value, 3, value.len())?;
                        return Ok(());
                    }
                    let n = parse_tz_name(value).ok_or(())?;
                    zone_name = cut(value, 0, n)?.to_string();
                    value = cut(value, n, value.len())?;
                }
                Std::Frac { digits, nine, .. } => {
                    if !nine {
                        let nd = 1 + digits;
                        if value.len() < nd {
                            return Err(());
                        }
                        nsec = parse_nanos(value, nd)?;
                        value = cut(value, nd, value.len())?;
                    } else {
                        let b = value.as_bytes();
                        if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !b[1].is_ascii_digit()
                        {
                            return Ok(());
                        }
                        let mut i = 0;
                        while i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                            i += 1;
                        }
                        nsec = parse_nanos(value, 1 + i)?;
                        value = cut(value, 1 + i, value.len())?;
                    }
                }
            }
            Ok(())
        })();
        if !range_err.is_empty() {
            return Err(parse_err(
                alayout,
                avalue,
                stdstr,
                value,
                &format!(": {range_err} out of range"),
            ));
        }
        if res.is_err() {
            return Err(parse_err(alayout, avalue, stdstr, hold, ""));
        }
    }
    if pm_set && hour < 12 {
        hour += 12;
    } else if am_set && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let leap = NaiveDate::from_ymd_opt(year as i32, 2, 29).is_some();
        if yday == 366 && !leap {
            return Err(parse_err(
                alayout,
                avalue,
                "",
                value,
                ": day-of-year out of range",
            ));
        }
        let d = NaiveDate::from_yo_opt(year as i32, yday as u32)
            .ok_or_else(|| parse_err(alayout, avalue, "", value, ": day-of-year out of range"))?;
        if month >= 0 && month != d.month() as i64 {
            return Err(parse_err(
                alayout,
                avalue,
                "",
                value,
                ": day-of-year does not match month",
            ));
        }
        if day >= 0 && day != d.day() as i64 {
            return Err(parse_err(
                alayout,
                avalue,
                "",
                value,
                ": day-of-year does not match day",
            ));
        }
        month = d.month() as i64;
        day = d.day() as i64;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
        .ok_or_else(|| parse_err(alayout, avalue, "", value, ": day out of range"))?;
    let naive = date
        .and_hms_opt(hour as u32, min as u32, sec as u32)
        .ok_or_else(|| parse_err(alayout, avalue, "", value, ": hour out of range"))?;
    let wall = naive.and_utc().timestamp();
    let mk = |secs: i64, zone: Zone| GoTime {
        secs,
        nsec,
        zone,
        mono: None,
    };
    if let Some(zone) = z {
        return Ok(mk(wall, zone));
    }
    if let Some(off) = zone_offset {
        let t = wall - off as i64;
        let (loff, lname) = loc.lookup(t);
        if loff == off && (zone_name.is_empty() || lname == zone_name) {
            return Ok(mk(t, loc));
        }
        return Ok(mk(
            t,
            Zone::Fixed {
                name: zone_name,
                offset: off,
            },
        ));
    }
    if !zone_name.is_empty() {
        let (loff, lname) = loc.lookup(wall);
        if lname == zone_name {
            return Ok(mk(wall - loff as i64, loc));
        }
        let mut off = 0;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            off = zone_name[3..].parse::<i32>().unwrap_or(0) * 3600;
        }
        return Ok(mk(
            wall - off as i64,
            Zone::Fixed {
                name: zone_name,
                offset: off,
            },
        ));
    }
    // Wall clock in `loc`: find the instant whose local time is `wall`.
    let (off, _) = loc.lookup(wall);
    let mut t = wall - off as i64;
    let (off2, _) = loc.lookup(t);
    if off2 != off {
        t = wall - off2 as i64;
    }
    Ok(mk(t, loc))
}

const NS: u64 = 1;
const US: u64 = 1000 * NS;
const MS: u64 = 1000 * US;
const SEC: u64 = 1000 * MS;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

/// Go's `time.Duration.String`.
pub fn duration_string(d: i64) -> String {
    fn frac(v: u64, prec: usize) -> (String, u64) {
        let mut v = v;
        let mut digits = Vec::new();
        let mut print = false;
        for _ in 0..prec {
            let digit = v % 10;
            print = print || digit != 0;
            if print {
                digits.push((b'0' + digit as u8) as char);
            }
            v /= 10;
        }
        let mut s = String::new();
        if print {
            s.push('.');
            s.extend(digits.iter().rev());
        }
        (s, v)
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out;
    if u < SEC {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < US {
            (0, "ns")
        } else if u < MS {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (f, v) = frac(u, prec);
        out = format!("{v}{f}{unit}");
    } else {
        let (f, v) = frac(u, 9);
        out = format!("{}{f}s", v % 60);
        let m = v / 60;
        if m > 0 {
            out = format!("{}m{out}", m % 60);
            let h = m / 60;
            if h > 0 {
                out = format!("{h}h{out}");
            }
        }
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Go's `time.ParseDuration`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let err = || format!("time: invalid duration {}", gotemplate::gofmt::quote(orig));
    let mut s = s;
    let mut neg = false;
    if let Some(c) = s.chars().next().filter(|c| *c == '-' || *c == '+') {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s.starts_with('.') || is_digit(s, 0)) {
            return Err(err());
        }
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        let pre = n > 0;
        let v: u64 = if n > 0 {
            s[..n].parse().map_err(|_| err())?
        } else {
            0
        };
        s = &s[n..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for c in s[..n].bytes() {
                if overflow {
                    continue;
                }
                if f > (u64::MAX >> 1) / 10 {
                    overflow = true;
                    continue;
                }
                f = f * 10 + (c - b'0') as u64;
                scale *= 10.0;
            }
            post = n > 0;
            s = &s[n..];
        }
        if !pre && !post {
            return Err(err());
        }
        let un = s
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        if un == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                gotemplate::gofmt::quote(orig)
            ));
        }
        let u = &s[..un];
        s = &s[un..];
        let unit = match u {
            "ns" => NS,
            "us" | "µs" | "μs" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => MIN,
            "h" => HOUR,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    gotemplate::gofmt::quote(u),
                    gotemplate::gofmt::quote(orig)
                ));
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(err());
        }
        let mut v = v * unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(err());
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(err());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > (1u64 << 63) - 1 {
        return Err(err());
    }
    Ok(d as i64)
}

/// A Go `time.Duration` (what `Time.Sub` returns): prints as `1h2m3s`, its methods give
/// the count in each unit; Go's JSON (and so `toJson`/`toYaml`) writes the nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct GoDuration(pub i64);

impl Object for GoDuration {
    fn type_name(&self) -> &str {
        "time.Duration"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let d = self.0;
        Some(match name {
            "Hours" => Value::Float(d as f64 / 3.6e12),
            "Minutes" => Value::Float(d as f64 / 6e10),
            "Seconds" => Value::Float(d as f64 / 1e9),
            "Milliseconds" => Value::Int(d / 1_000_000, IntKind::Int64),
            "Microseconds" => Value::Int(d / 1_000, IntKind::Int64),
            "Nanoseconds" => Value::Int(d, IntKind::Int64),
            "Abs" => Value::Object(Arc::new(GoDuration(if d == i64::MIN {
                i64::MAX
            } else {
                d.abs()
            }))),
            "String" => vstr(duration_string(d)),
            _ => return None,
        })
    }
    fn has_method(&self, name: &str) -> bool {
        self.field(name).is_some()
    }
    fn call_method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        self.field(name).map(Ok)
    }
    fn display(&self) -> String {
        duration_string(self.0)
    }
    fn as_int(&self) -> Option<i64> {
        Some(self.0)
    }
    fn to_data(&self) -> Option<Value> {
        Some(Value::Int(self.0, IntKind::Int64))
    }
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let (dt, _, _) = self.civil();
        Some(match name {
            "Unix" => Value::int64(self.secs),
            "UnixMilli" => Value::int64(self.secs * 1000 + (self.nsec / 1_000_000) as i64),
            "UnixNano" => Value::int64(
                self.secs
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(self.nsec as i64),
            ),
            "Year" => Value::int(dt.year() as i64),
            "Month" => vstr(MONTHS[dt.month0() as usize]),
            "Day" => Value::int(dt.day() as i64),
            "Hour" => Value::int(dt.hour() as i64),
            "Minute" => Value::int(dt.minute() as i64),
            "Second" => Value::int(dt.second() as i64),
            "Nanosecond" => Value::int(self.nsec as i64),
            "YearDay" => Value::int(dt.ordinal() as i64),
            "Weekday" => vstr(DAYS[dt.weekday().num_days_from_sunday() as usize]),
            "UTC" => time_value(self.in_zone(Zone::Utc)),
            "Local" => time_value(self.in_zone(Zone::Local)),
            "IsZero" => Value::Bool(self.secs == ZERO_SECS && self.nsec == 0),
            "String" => vstr(self.string()),
            _ => return None,
        })
    }
    fn has_method(&self, name: &str) -> bool {
        self.field(name).is_some()
            || matches!(
                name,
                "Format" | "Add" | "AddDate" | "Before" | "After" | "Equal" | "Sub"
            )
    }
    fn method_params(&self, name: &str) -> Option<(&'static [Param], Option<Param>)> {
        Some(match name {
            "Format" => (&[Param::String], None),
            "Add" => (&[Param::Int64], None),
            "AddDate" => (&[Param::Int, Param::Int, Param::Int], None),
            "Before" | "After" | "Equal" | "Sub" => (&[Param::Any], None),
            _ => return None,
        })
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg_time = |i: usize| -> Result<GoTime, String> {
            as_time(args.get(i).unwrap_or(&Value::Nil))
                .ok_or_else(|| "wrong type for value; expected time.Time".to_string())
        };
        let r = match name {
            "Format" => Ok(vstr(
                self.format(args.first().and_then(Value::as_str).unwrap_or("")),
            )),
            "Add" => Ok(time_value(self.add_nanos(match args.first() {
                Some(Value::Int(n, _)) => *n,
                _ => 0,
            }))),
            "AddDate" => {
                let n = |i: usize| match args.get(i) {
                    Some(Value::Int(n, _)) => *n,
                    _ => 0,
                };
                let (dt, _, _) = self.civil();
                let total_months = dt.year() as i64 * 12 + dt.month0() as i64 + n(0) * 12 + n(1);
                let (y, m) = (total_months.div_euclid(12), total_months.rem_euclid(12) + 1);
                let base = NaiveDate::from_ymd_opt(y as i32, m as u32, 1).unwrap_or_default();
                let date = base + chrono::Duration::days(dt.day() as i64 - 1 + n(2));
                let naive = date.and_time(dt.time());
                let (off, _) = self.zone.lookup(self.secs);
                let secs = naive.and_utc().timestamp() - off as i64;
                Ok(time_value(GoTime {
                    secs,
                    nsec: self.nsec,
                    zone: self.zone.clone(),
                    mono: None,
                }))
            }
            "Before" => arg_time(0).map(|o| Value::Bool((self.secs, self.nsec) < (o.secs, o.nsec))),
            "After" => arg_time(0).map(|o| Value::Bool((self.secs, self.nsec) > (o.secs, o.nsec))),
            "Equal" => arg_time(0).map(|o| Value::Bool((self.secs, self.nsec) == (o.secs, o.nsec))),
            "Sub" => arg_time(0).map(|o| Value::Object(Arc::new(GoDuration(self.sub(&o))))),
            _ => return self.field(name).map(Ok),
        };
        Some(r)
    }
    fn display(&self) -> String {
        self.string()
    }
    fn to_data(&self) -> Option<Value> {
        Some(vstr(self.format("2006-01-02T15:04:05.999999999Z07:00")))
    }
}

pub(crate) fn time_value(t: GoTime) -> Value {
    Value::Object(Arc::new(t))
}

/// A `time.Time` argument, if the value is one.
fn as_time(v: &Value) -> Option<GoTime> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            // Round-trip through the RFC 3339 text and zone name is lossy; use the fields.
            let secs = match o.field("Unix")? {
                Value::Int(n, _) => n,
                _ => return None,
            };
            let nsec = match o.field("Nanosecond")? {
                Value::Int(n, _) => n as u32,
                _ => 0,
            };
            let zone = zone_of(o.as_ref());
            Some(GoTime {
                secs,
                nsec,
                zone,
                mono: None,
            })
        }
        _ => None,
    }
}

/// Recovers the zone of a time object from its formatted offset and name.
fn zone_of(o: &dyn Object) -> Zone {
    let s = o.display();
    // "2006-01-02 15:04:05.999999999 -0700 MST[ m=...]"
    let parts: Vec<&str> = s.split(' ').collect();
    let (off, name) = (
        parts.get(2).copied().unwrap_or("+0000"),
        parts.get(3).copied().unwrap_or("UTC"),
    );
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits = off.trim_start_matches(['+', '-']);
    let h = digits
        .get(..2)
        .and_then(|x| x.parse::<i32>().ok())
        .unwrap_or(0);
    let m = digits
        .get(2..4)
        .and_then(|x| x.parse::<i32>().ok())
        .unwrap_or(0);
    let offset = sign * (h * 3600 + m * 60);
    if name == "UTC" && offset == 0 {
        Zone::Utc
    } else {
        Zone::Fixed {
            name: name.to_string(),
            offset,
        }
    }
}

fn time_arg(v: &Value) -> Result<GoTime, FuncError> {
    as_time(v).ok_or_else(|| {
        FuncError(format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        ))
    })
}

/// Sprig's `dateInZone` input rule: a time, or Unix seconds as int/int64/int32; anything
/// else means now.
fn date_input(v: &Value) -> GoTime {
    if let Some(t) = as_time(v) {
        return t;
    }
    match v {
        Value::Int(n, IntKind::Int | IntKind::Int64 | IntKind::Int32) => GoTime::unix(*n),
        _ => GoTime::now(),
    }
}

fn date_in_zone(layout: &str, v: &Value, zone: &str) -> String {
    let t = date_input(v);
    t.in_zone(Zone::load(zone).unwrap_or(Zone::Utc))
        .format(layout)
}

fn duration_round(v: &Value) -> String {
    let d: i64 = match v {
        Value::String(s) => parse_duration(s).unwrap_or(0),
        Value::Int(n, IntKind::Int64) => *n,
        Value::Object(_) => as_time(v).map(|t| GoTime::now().sub(&t)).unwrap_or(0),
        _ => 0,
    };
    let u = d.unsigned_abs();
    let (year, month, day) = (HOUR * 24 * 365, HOUR * 24 * 30, HOUR * 24);
    if u > year {
        format!("{}y", u / year)
    } else if u > month {
        format!("{}mo", u / month)
    } else if u > day {
        format!("{}d", u / day)
    } else if u > HOUR {
        format!("{}h", u / HOUR)
    } else if u > MIN {
        format!("{}m", u / MIN)
    } else if u > SEC {
        format!("{}s", u / SEC)
    } else {
        "0s".into()
    }
}

/// Go's `Duration.Round(time.Second)`.
fn round_second(d: i64) -> i64 {
    let m = SEC as i64;
    let r = d % m;
    if d < 0 {
        let r = -r;
        if r + r < m {
            d + r
        } else {
            d.saturating_sub(m - r)
        }
    } else if r + r < m {
        d - r
    } else {
        d.saturating_add(m - r)
    }
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "now", &[], None, |_| Ok(time_value(GoTime::now())));
    reg(m, "ago", &[Any], None, |a| {
        let t = match &a[0] {
            Value::Int(n, IntKind::Int | IntKind::Int64) => GoTime::unix(*n),
            v => as_time(v).unwrap_or_else(GoTime::now),
        };
        Ok(vstr(duration_string(round_second(GoTime::now().sub(&t)))))
    });
    reg(m, "date", &[Str, Any], None, |a| {
        Ok(vstr(date_in_zone(s(&a[0]), &a[1], "Local")))
    });
    for name in ["dateInZone", "date_in_zone"] {
        reg(m, name, &[Str, Any, Str], None, |a| {
            Ok(vstr(date_in_zone(s(&a[0]), &a[1], s(&a[2]))))
        });
    }
    reg(m, "htmlDate", &[Any], None, |a| {
        Ok(vstr(date_in_zone("2006-01-02", &a[0], "Local")))
    });
    reg(m, "htmlDateInZone", &[Any, Str], None, |a| {
        Ok(vstr(date_in_zone("2006-01-02", &a[0], s(&a[1]))))
    });
    for name in ["dateModify", "date_modify"] {
        reg(m, name, &[Str, Any], None, |a| {
            let t = time_arg(&a[1])?;
            Ok(time_value(match parse_duration(s(&a[0])) {
                Ok(d) => t.add_nanos(d),
                Err(_) => t,
            }))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        reg(m, name, &[Str, Any], None, |a| {
            let t = time_arg(&a[1])?;
            let d = parse_duration(s(&a[0])).map_err(FuncError)?;
            Ok(time_value(t.add_nanos(d)))
        });
    }
    reg(m, "duration", &[Any], None, |a| {
        let n: i64 = match &a[0] {
            Value::String(s) => parse_int(s, 10).unwrap_or(0),
            Value::Int(n, IntKind::Int64) => *n,
            _ => 0,
        };
        Ok(vstr(duration_string(n.wrapping_mul(SEC as i64))))
    });
    reg(m, "durationRound", &[Any], None, |a| {
        Ok(vstr(duration_round(&a[0])))
    });
    reg(m, "toDate", &[Str, Str], None, |a| {
        Ok(time_value(
            parse_in(s(&a[0]), s(&a[1]), Zone::Local).unwrap_or_else(|_| GoTime::zero()),
        ))
    });
    reg(m, "mustToDate", &[Str, Str], None, |a| {
        parse_in(s(&a[0]), s(&a[1]), Zone::Local)
            .map(time_value)
            .map_err(FuncError)
    });
    reg(m, "unixEpoch", &[Any], None, |a| {
        Ok(vstr(time_arg(&a[0])?.secs.to_string()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(secs: i64, nsec: u32) -> GoTime {
        GoTime {
            secs,
            nsec,
            zone: Zone::Utc,
            mono: None,
        }
    }

    // helm-template:
    // {{ dateInZone "Mon Jan _2 15:04:05.000 MST 2006 pm PM -07:00 Z07:00 .999 002 06 1/2 3:4:5" 1700000000 "America/New_York" }}
    #[test]
    fn format_matches_go() {
        let t = GoTime {
            secs: 1_700_000_000,
            nsec: 0,
            zone: Zone::Tz("America/New_York".parse().unwrap()),
            mono: None,
        };
        assert_eq!(
            t.format("Mon Jan _2 15:04:05.000 MST 2006 pm PM -07:00 Z07:00 .999 002 06 1/2 3:4:5"),
            "Tue Nov 14 17:13:20.000 EST 2023 pm PM -05:00 -05:00  318 23 11/14 5:13:20"
        );
        let z = utc(1_700_000_000, 120_000_000);
        assert_eq!(
            z.format("2006-01-02T15:04:05.999999999Z07:00"),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(GoTime::zero().string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    // helm-template: {{ toDate "2006-01-02" "2023-11-14" }} etc. (see the chart in the comment
    // of `durations_match_go`).
    #[test]
    fn parse_matches_go() {
        let t = parse_in("2006-01-02", "2023-11-14", Zone::Utc).unwrap();
        assert_eq!(t.secs, 1_699_920_000);
        let t = parse_in(
            "2006-01-02T15:04:05Z07:00",
            "2023-11-14T10:00:00+02:00",
            Zone::Utc,
        )
        .unwrap();
        assert_eq!(t.secs, 1_699_948_800);
        assert_eq!(t.string(), "2023-11-14 10:00:00 +0200 +0200");
        assert_eq!(
            parse_in("2006-01-02", "2023-1-14", Zone::Utc).unwrap_err(),
            r#"parsing time "2023-1-14" as "2006-01-02": cannot parse "1-14" as "01""#
        );
        assert_eq!(
            parse_in("2006-01-02", "2023-02-30", Zone::Utc).unwrap_err(),
            r#"parsing time "2023-02-30": day out of range"#
        );
        assert_eq!(
            parse_in("2006-01-02", "2023-02-03x", Zone::Utc).unwrap_err(),
            r#"parsing time "2023-02-03x": extra text: "x""#
        );
    }

    // helm-template: `{{ now }}` → e.g. "2026-11-27 13:58:52.629877229 +0000 UTC m=+0.086256515"
    #[test]
    fn now_prints_like_go() {
        let s = GoTime::now().in_zone(Zone::Utc).string();
        let re =
            regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC$").unwrap();
        assert!(re.is_match(&s), "{s}");
        let mono = GoTime::now().string();
        assert!(
            regex::Regex::new(r" m=\+\d+\.\d{9}$")
                .unwrap()
                .is_match(&mono),
            "{mono}"
        );
    }

    #[test]
    fn durations_match_go() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(90 * SEC as i64), "1m30s");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(-(HOUR as i64) - 1), "-1h0m0.000000001s");
        assert_eq!(parse_duration("1h2m3.5s").unwrap(), 3_723_500_000_000);
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            parse_duration("1").unwrap_err(),
            r#"time: missing unit in duration "1""#
        );
        assert_eq!(
            parse_duration("x").unwrap_err(),
            r#"time: invalid duration "x""#
        );
        assert_eq!(duration_round(&Value::str("3h2m")), "3h");
        assert_eq!(duration_round(&Value::int(3600)), "0s");
    }
}
