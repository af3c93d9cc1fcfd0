//! # helm
//!
//! Helm's semantics on top of [`gotemplate`]: loading charts (directories and `.tgz`),
//! dependencies, values coalescing and `--set` parsing, the built-in objects, Helm's
//! template functions, and rendering to manifests in Helm's order.
//!
//! Chart files are bytes and so are Go strings: `.Files`, `--set-file` and every template's
//! output keep them ([`gotemplate::Value::ByteStr`] where they are not UTF-8); a rendered
//! manifest, values file or `Chart.yaml` that is not UTF-8 fails as go-yaml's reader does
//! (`yaml::reader_error`). `PARITY.md` lists what matches Helm.
//!
//! May call: `gotemplate`, `sprig`, `goyaml` (Go's YAML and JSON, re-exported as
//! [`yaml`], [`yaml_emit`], [`json`]). Pure apart from reading chart files.

pub mod chart;
pub mod funcs;
pub mod glob;
pub mod ignore;
pub mod manifest;
pub mod name_template;
pub mod objects;
pub mod render;
pub mod schema;
pub mod semver;
pub mod strvals;
pub mod toml;
pub mod values;

/// Go's encodings, from the `goyaml` crate (kept at their old paths).
pub use goyaml::{json, yaml, yaml_emit};

pub use chart::{Chart, LoadError};
pub use funcs::{LookupFn, LookupHook};
pub use render::{Engine, OutputOptions, RenderError, RenderOptions, Rendered};
pub use values::ValueOptions;

/// Helm's `strings.ReplaceAll(out, "<no value>", "")` on a template's output bytes; most
/// outputs have none, so look before copying.
pub(crate) fn replace_no_value(out: Vec<u8>) -> Vec<u8> {
    const NO_VALUE: &[u8] = b"<no value>";
    let finder = memchr::memmem::Finder::new(NO_VALUE);
    if finder.find(&out).is_none() {
        return out;
    }
    let mut res = Vec::with_capacity(out.len());
    let mut last = 0;
    for at in finder.find_iter(&out) {
        res.extend_from_slice(&out[last..at]);
        last = at + NO_VALUE.len();
    }
    res.extend_from_slice(&out[last..]);
    res
}

/// File bytes as text, invalid UTF-8 replaced as Go's string conversions print it. Valid text
/// (nearly always) is borrowed after the standard library's fast validation; only invalid
/// input pays for the slower replacing scan.
pub(crate) fn utf8_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf8_lossy_borrows_valid_text_and_replaces_invalid_bytes() {
        let valid = "ä: 1\n".as_bytes();
        assert!(matches!(
            super::utf8_lossy(valid),
            std::borrow::Cow::Borrowed("ä: 1\n")
        ));
        assert_eq!(super::utf8_lossy(b"a\xffb"), "a\u{fffd}b");
    }
}
