//! `values.schema.json` validation for a chart and each of its subcharts, reporting
//! every violation in the wording Helm 3.17 prints (gojsonschema's messages:
//! `- image.tag: Invalid type. Expected: string, given: integer`), grouped under
//! `chartname:` headers.

mod formats;

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

/// gojsonschema's canonical text of an item for `uniqueItems` (its `marshalWithoutNumber`:
/// JSON with sorted keys, numbers compared by value).
fn unique_key(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) => format!("{f:?}"),
            None => n.to_string(),
        },
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(unique_key).collect();
            format!("[{}]", items.join(","))
        }
        serde_json::Value::Object(m) => {
            let mut items: Vec<(String, String)> =
                m.iter().map(|(k, v)| (k.clone(), unique_key(v))).collect();
            items.sort();
            let items: Vec<String> = items
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        other => other.to_string(),
    }
}

/// gojsonschema's `uniqueItems` errors: one per item equal to an earlier one, naming the
/// index of the last earlier equal item and its own (`array items[0,2] must be unique`).
fn unique_items_errors(instance: &serde_json::Value) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (j, item) in instance.as_array().into_iter().flatten().enumerate() {
        let key = unique_key(item);
        if let Some(i) = seen.get(&key) {
            out.push(format!("array items[{i},{j}] must be unique"));
        }
        seen.insert(key, j);
    }
    if out.is_empty() {
        out.push("array items must be unique".into());
    }
    out
}

/// The schema node at a validator's schema path, following local `$ref`s on the way.
fn schema_at<'a>(root: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut node = root;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg == "$ref"
            && let Some(r) = node.get("$ref").and_then(|r| r.as_str())
            && let Some(p) = r.strip_prefix('#')
        {
            node = root.pointer(p)?;
            continue;
        }
        node = match node {
            serde_json::Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => node.get(seg.as_str())?,
        };
    }
    Some(node)
}

