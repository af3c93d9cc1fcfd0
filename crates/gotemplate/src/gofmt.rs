//! Go's `fmt` package as templates observe it: `fmt.Sprint` (how `{{ . }}` prints a value)
//! and `fmt.Sprintf` with Go's verbs, flags, width, precision and its `%!verb(type=value)`
//! mistakes.

use crate::value::Value;

/// `fmt.Sprint(v)` for one value: what `{{ v }}` writes and what `%v` prints.
pub fn sprint(v: &Value) -> String {
    // Initial version; replaced by the full implementation.
    match v {
        Value::Nil => "<nil>".into(),
        Value::String(s) => s.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i, _) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// `fmt.Sprint(args...)`: operands are separated by a space when neither side is a string.
pub fn sprint_args(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::String(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&sprint(a));
    }
    out
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    // Initial version; replaced by the full implementation.
    let _ = args;
    format.to_string()
}
