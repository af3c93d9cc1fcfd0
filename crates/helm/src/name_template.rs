//! Helm's `--name-template`: a release name rendered from a Go template with Sprig's
//! functions and no data (`helm install/template --name-template 'web-{{ randAlpha 4 | lower }}'`).
//!
//! May call: `gotemplate`, `sprig`.

use gotemplate::{ExecOptions, TemplateSet, Value};

/// Renders `text` as Helm's `TemplateName` does: the template is named `name-template`, dot
/// is nil, and a missing value prints `<no value>`. The error is the template's own message.
pub fn render(text: &str) -> Result<String, String> {
    let mut set = TemplateSet::with_root_name(sprig::funcs(), "name-template");
    set.parse("name-template", text)
        .map_err(|e| e.to_string())?;
    set.execute("name-template", &Value::Nil, &ExecOptions::default())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_sprig_and_reports_parse_errors() {
        assert_eq!(render(r#"web-{{ "X" | lower }}"#).as_deref(), Ok("web-x"));
        assert_eq!(render("{{ randAlpha 5 }}").map(|s| s.len()), Ok(5));
        let err = render("{{ nope }}").unwrap_err();
        assert!(err.contains(r#"function "nope" not defined"#), "{err}");
    }
}
