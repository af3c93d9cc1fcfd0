//! Object metadata rules: name validation (DNS subdomain / label / 1035 label as each kind
//! requires), timestamps, `generateName`, and the generation rule (bumped when anything other
//! than metadata and status changes).

use serde_json::Value;

/// RFC 3339 UTC timestamp with seconds, as Kubernetes writes `metav1.Time`.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Microsecond timestamp (`metav1.MicroTime`).
pub fn now_micro() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Validate an object name for a kind; returns the error message if invalid.
pub fn validate_name(kind: &str, name: &str, custom: bool) -> Option<String> {
    if name.is_empty() {
        return Some("name or generateName is required".into());
    }
    match kind {
        "Namespace" => (!is_dns_label(name, 63)).then(|| {
            format!("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') (invalid value {name:?})")
        }),
        "Service" => {
            let ok = is_dns_label(name, 63) && name.as_bytes()[0].is_ascii_lowercase();
            (!ok).then(|| format!("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?') (invalid value {name:?})"))
        }
        // RBAC names are path segments: anything without '/' or '%', not '.' or '..'.
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" if !custom => {
            (name == "." || name == ".." || name.contains('/') || name.contains('%'))
                .then(|| format!("may not contain '/' or '%' (invalid value {name:?})"))
        }
        _ => {
            let ok = name.len() <= 253 && name.split('.').all(|l| is_dns_label(l, 63));
            (!ok).then(|| format!("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') (invalid value {name:?})"))
        }
    }
}

/// A random 5-character suffix for `generateName`, from Kubernetes' alphabet.
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Whether two objects differ outside metadata and status (the generation rule).
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Vec<(String, Value)> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut a = strip(old);
    let mut b = strip(new);
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    a != b
}

/// Label-map validation (keys and values) as `metadata.labels` requires.
pub fn validate_labels(obj: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(labels) = obj.get("metadata").and_then(|m| m.get("labels")) {
        let Some(map) = labels.as_object() else {
            out.push(("metadata.labels".into(), "must be a map of strings".into()));
            return out;
        };
        for (k, v) in map {
            let Some(s) = v.as_str() else {
                out.push((format!("metadata.labels.{k}"), "must be a string".into()));
                continue;
            };
            let okv = s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && (s.is_empty()
                    || (s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())));
            if !okv {
                out.push((
                    "metadata.labels".into(),
                    format!("Invalid value: {s:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                ));
            }
            let name = k.rsplit('/').next().unwrap_or(k);
            let okk = !name.is_empty()
                && name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !okk {
                out.push(("metadata.labels".into(), format!("Invalid value: {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.'")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("ConfigMap", "a.b-c", false).is_none());
        assert!(validate_name("ConfigMap", "Bad_Name", false).is_some());
        assert!(validate_name("Namespace", "a.b", false).is_some());
        assert!(validate_name("Service", "1abc", false).is_some());
        assert!(validate_name("ClusterRole", "system:admin", false).is_none());
    }
}
