//! Host objects that are Go maps underneath (Helm's `.Files.Glob` result is an
//! `engine.files`, a `map[string][]byte`): `range`, `index`, `len` and truth tests
//! treat them as maps, sorted by key. The expected texts follow what real Helm
//! v3.17.2 printed for the same templates over `.Files.Glob` (oracle case
//! testdata/template-cases/helm-files/glob-index-len-if).

use std::sync::Arc;

use gotemplate::{ExecOptions, FuncMap, Map, Object, TemplateSet, Value};

/// A `map[string][]byte` named type.
#[derive(Debug)]
struct Files(Vec<(&'static str, &'static [u8])>);

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn display(&self) -> String {
        "files".into()
    }
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        let mut e: Vec<(String, Value)> = self
            .0
            .iter()
            .map(|(k, v)| (k.to_string(), Value::Bytes(Arc::from(*v))))
            .collect();
        e.sort_by(|a, b| a.0.cmp(&b.0));
        Some(e)
    }
    fn map_zero(&self) -> Value {
        Value::Bytes(Arc::from(&[][..]))
    }
}

/// A struct-like object: not a map.
#[derive(Debug)]
struct Plain;

impl Object for Plain {
    fn type_name(&self) -> &str {
        "main.Plain"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn display(&self) -> String {
        "{}".into()
    }
}

fn render(text: &str) -> Result<String, String> {
    let mut set = TemplateSet::new(FuncMap::new());
    set.parse("t", text).map_err(|e| e.to_string())?;
    let mut data = Map::new();
    data.insert(
        "some".into(),
        Value::Object(Arc::new(Files(vec![("x/b.txt", b"B"), ("x/a.txt", b"A")]))),
    );
    data.insert("none".into(), Value::Object(Arc::new(Files(vec![]))));
    data.insert("plain".into(), Value::Object(Arc::new(Plain)));
    set.execute("t", &Value::map(data), &ExecOptions::default())
        .map_err(|e| e.to_string())
}

#[test]
fn range_yields_sorted_keys_and_byte_values() {
    assert_eq!(
        render("{{ range $k, $v := .some }}{{ $k }}={{ printf \"%s\" $v }};{{ end }}").unwrap(),
        "x/a.txt=A;x/b.txt=B;"
    );
    assert_eq!(
        render("{{ range .some }}{{ . }};{{ end }}").unwrap(),
        "[65];[66];"
    );
    assert_eq!(
        render("{{ range .none }}x{{ else }}empty{{ end }}").unwrap(),
        "empty"
    );
}

#[test]
fn len_index_and_truth_see_a_map() {
    assert_eq!(
        render("{{ len .some }} {{ len .none }} {{ if .some }}some{{ end }}{{ if not .none }} none{{ end }}")
            .unwrap(),
        "2 0 some none"
    );
    assert_eq!(
        render("{{ index .some \"x/b.txt\" }} [{{ index .some \"missing\" }}]").unwrap(),
        "[66] [[]]"
    );
    assert_eq!(
        render("{{ index .some 1 }}").unwrap_err(),
        "template: t:1:3: executing \"t\" at <index .some 1>: error calling index: value has type int; should be string"
    );
}

#[test]
fn a_struct_like_object_is_still_not_a_map() {
    assert!(render("{{ if .plain }}true{{ end }}").unwrap() == "true");
    let err = render("{{ range .plain }}{{ end }}").unwrap_err();
    assert!(err.contains("range can't iterate over {}"), "{err}");
    let err = render("{{ len .plain }}").unwrap_err();
    assert!(err.contains("len of type main.Plain"), "{err}");
}
