//! Kubernetes resource quantities (`500m`, `1.5`, `128Mi`, `2G`, `1e3`) as exact milli-units,
//! with the canonical printing of `resource.Quantity.String()`: the largest suffix of the
//! quantity's own format (binary `Ki`…`Ei` or decimal `k`…`E`) that represents it exactly,
//! `m` for fractions. Admission (quota, LimitRange) compares and prints them.

use std::cmp::Ordering;
use std::fmt;

/// Which family of suffixes a quantity is printed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinarySi,
    DecimalSi,
}

/// A quantity in thousandths of its unit (millicores, millibytes).
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    pub milli: i128,
    pub format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.milli == other.milli
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.milli.cmp(&other.milli)
    }
}

const BINARY: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];
const DECIMAL: [(&str, u32); 6] = [
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

impl Quantity {
    /// Zero, printed in decimal.
    pub fn zero() -> Quantity {
        Quantity {
            milli: 0,
            format: Format::DecimalSi,
        }
    }

    /// A whole count (`pods=3`).
    pub fn count(n: i64) -> Quantity {
        Quantity {
            milli: i128::from(n) * 1000,
            format: Format::DecimalSi,
        }
    }

    /// Parse a quantity as the API server accepts it; `None` if malformed.
    pub fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let (neg, body) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let split = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (num, suffix) = body.split_at(split);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        // value = digits / 10^frac_len, scaled by 1000 for milli-units.
        let digits: i128 = format!("{int_part}{frac_part}").parse().ok()?;
        let frac_len = frac_part.len() as u32;
        // Multiply by 2^bin * 10^dec_exp, then divide by 10^frac_len; milli adds 10^3.
        let (bin, mut dec_exp, format): (u32, i32, Format) = match suffix {
            "" => (0, 0, Format::DecimalSi),
            "m" => (0, -3, Format::DecimalSi),
            s if s.starts_with(['e', 'E']) && s.len() > 1 => {
                let e: i32 = s[1..].parse().ok()?;
                (0, e, Format::DecimalSi)
            }
            s => {
                if let Some((_, b)) = BINARY.iter().find(|(n, _)| *n == s) {
                    (*b, 0, Format::BinarySi)
                } else if let Some((_, d)) = DECIMAL.iter().find(|(n, _)| *n == s) {
                    (0, *d as i32, Format::DecimalSi)
                } else {
                    return None;
                }
            }
        };
        dec_exp += 3 - frac_len as i32;
        let mut v = digits.checked_mul(1i128.checked_shl(bin)?)?;
        if dec_exp >= 0 {
            v = v.checked_mul(10i128.checked_pow(dec_exp as u32)?)?;
        } else {
            // Round up what is finer than a milli-unit, as the API server does.
            let d = 10i128.checked_pow((-dec_exp) as u32)?;
            v = (v + d - 1) / d;
        }
        Some(Quantity {
            milli: if neg { -v } else { v },
            format,
        })
    }

    /// Parse a JSON value (string or number).
    pub fn from_json(v: &serde_json::Value) -> Option<Quantity> {
        match v {
            serde_json::Value::String(s) => Quantity::parse(s),
            serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => None,
        }
    }
}

/// The sum, printed in the left quantity's format (or the right's when the left is zero).
impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity {
            milli: self.milli + other.milli,
            format: if self.milli == 0 {
                other.format
            } else {
                self.format
            },
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.milli;
        if m == 0 {
            return write!(f, "0");
        }
        if m % 1000 != 0 {
            return write!(f, "{m}m");
        }
        let n = m / 1000;
        if self.format == Format::BinarySi {
            for (name, b) in BINARY.iter().rev() {
                let unit = 1i128 << b;
                if n % unit == 0 {
                    return write!(f, "{}{name}", n / unit);
                }
            }
            // Below 1Ki or not a multiple of it: decimal, as Go prints it.
        }
        for (name, d) in DECIMAL.iter().rev() {
            let unit = 10i128.pow(*d);
            if n % unit == 0 {
                return write!(f, "{}{name}", n / unit);
            }
        }
        write!(f, "{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).expect("valid quantity")
    }

    #[test]
    fn parses_and_prints_canonically() {
        assert_eq!(q("500m").milli, 500);
        assert_eq!(q("1.5").milli, 1500);
        assert_eq!(q("0.1").milli, 100);
        assert_eq!(q("128Mi").milli, 128 * 1024 * 1024 * 1000);
        assert_eq!(q("1e3").milli, 1_000_000);
        assert_eq!(q("2k").milli, 2_000_000);
        assert_eq!(q("1500m").to_string(), "1500m");
        assert_eq!(q("2000m").to_string(), "2");
        assert_eq!(q("1024Mi").to_string(), "1Gi");
        assert_eq!(q("1536Mi").to_string(), "1536Mi");
        assert_eq!(q("1000M").to_string(), "1G");
        assert_eq!(q("1").to_string(), "1");
        assert!(Quantity::parse("abc").is_none());
        assert!(Quantity::parse("1Xi").is_none());
        assert!(q("1Gi") > q("1G"));
        assert_eq!((q("200m") + q("300m")).to_string(), "500m");
        assert_eq!((Quantity::zero() + q("1Gi")).to_string(), "1Gi");
    }
}