fn describe(
    e: &jsonschema::ValidationError<'_>,
    field: &str,
    schema: &serde_json::Value,
) -> Vec<String> {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let given = json_type(&e.instance);
    match &e.kind {
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => {
                    // gojsonschema lists the types in the schema's order.
                    let written: Option<Vec<String>> = schema_at(schema, e.schema_path.as_str())
                        .and_then(|t| t.as_array())
                        .and_then(|a| a.iter().map(|t| t.as_str().map(str::to_string)).collect());
                    let v: Vec<String> =
                        written.unwrap_or_else(|| ts.iter().map(|t| t.to_string()).collect());
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
        K::Pattern { pattern } => {
            // The pattern as the schema writes it (the validator reports its own rewrite).
            let written = schema_at(schema, e.schema_path.as_str())
                .and_then(|p| p.as_str())
                .unwrap_or(pattern);
            vec![format!("Does not match pattern '{written}'")]
        }
        K::MinItems { limit } => vec![format!("Array must have at least {limit} items")],
        K::MaxItems { limit } => vec![format!("Array must have at most {limit} items")],
        K::MinProperties { limit } => vec![format!("Must have at least {limit} properties")],
        K::MaxProperties { limit } => vec![format!("Must have at most {limit} properties")],
        K::UniqueItems => unique_items_errors(&e.instance),
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

type VError = jsonschema::ValidationError<'static>;

/// Joins a field prefix (from an enclosing `contains` item) and a field.
fn join_field(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field == "(root)") {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// The errors of the alternative gojsonschema reports after a failed `anyOf`/`oneOf`/
/// `contains`: its "best" result. gojsonschema scores results by checks passed; the fewest
/// errors (the first on a tie) picks the same alternative in the cases that matter.
fn best<T>(alternatives: &[Vec<T>]) -> Option<&Vec<T>> {
    alternatives
        .iter()
        .filter(|a| !a.is_empty())
        .min_by_key(|a| a.len())
}

/// How many levels of the instance a schema path (below a keyword) descends.
fn instance_depth(schema_rest: &[&str]) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while i < schema_rest.len() {
        match schema_rest[i] {
            "properties" | "patternProperties" | "items" if i + 1 < schema_rest.len() => {
                depth += 1;
                i += 2;
                continue;
            }
            "items" | "additionalProperties" | "additionalItems" => depth += 1,
            _ => {}
        }
        i += 1;
    }
    depth
}

/// For an error found under an `allOf`, `then` or `else` keyword: (the keyword's schema
/// location, the keyword, the instance field it applies to).
fn wrapper_of(e: &VError) -> Option<(String, &'static str, String)> {
    let sp = e.schema_path.as_str().to_string();
    let segs: Vec<&str> = sp.trim_start_matches('/').split('/').collect();
    // The innermost wrapping keyword wins (errors are grouped one level at a time).
    let (pos, kw) = segs.iter().enumerate().rev().find_map(|(i, s)| match *s {
        "allOf" => Some((i, "allOf")),
        "then" => Some((i, "then")),
        "else" => Some((i, "else")),
        _ => None,
    })?;
    let rest_start = if kw == "allOf" { pos + 2 } else { pos + 1 };
    let rest = segs.get(rest_start..).unwrap_or(&[]);
    let depth = instance_depth(rest);
    let ip = e.instance_path.as_str();
    let mut fields: Vec<&str> = ip.trim_start_matches('/').split('/').collect();
    if ip.is_empty() || ip == "/" {
        fields.clear();
    }
    fields.truncate(fields.len().saturating_sub(depth));
    let field = if fields.is_empty() {
        "(root)".to_string()
    } else {
        field_of(&format!("/{}", fields.join("/")))
    };
    let location = segs[..=pos].join("/");
    Some((location, kw, field))
}

/// gojsonschema's lines for a list of errors: each error's own lines, with the `allOf`
/// summary after the errors of its subschemas and the `then`/`else` one before them.
fn render_errors(
    errors: &[&VError],
    prefix: &str,
    schema: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) {
    let mut i = 0;
    while i < errors.len() {
        let Some((loc, kw, field)) = wrapper_of(errors[i]) else {
            error_lines(errors[i], prefix, schema, out);
            i += 1;
            continue;
        };
        // The run of errors under the same keyword.
        let mut j = i;
        while j < errors.len() && wrapper_of(errors[j]).is_some_and(|(l, _, _)| l == loc) {
            j += 1;
        }
        let field = join_field(prefix, &field);
        match kw {
            "then" => out.push((
                field.clone(),
                "Must validate \"then\" as \"if\" was valid".into(),
            )),
            "else" => out.push((
                field.clone(),
                "Must validate \"else\" as \"if\" was not valid".into(),
            )),
            _ => {}
        }
        for e in &errors[i..j] {
            error_lines(e, prefix, schema, out);
        }
        if kw == "allOf" {
            out.push((field, "Must validate all the schemas (allOf)".into()));
        }
        i = j;
    }
}

/// One error's lines, composite keywords followed by the errors gojsonschema merges in.
fn error_lines(
    e: &VError,
    prefix: &str,
    schema: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) {
    use jsonschema::error::ValidationErrorKind as K;
    let field = join_field(prefix, &field_of(e.instance_path.as_str()));
    match &e.kind {
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            let msg = if matches!(e.kind, K::AnyOf { .. }) {
                "Must validate at least one schema (anyOf)"
            } else {
                "Must validate one and only one schema (oneOf)"
            };
            out.push((field, msg.into()));
            if let Some(alt) = best(context) {
                let refs: Vec<&VError> = alt.iter().collect();
                render_errors(&refs, prefix, schema, out);
            }
        }
        K::AdditionalItems { .. } => {
            out.push((field, "No additional items allowed on array".into()));
        }
        K::Contains => {
            out.push((field.clone(), "At least one of the items must match".into()));
            // The item errors of the best item, validated against the `contains` subschema.
            let sub = schema.pointer(e.schema_path.as_str());
            let items = e.instance.as_array();
            if let (Some(sub), Some(items)) = (sub, items)
                && let Ok(v) = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft7)
                    .build(sub)
            {
                let per_item: Vec<Vec<VError>> = items
                    .iter()
                    .map(|item| v.iter_errors(item).map(|e| e.to_owned()).collect())
                    .collect();
                if let Some((idx, errs)) = per_item
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| !e.is_empty())
                    .min_by_key(|(_, e)| e.len())
                {
                    let refs: Vec<&VError> = errs.iter().collect();
                    render_errors(&refs, &format!("{field}.{idx}"), sub, out);
                }
            }
        }
        K::PropertyNames { error } => {
            let name = error
                .instance
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.instance.to_string());
            out.push((
                field.clone(),
                format!("Property name of {name:?} does not match"),
            ));
            for d in describe(error, &field, schema) {
                out.push((field.clone(), d));
            }
        }
        K::Required { property }
            if e.schema_path
                .as_str()
                .split('/')
                .any(|s| s == "dependencies") =>
        {
            let p = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            out.push((field, format!("Has a dependency on {p}")));
        }
        _ => {
            for d in describe(e, &field, schema) {
                out.push((field.clone(), d));
            }
        }
    }
}

/// The JSON Schema draft gojsonschema reads a schema with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Draft {
    Four,
    Six,
    Seven,
    /// No (or an unknown) `$schema`: keywords of every draft, in either form.
    Hybrid,
}

