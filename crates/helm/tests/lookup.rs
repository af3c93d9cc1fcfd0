//! `lookup` answers an empty map without a hook (what `helm template` does: byte-identical
//! output), and what [`helm::LookupHook`] answers when [`RenderOptions::lookup`] carries one:
//! an object by name, a list without a name, an empty map for a missing object.

use std::sync::{Arc, Mutex};

use helm::chart::{File, load_files};
use helm::{Engine, LookupHook, RenderOptions};

fn chart() -> helm::Chart {
    let file = |name: &str, text: &str| File {
        name: name.into(),
        data: text.as_bytes().into(),
    };
    load_files(
        vec![
            file("Chart.yaml", "apiVersion: v2\nname: lk\nversion: 0.1.0\n"),
            file(
                "templates/cm.yaml",
                r#"{{- $s := lookup "v1" "Secret" .Release.Namespace "db" }}
{{- $all := lookup "v1" "ConfigMap" "" "" }}
{{- $none := lookup "v1" "Secret" "x" "missing" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: lk
data:
  found: {{ if $s }}"yes"{{ else }}"no"{{ end }}
  password: {{ dig "data" "password" "" $s | quote }}
  replicas: {{ dig "spec" "replicas" 0 $s | printf "%T" | quote }}
  items: {{ len (default (list) $all.items) | quote }}
  missing: {{ len $none | quote }}
"#,
            ),
        ],
        0,
    )
    .expect("chart loads")
}

fn render(opts: &RenderOptions) -> String {
    Engine::new()
        .render(&chart(), &gotemplate::Map::new(), opts)
        .expect("renders")
        .manifests
        .iter()
        .map(|m| m.content.clone())
        .collect()
}

#[test]
fn without_a_hook_lookup_is_empty_as_in_helm_template() {
    let out = render(&RenderOptions::default());
    assert!(out.contains("found: \"no\""), "{out}");
    assert!(out.contains("password: \"\""), "{out}");
    assert!(out.contains("items: \"0\""), "{out}");
    assert!(out.contains("missing: \"0\""), "{out}");
}

#[test]
fn a_hook_answers_objects_and_lists() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let hook = LookupHook::new(move |api, kind, ns, name| {
        seen.lock()
            .expect("not poisoned")
            .push(format!("{api}/{kind}/{ns}/{name}"));
        match (kind, name) {
            ("Secret", "db") => Some(serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "namespace": ns},
                "data": {"password": "cGFzcw=="},
                "spec": {"replicas": 3}
            })),
            ("ConfigMap", "") => Some(serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {},
                "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
            })),
            _ => None,
        }
    });
    let opts = RenderOptions {
        namespace: "apps".into(),
        lookup: Some(hook),
        ..RenderOptions::default()
    };
    let out = render(&opts);
    assert!(out.contains("found: \"yes\""), "{out}");
    assert!(out.contains("password: \"cGFzcw==\""), "{out}");
    // Integers arrive as Kubernetes' unstructured decoding gives them: int64.
    assert!(out.contains("replicas: \"int64\""), "{out}");
    assert!(out.contains("items: \"2\""), "{out}");
    assert!(out.contains("missing: \"0\""), "{out}");
    assert_eq!(
        *calls.lock().expect("not poisoned"),
        ["v1/Secret/apps/db", "v1/ConfigMap//", "v1/Secret/x/missing"]
    );
    // The hook is per render: the next render without one is offline again.
    let out = render(&RenderOptions::default());
    assert!(out.contains("found: \"no\""), "{out}");
}
