//! Random strings (`randAlphaNum`, `randAlpha`, `randNumeric`, `randAscii`) drawn from a
//! cryptographic generator like goutils' `CryptoRandom*`; a negative length gives "" as
//! in Sprig (the error is dropped).

use gotemplate::{FuncMap, Param};
use rand::RngExt;

use crate::conv::{check_size, i, reg, vstr};

const DIGITS: &[u8] = b"0123456789";
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_from(count: i64, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..count.max(0))
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A random string, or an error when `count` is over the result limit.
fn checked(
    count: i64,
    make: impl Fn(i64) -> String,
) -> Result<gotemplate::Value, gotemplate::FuncError> {
    check_size("random string", count.max(0) as u128)?;
    Ok(vstr(make(count)))
}

/// Printable ASCII, codes 32 to 126.
fn random_ascii(count: i64) -> String {
    let mut rng = rand::rng();
    (0..count.max(0))
        .map(|_| rng.random_range(32u8..127) as char)
        .collect()
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "randAlphaNum", &[Param::Int], None, |a| {
        checked(i(&a[0]), |n| random_from(n, ALNUM))
    });
    reg(m, "randAlpha", &[Param::Int], None, |a| {
        checked(i(&a[0]), |n| random_from(n, LETTERS))
    });
    reg(m, "randNumeric", &[Param::Int], None, |a| {
        checked(i(&a[0]), |n| random_from(n, DIGITS))
    });
    reg(m, "randAscii", &[Param::Int], None, |a| {
        checked(i(&a[0]), random_ascii)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // helm-template: `{{ randAlphaNum 20 | len }}` → 20, `{{ randNumeric -1 }}` → "" (shape only).
    #[test]
    fn lengths_and_alphabets() {
        let s = random_from(200, ALNUM);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(random_from(100, DIGITS).bytes().all(|c| c.is_ascii_digit()));
        assert!(
            random_from(100, LETTERS)
                .bytes()
                .all(|c| c.is_ascii_alphabetic())
        );
        assert!(random_ascii(300).bytes().all(|c| (32..127).contains(&c)));
        assert_eq!(random_from(-1, DIGITS), "");
        assert_ne!(random_from(32, ALNUM), random_from(32, ALNUM));
    }
}