/// Rewrites one schema object (and its subschemas) of `draft` into draft-07 terms, as
/// gojsonschema reads it: draft-04's boolean `exclusiveMinimum`/`exclusiveMaximum` become
/// the numeric bound (and are type errors under draft-06/07), and keywords a draft does not
/// have are dropped (draft-04: `const`, `contains`, `propertyNames`, `if`/`then`/`else`;
/// draft-06: `if`/`then`/`else`). Errors are gojsonschema's schema-loading messages.
fn to_draft7(schema: &mut serde_json::Value, draft: Draft) -> Result<(), String> {
    let Some(obj) = schema.as_object_mut() else {
        return Ok(());
    };
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        let Some(x) = obj.get(exclusive).cloned() else {
            continue;
        };
        let invalid =
            |expected: &str| format!("Invalid type. Expected: {expected}, given: {exclusive}");
        match (draft, &x) {
            (Draft::Four | Draft::Hybrid, serde_json::Value::Bool(b)) => {
                let Some(limit) = obj.get(bound).filter(|v| v.is_number()).cloned() else {
                    return Err(format!("{exclusive} cannot be used without {bound}"));
                };
                obj.shift_remove(exclusive);
                if *b {
                    obj.shift_remove(bound);
                    obj.insert(exclusive.to_string(), limit);
                }
            }
            (Draft::Four, _) => return Err(invalid("boolean")),
            (_, serde_json::Value::Number(_)) => {}
            _ => return Err(invalid("number")),
        }
    }
    let dropped: &[&str] = match draft {
        Draft::Four => &["const", "contains", "propertyNames", "if", "then", "else"],
        Draft::Six => &["if", "then", "else"],
        _ => &[],
    };
    for k in dropped {
        obj.shift_remove(*k);
    }
    if let Some(m) = obj.get("patternProperties").and_then(|m| m.as_object())
        && let Some(bad) = m.keys().find(|k| !sprig::go_regexp_compiles(k))
    {
        return Err(format!("Invalid regex pattern '{bad}'"));
    }
    if let Some(p) = obj.get("pattern").and_then(|p| p.as_str())
        && !sprig::go_regexp_compiles(p)
    {
        return Err("pattern must be a valid regex".into());
    }
    for (k, child) in obj.iter_mut() {
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" | "dependencies" => {
                if let Some(m) = child.as_object_mut() {
                    for sub in m.values_mut() {
                        to_draft7(sub, draft)?;
                    }
                }
            }
            "items" | "allOf" | "anyOf" | "oneOf" if child.is_array() => {
                for sub in child.as_array_mut().into_iter().flatten() {
                    to_draft7(sub, draft)?;
                }
            }
            "items"
            | "additionalItems"
            | "additionalProperties"
            | "not"
            | "contains"
            | "propertyNames"
            | "if"
            | "then"
            | "else" => to_draft7(child, draft)?,
            _ => {}
        }
    }
    Ok(())
}

/// Validate one chart's values against its schema; each violation as `- field: text`.
pub fn validate_single(values: &Map, schema: &[u8]) -> Result<(), String> {
    // gojsonschema reads the schema with Go's json.Decoder: its error texts, and only
    // the first JSON value counts.
    let text = crate::utf8_lossy(schema);
    crate::json::decode_first(&text)?;
    let mut schema: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .next()
        .unwrap_or(Ok(serde_json::Value::Null))
        .map_err(|e| e.to_string())?;
    if !(schema.is_object() || schema.is_boolean()) {
        return Err("schema is invalid".into());
    }
    // gojsonschema picks the draft from a `$schema` naming draft-04, -06 or -07 (http,
    // with or without `#`); any other (or none) is its hybrid mode. The schema is rewritten
    // into draft-07 terms and validated with draft-07 rules.
    let draft = match schema.get("$schema").and_then(|v| v.as_str()) {
        Some(uri) => match uri.trim_end_matches('#') {
            "http://json-schema.org/draft-04/schema" => Draft::Four,
            "http://json-schema.org/draft-06/schema" => Draft::Six,
            "http://json-schema.org/draft-07/schema" => Draft::Seven,
            _ => Draft::Hybrid,
        },
        None => Draft::Hybrid,
    };
    if let Some(obj) = schema.as_object_mut() {
        obj.shift_remove("$schema");
    }
    to_draft7(&mut schema, draft)?;
    let validator = formats::register(jsonschema::options())
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .map_err(|e| e.to_string())?;
    let instance = crate::json::to_serde(&Value::map(values.clone()));
    let errors: Vec<VError> = validator
        .iter_errors(&instance)
        .map(|e| e.to_owned())
        .collect();
    // gojsonschema stops at a type mismatch: nothing else is reported for that value.
    let type_failed: Vec<String> = errors
        .iter()
        .filter(|e| matches!(e.kind, jsonschema::error::ValidationErrorKind::Type { .. }))
        .map(|e| e.instance_path.as_str().to_string())
        .collect();
    let kept: Vec<&VError> = errors
        .iter()
        .filter(|e| {
            let path = e.instance_path.as_str();
            matches!(e.kind, jsonschema::error::ValidationErrorKind::Type { .. })
                || !type_failed
                    .iter()
                    .any(|p| path == p || path.starts_with(&format!("{p}/")))
        })
        .collect();
    let mut lines = Vec::new();
    render_errors(&kept, "", &schema, &mut lines);
    let mut out = String::new();
    for (field, text) in lines {
        out.push_str(&format!("- {field}: {text}\n"));
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
