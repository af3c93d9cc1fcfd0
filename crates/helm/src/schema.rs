//! `values.schema.json` validation for a chart and each of its subcharts, reporting
//! every violation in the wording Helm 3.17 prints (gojsonschema's messages:
//! `- image.tag: Invalid type. Expected: string, given: integer`), grouped under
//! `chartname:` headers.

use gotemplate::{Map, Value};

use crate::chart::Chart;

fn field_of(pointer: &str) -> String {
    if pointer.is_empty() || pointer == "/" {
        return "(root)".into();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) => {
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                "integer"
            } else {
                "number"
            }
        }
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn describe(e: &jsonschema::ValidationError<'_>, field: &str) -> Vec<String> {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let given = json_type(&e.instance);
    match &e.kind {
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => {
                    let v: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                    format!("[{}]", v.join(","))
                }
            };
            vec![format!(
                "Invalid type. Expected: {expected}, given: {given}"
            )]
        }
        K::Required { property } => {
            vec![format!(
                "{} is required",
                property
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| property.to_string())
            )]
        }
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|p| format!("Additional property {p} is not allowed"))
            .collect(),
        K::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(|x| x.to_string()).collect())
                .unwrap_or_else(|| vec![options.to_string()]);
            vec![format!(
                "{field} must be one of the following: {}",
                allowed.join(", ")
            )]
        }
        K::Constant { expected_value } => vec![format!("{field} does not match: {expected_value}")],
        K::Minimum { limit } => vec![format!("Must be greater than or equal to {limit}")],
        K::ExclusiveMinimum { limit } => vec![format!("Must be greater than {limit}")],
        K::Maximum { limit } => vec![format!("Must be less than or equal to {limit}")],
        K::ExclusiveMaximum { limit } => vec![format!("Must be less than {limit}")],
        K::MinLength { limit } => vec![format!(
            "String length must be greater than or equal to {limit}"
        )],
        K::MaxLength { limit } => vec![format!(
            "String length must be less than or equal to {limit}"
        )],
        K::Pattern { pattern } => vec![format!("Does not match pattern '{pattern}'")],
        K::MinItems { limit } => vec![format!("Array must have at least {limit} items")],
        K::MaxItems { limit } => vec![format!("Array must have at most {limit} items")],
        K::MinProperties { limit } => vec![format!("Must have at least {limit} properties")],
        K::MaxProperties { limit } => vec![format!("Must have at most {limit} properties")],
        K::UniqueItems => vec!["array items must be unique".into()],
        K::AnyOf { .. } => vec!["Must validate at least one schema (anyOf)".into()],
        K::OneOfNotValid { .. } | K::OneOfMultipleValid { .. } => {
            vec!["Must validate one and only one schema (oneOf)".into()]
        }
        K::Not { .. } => vec!["Must not validate the schema (not)".into()],
        K::Format { format } => vec![format!("Does not match format '{format}'")],
        K::MultipleOf { multiple_of } => vec![format!("Must be a multiple of {multiple_of}")],
        K::FalseSchema => vec!["False always fails validation".into()],
        _ => vec![e.to_string()],
    }
}

/// Validate one chart's values against its schema; each violation as `- field: text`.
pub fn validate_single(values: &Map, schema: &[u8]) -> Result<(), String> {
    let mut schema: serde_json::Value =
        serde_json::from_slice(schema).map_err(|e| e.to_string())?;
    // gojsonschema reads any `$schema` (even unknown URIs) with draft-07 rules.
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
    }
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .map_err(|e| e.to_string())?;
    let instance = crate::json::to_serde(&Value::map(values.clone()));
    let errors: Vec<_> = validator.iter_errors(&instance).collect();
    // gojsonschema stops at a type mismatch: nothing else is reported for that value.
    let type_failed: Vec<String> = errors
        .iter()
        .filter(|e| matches!(e.kind, jsonschema::error::ValidationErrorKind::Type { .. }))
        .map(|e| e.instance_path.as_str().to_string())
        .collect();
    let mut out = String::new();
    for e in &errors {
        let path = e.instance_path.as_str();
        let is_type = matches!(e.kind, jsonschema::error::ValidationErrorKind::Type { .. });
        if !is_type
            && type_failed
                .iter()
                .any(|p| path == p || path.starts_with(&format!("{p}/")))
        {
            continue;
        }
        let field = field_of(path);
        for d in describe(e, &field) {
            out.push_str(&format!("- {field}: {d}\n"));
        }
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// Helm's `ValidateAgainstSchema`: the chart, then each subchart with its values.
/// Empty means valid.
pub fn validate_chart(c: &Chart, values: &Map) -> String {
    let mut sb = String::new();
    if let Some(schema) = &c.schema
        && let Err(e) = validate_single(values, schema)
    {
        sb.push_str(&format!("{}:\n{e}", c.name()));
    }
    for sub in &c.dependencies {
        let sv = values
            .get(sub.name())
            .and_then(Value::as_map)
            .map(gotemplate::MapRef::snapshot)
            .unwrap_or_default();
        sb.push_str(&validate_chart(sub, &sv));
    }
    sb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gojsonschema_wording() {
        let schema = br#"{"type":"object","required":["name"],"properties":{"policy":{"type":"string"},"num":{"type":"integer","minimum":2},"e":{"enum":["a","b"]}},"additionalProperties":false}"#;
        let values = crate::yaml::parse_map("policy: null\nnum: 1\ne: c\nx: 1\n").unwrap();
        let e = validate_single(&values, schema).unwrap_err();
        assert!(
            e.contains("- policy: Invalid type. Expected: string, given: null\n"),
            "{e}"
        );
        assert!(e.contains("- (root): name is required\n"), "{e}");
        assert!(
            e.contains("- num: Must be greater than or equal to 2\n"),
            "{e}"
        );
        assert!(
            e.contains("- e: e must be one of the following: \"a\", \"b\"\n"),
            "{e}"
        );
        assert!(
            e.contains("- (root): Additional property x is not allowed\n"),
            "{e}"
        );
    }
}
