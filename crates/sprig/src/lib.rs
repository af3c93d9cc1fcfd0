//! # sprig
//!
//! The Sprig function library (v3.3, as vendored by Helm v3.17) for [`gotemplate`]:
//! strings, lists, dicts, math, defaults, conversions, encodings, crypto, semver,
//! regex, dates, UUIDs, paths, URLs, network and flow control.
//!
//! [`funcs`] returns Helm's view of it: `sprig.TxtFuncMap()` without `env` and
//! `expandenv`. Every function declares its Go signature so the executor converts and
//! checks arguments as Go's reflect call does; results keep Go's types (`int64` from
//! `add`, `[]string` from `splitList`, `map[string]string` from `split`).
//!
//! Tested against real Helm 3.17.2: `tests/golden/cases.txt` (156 template lines, each
//! compared byte for byte, errors included, with `tests/golden/expected.txt` produced by
//! `tests/golden/regen.sh`), plus unit tests per module whose expected values come from Helm.
//!
//! ## Known divergences from Helm (value model or scope)
//! - A map that contains itself prints as `map[<cycle>]` and `deepCopy` cuts it off after
//!   `gotemplate::MAX_DEPTH` levels; Go recurses until its stack overflows.
//! - A nil map argument arrives as a fresh empty map: `set nil "a" 1` returns `{"a":1}`
//!   where Go fails with "assignment to entry in nil map", and `unset nil "a" | toJson`
//!   gives `{}` where Go gives `null`.
//! - `until`/`untilStep` return `[]interface {}` of ints where Go has `[]int` (only `typeOf`
//!   shows it); `semver` `.Major`/`.Minor`/`.Patch` are `int64`, Go's are `uint64`.
//! - Go strings are bytes, and so are ours where Go treats them as bytes: `b64*`/`b32*`,
//!   the hashes, `trunc`, `substr`, `indent`, `replace`, `repeat`, `trim*`, `contains`,
//!   `has*`, `quote`, `squote`, `cat`, `join`, `toString`, `sortAlpha`, the dict functions'
//!   keys and `toJson` keep a binary string's bytes (registered with `with_bytes`); the other
//!   functions taking a `string` see each invalid byte as U+FFFD, which is what Go's rune-wise
//!   code (`upper`, `title`, `wrap`...) produces too, but not what byte-wise ones not listed
//!   (`trimAll`, `split`, `regex*`) would.
//! - `rest`/`initial` of an empty list give an empty list where Go gives a nil
//!   slice (same when printed, `null` vs `[]` in `toJson`).
//! - `keys`/`values` are in sorted key order (Go's order is random).
//! - EC keys given to the `*WithKey` functions must be P-256 (Go also takes P-224/384/521).
//! - `Local` time is the zone named by `TZ` or `/etc/localtime`, else UTC.
//! - Results above 256 MiB or elements (`repeat`, `indent`, `until`, random strings, ...)
//!   fail with an error; Go would try to allocate them and crash.
//! - `regex*`: Go patterns are translated to the `regex` crate; `\Q...\E` and octal
//!   escapes are not supported; rare parse errors word their reason differently.
//!
//! May call: `gotemplate` (its value model and `fmt`). Helm adds its own functions on top.

mod conv;
mod crypto;
pub mod date;
mod defaults;
mod dicts;
mod fermat;
mod json;
mod lists;
mod math;
mod paths;
mod random;
mod regex;
pub mod semver;
mod strings;

use gotemplate::FuncMap;

/// True if Go's `regexp.Compile` accepts `pattern` (RE2 syntax: no lookaround, no
/// backreferences), as Helm's schema validator requires of `pattern` keywords.
pub fn go_regexp_compiles(pattern: &str) -> bool {
    regex::compile(pattern).is_ok()
}

/// Every Sprig function Helm v3.17 exposes.
pub fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    strings::register(&mut m);
    lists::register(&mut m);
    dicts::register(&mut m);
    math::register(&mut m);
    defaults::register(&mut m);
    regex::register(&mut m);
    paths::register(&mut m);
    semver::register(&mut m);
    date::register(&mut m);
    crypto::register(&mut m);
    random::register(&mut m);
    m
}

#[cfg(test)]
mod tests {
    /// The names Helm v3.17.2 defines from Sprig. Checked against real Helm: every name
    /// below parses in a template (`{{ if false }}{{ NAME }}{{ end }}`), and `env`,
    /// `expandenv`, `abs`, `randSeededNumeric` give `function "..." not defined`.
    const HELM_SPRIG_NAMES: &str = include_str!("../tests/helm_sprig_names.txt");

    #[test]
    fn registers_exactly_helms_sprig_functions() {
        let m = super::funcs();
        let mut have: Vec<&str> = m.names().collect();
        have.sort();
        let mut want: Vec<&str> = HELM_SPRIG_NAMES.split_whitespace().collect();
        want.sort();
        assert_eq!(have, want);
    }
}
