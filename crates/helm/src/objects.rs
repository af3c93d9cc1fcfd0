//! The built-in objects templates see, as [`gotemplate::Object`]s with Helm's field
//! and method names: `.Chart` (capitalised `Chart.yaml` fields plus `IsRoot`),
//! `.Capabilities` (`KubeVersion`, `APIVersions.Has`, `HelmVersion`) and `.Files`
//! (`Get`, `GetBytes`, `Glob`, `Lines`, `AsConfig`, `AsSecrets`). `.Release` and
//! `.Template` are plain maps in Helm and are built in `render`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotemplate::{Map, Object, Value};

use crate::chart::{Dependency, Maintainer, Metadata};

/// Helm's version as `.Capabilities.HelmVersion` reports it (v3.17.2).
pub const HELM_VERSION: &str = "v3.17.2";
const HELM_GIT_COMMIT: &str = "cc0bbbd6d6276b83880042c1ecb34087e84d41eb";
const HELM_GO_VERSION: &str = "go1.23.7";
/// Kubernetes version `helm template` assumes without `--kube-version`.
pub const DEFAULT_KUBE_VERSION: &str = "v1.32.0";
/// The API versions `helm template` assumes (from real Helm 3.17.2's `DefaultVersionSet`).
pub const DEFAULT_API_VERSIONS: &str = include_str!("default_api_versions.txt");

fn s(v: &str) -> Value {
    Value::str(v)
}

fn string_list(v: &[String]) -> Value {
    Value::string_list(v.iter().map(|x| s(x)).collect())
}

/// `.Chart`: `chart.Metadata` embedded in a struct with `IsRoot`.
#[derive(Debug)]
pub struct ChartObject {
    pub metadata: Metadata,
    pub is_root: bool,
}

/// Keeps the `(json name, value)` pairs whose value is not empty (`omitempty`).
fn omit_empty(fields: Vec<(&str, Value)>) -> Vec<(String, Value)> {
    fields
        .into_iter()
        .filter(|(_, v)| match v {
            Value::String(x) => !x.is_empty(),
            Value::Bool(b) => *b,
            Value::List(l, _) => !l.is_empty(),
            Value::Map(m, _) => !m.is_empty(),
            Value::Nil => false,
            _ => true,
        })
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// An element of `.Chart.Maintainers` (`*chart.Maintainer`).
#[derive(Debug)]
struct MaintainerObject(Maintainer);

impl Object for MaintainerObject {
    fn type_name(&self) -> &str {
        "*chart.Maintainer"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Name" => s(&self.0.name),
            "Email" => s(&self.0.email),
            "URL" => s(&self.0.url),
            _ => return None,
        })
    }
    fn display(&self) -> String {
        format!("&{{{} {} {}}}", self.0.name, self.0.email, self.0.url)
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(omit_empty(vec![
            ("name", s(&self.0.name)),
            ("email", s(&self.0.email)),
            ("url", s(&self.0.url)),
        ]))
    }
}

/// An element of `.Chart.Dependencies` (`*chart.Dependency`).
#[derive(Debug)]
struct DependencyObject(Dependency);

impl Object for DependencyObject {
    fn type_name(&self) -> &str {
        "*chart.Dependency"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let d = &self.0;
        Some(match name {
            "Name" => s(&d.name),
            "Version" => s(&d.version),
            "Repository" => s(&d.repository),
            "Condition" => s(&d.condition),
            "Tags" => string_list(&d.tags),
            "Enabled" => Value::Bool(d.enabled),
            "ImportValues" => Value::list(d.import_values.clone()),
            "Alias" => s(&d.alias),
            _ => return None,
        })
    }
    fn display(&self) -> String {
        format!(
            "&{{{} {} {}}}",
            self.0.name, self.0.version, self.0.repository
        )
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        let d = &self.0;
        // `name` and `repository` have no omitempty.
        let mut out = vec![("name".to_string(), s(&d.name))];
        out.extend(omit_empty(vec![("version", s(&d.version))]));
        out.push(("repository".to_string(), s(&d.repository)));
        out.extend(omit_empty(vec![
            ("condition", s(&d.condition)),
            ("tags", string_list(&d.tags)),
            ("enabled", Value::Bool(d.enabled)),
            ("import-values", Value::list(d.import_values.clone())),
            ("alias", s(&d.alias)),
        ]));
        Some(out)
    }
}

fn maintainer_list(m: &Metadata) -> Value {
    Value::list(
        m.maintainers
            .iter()
            .map(|x| Value::Object(Arc::new(MaintainerObject(x.clone()))))
            .collect(),
    )
}

fn dependency_list(m: &Metadata) -> Value {
    Value::list(
        m.dependencies
            .iter()
            .map(|d| Value::Object(Arc::new(DependencyObject(d.clone()))))
            .collect(),
    )
}

/// The `chart.Metadata` value embedded in `.Chart` (reachable as `.Chart.Metadata`).
#[derive(Debug)]
struct MetadataObject(Metadata);

/// A field of `chart.Metadata` by its Go name.
fn metadata_field(m: &Metadata, name: &str) -> Option<Value> {
    Some(match name {
        "Name" => s(&m.name),
        "Home" => s(&m.home),
        "Sources" => string_list(&m.sources),
        "Version" => s(&m.version),
        "Description" => s(&m.description),
        "Keywords" => string_list(&m.keywords),
        "Maintainers" => maintainer_list(m),
        "Icon" => s(&m.icon),
        "APIVersion" => s(&m.api_version),
        "Condition" => s(&m.condition),
        "Tags" => s(&m.tags),
        "AppVersion" => s(&m.app_version),
        "Deprecated" => Value::Bool(m.deprecated),
        "Annotations" => Value::string_map(
            m.annotations
                .iter()
                .map(|(k, v)| (k.clone(), s(v)))
                .collect(),
        ),
        "KubeVersion" => s(&m.kube_version),
        "Dependencies" => dependency_list(m),
        "Type" => s(&m.chart_type),
        _ => return None,
    })
}

/// encoding/json of `chart.Metadata` (json tags, all omitempty), in declaration order.
fn metadata_json(m: &Metadata) -> Vec<(String, Value)> {
    omit_empty(vec![
        ("name", s(&m.name)),
        ("home", s(&m.home)),
        ("sources", string_list(&m.sources)),
        ("version", s(&m.version)),
        ("description", s(&m.description)),
        ("keywords", string_list(&m.keywords)),
        ("maintainers", maintainer_list(m)),
        ("icon", s(&m.icon)),
        ("apiVersion", s(&m.api_version)),
        ("condition", s(&m.condition)),
        ("tags", s(&m.tags)),
        ("appVersion", s(&m.app_version)),
        ("deprecated", Value::Bool(m.deprecated)),
        (
            "annotations",
            Value::string_map(
                m.annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v)))
                    .collect(),
            ),
        ),
        ("kubeVersion", s(&m.kube_version)),
        ("dependencies", dependency_list(m)),
        ("type", s(&m.chart_type)),
    ])
}

/// `fmt`'s `%v` of a `chart.Metadata` struct: its fields in declaration order, space
/// separated; slices of pointers print as addresses (never reproducible, as in Go).
fn metadata_display(m: &Metadata) -> String {
    fn strs(v: &[String]) -> String {
        format!("[{}]", v.join(" "))
    }
    fn pointers(n: usize) -> String {
        let p: Vec<String> = (0..n)
            .map(|i| format!("{:#x}", 0xc000_0400_0000usize + i * 0x40))
            .collect();
        format!("[{}]", p.join(" "))
    }
    let annotations: Vec<String> = m
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    format!(
        "{{{} {} {} {} {} {} {} {} {} {} {} {} {} map[{}] {} {} {}}}",
        m.name,
        m.home,
        strs(&m.sources),
        m.version,
        m.description,
        strs(&m.keywords),
        pointers(m.maintainers.len()),
        m.icon,
        m.api_version,
        m.condition,
        m.tags,
        m.app_version,
        m.deprecated,
        annotations.join(" "),
        m.kube_version,
        pointers(m.dependencies.len()),
        m.chart_type,
    )
}

impl Object for MetadataObject {
    fn type_name(&self) -> &str {
        "chart.Metadata"
    }
    fn field(&self, name: &str) -> Option<Value> {
        metadata_field(&self.0, name)
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Validate"
    }
    fn call_method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Validate").then_some(Ok(Value::Nil))
    }
    fn display(&self) -> String {
        metadata_display(&self.0)
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(metadata_json(&self.0))
    }
}

impl Object for ChartObject {
    fn type_name(&self) -> &str {
        "struct { chart.Metadata; IsRoot bool }"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "IsRoot" => Some(Value::Bool(self.is_root)),
            "Metadata" => Some(Value::Object(Arc::new(MetadataObject(
                self.metadata.clone(),
            )))),
            _ => metadata_field(&self.metadata, name),
        }
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Validate"
    }
    fn call_method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Validate").then_some(Ok(Value::Nil))
    }
    fn display(&self) -> String {
        format!("{{{} {}}}", metadata_display(&self.metadata), self.is_root)
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        // encoding/json of the embedded Metadata (its fields inline) plus IsRoot.
        let mut out = metadata_json(&self.metadata);
        out.push(("IsRoot".into(), Value::Bool(self.is_root)));
        Some(out)
    }
}

/// `.Capabilities.KubeVersion`.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// Helm's `ParseKubeVersion` (`1.29` → `v1.29.0`).
    pub fn parse(v: &str) -> Result<KubeVersion, String> {
        let parsed = crate::semver::Version::parse(v)
            .map_err(|e| format!("invalid kube version '{v}': {e}"))?;
        let mut version = format!("v{}.{}.{}", parsed.major, parsed.minor, parsed.patch);
        if !parsed.pre.is_empty() {
            version.push('-');
            version.push_str(&parsed.pre);
        }
        // Masterminds' String() keeps the build metadata (`v1.30.1+k3s1`).
        if let Some((_, meta)) = v.split_once('+') {
            version.push('+');
            version.push_str(meta);
        }
        Ok(KubeVersion {
            version,
            major: parsed.major.to_string(),
            minor: parsed.minor.to_string(),
        })
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "chartutil.KubeVersion"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Version" | "GitVersion" | "String" => s(&self.version),
            "Major" => s(&self.major),
            "Minor" => s(&self.minor),
            _ => return None,
        })
    }
    fn display(&self) -> String {
        self.version.clone()
    }
    /// `String()` has a pointer receiver: a copy prints as the bare struct.
    fn display_copy(&self) -> String {
        format!("{{{} {} {}}}", self.version, self.major, self.minor)
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        // No json tags: Go's field names, in declaration order.
        Some(vec![
            ("Version".into(), s(&self.version)),
            ("Major".into(), s(&self.major)),
            ("Minor".into(), s(&self.minor)),
        ])
    }
}

/// `.Capabilities.APIVersions` (`chartutil.VersionSet`).
#[derive(Debug, Clone)]
pub struct ApiVersions(pub Vec<String>);

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }
    fn method_params(
        &self,
        name: &str,
    ) -> Option<(
        &'static [gotemplate::func::Param],
        Option<gotemplate::func::Param>,
    )> {
        (name == "Has").then_some((&[gotemplate::func::Param::String][..], None))
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Has" {
            return None;
        }
        if args.len() != 1 {
            return Some(Err(format!(
                "wrong number of args for Has: want 1 got {}",
                args.len()
            )));
        }
        let Some(want) = args[0].as_str() else {
            return Some(Err(format!(
                "wrong type for value; expected string; got {}",
                args[0].type_name()
            )));
        };
        Some(Ok(Value::Bool(self.0.iter().any(|v| v == want))))
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn to_data(&self) -> Option<Value> {
        Some(string_list(&self.0))
    }
    fn list_items(&self) -> Option<Value> {
        Some(string_list(&self.0))
    }
}

/// `.Capabilities.HelmVersion` (`version.BuildInfo`).
#[derive(Debug, Clone)]
pub struct HelmVersion;

impl Object for HelmVersion {
    fn type_name(&self) -> &str {
        "version.BuildInfo"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Version" => s(HELM_VERSION),
            "GitCommit" => s(HELM_GIT_COMMIT),
            "GitTreeState" => s("clean"),
            "GoVersion" => s(HELM_GO_VERSION),
            _ => return None,
        })
    }
    fn display(&self) -> String {
        format!("{{{HELM_VERSION} {HELM_GIT_COMMIT} clean {HELM_GO_VERSION}}}")
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("version".into(), s(HELM_VERSION)),
            ("git_commit".into(), s(HELM_GIT_COMMIT)),
            ("git_tree_state".into(), s("clean")),
            ("go_version".into(), s(HELM_GO_VERSION)),
        ])
    }
}

/// `.Capabilities`.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub kube_version: KubeVersion,
    pub api_versions: ApiVersions,
}

impl Capabilities {
    /// Helm's client-only capabilities, with `--kube-version` and `--api-versions`.
    pub fn new(kube_version: Option<&str>, extra_api_versions: &[String]) -> Result<Self, String> {
        let kube_version = KubeVersion::parse(kube_version.unwrap_or(DEFAULT_KUBE_VERSION))?;
        let mut apis: Vec<String> = DEFAULT_API_VERSIONS.lines().map(str::to_string).collect();
        apis.extend(extra_api_versions.iter().cloned());
        Ok(Capabilities {
            kube_version,
            api_versions: ApiVersions(apis),
        })
    }
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "*chartutil.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "KubeVersion" => Value::Object(Arc::new(self.kube_version.clone())),
            "APIVersions" => Value::Object(Arc::new(self.api_versions.clone())),
            "HelmVersion" => Value::Object(Arc::new(HelmVersion)),
            _ => return None,
        })
    }
    fn display(&self) -> String {
        let k = &self.kube_version;
        format!(
            "&{{{} {{{} {} {}}} {}}}",
            self.api_versions.display(),
            k.version,
            k.major,
            k.minor,
            HelmVersion.display()
        )
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        // chartutil.Capabilities declares KubeVersion, APIVersions, HelmVersion.
        Some(vec![
            (
                "KubeVersion".into(),
                Value::Object(Arc::new(self.kube_version.clone())),
            ),
            ("APIVersions".into(), string_list(&self.api_versions.0)),
            ("HelmVersion".into(), Value::Object(Arc::new(HelmVersion))),
        ])
    }
    fn to_data(&self) -> Option<Value> {
        let mut m = Map::new();
        m.insert("APIVersions".into(), string_list(&self.api_versions.0));
        m.insert(
            "KubeVersion".into(),
            self.kube_version.to_data().unwrap_or_default(),
        );
        m.insert(
            "HelmVersion".into(),
            HelmVersion.to_data().unwrap_or_default(),
        );
        Some(Value::map(m))
    }
}

/// `.Files`: the chart's non-template files.
#[derive(Debug, Clone, Default)]
pub struct Files(pub Arc<BTreeMap<String, Arc<[u8]>>>);

impl Files {
    fn get(&self, name: &str) -> Option<&Arc<[u8]>> {
        self.0.get(name)
    }
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::Bytes(
            self.get(name)
                .cloned()
                .unwrap_or_else(|| Arc::from(&[][..])),
        ))
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Get" | "GetBytes" | "Glob" | "AsConfig" | "AsSecrets" | "Lines"
        )
    }
    fn method_params(
        &self,
        name: &str,
    ) -> Option<(
        &'static [gotemplate::func::Param],
        Option<gotemplate::func::Param>,
    )> {
        // Go checks a method's arguments before calling it (no "error calling" prefix).
        const ONE_STRING: &[gotemplate::func::Param] = &[gotemplate::func::Param::String];
        match name {
            "Get" | "GetBytes" | "Glob" | "Lines" => Some((ONE_STRING, None)),
            "AsConfig" | "AsSecrets" => Some((&[], None)),
            _ => None,
        }
    }
    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let want = match name {
            "Get" | "GetBytes" | "Glob" | "Lines" => 1,
            "AsConfig" | "AsSecrets" => 0,
            _ => return None,
        };
        if args.len() != want {
            return Some(Err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            )));
        }
        let arg = if want == 1 {
            match args[0].str_lossy() {
                Some(a) => a,
                None => {
                    return Some(Err(format!(
                        "wrong type for value; expected string; got {}",
                        args[0].type_name()
                    )));
                }
            }
        } else {
            "".into()
        };
        let arg: &str = &arg;
        Some(Ok(match name {
            // Go's `string(b)`: the file's bytes, whatever they are.
            "Get" => self
                .get(arg)
                .map_or_else(|| Value::str(""), |b| Value::string_from_slice(b)),
            "GetBytes" => {
                Value::Bytes(self.get(arg).cloned().unwrap_or_else(|| Arc::from(&[][..])))
            }
            "Glob" => {
                let g = crate::glob::Glob::new(arg);
                let m: BTreeMap<String, Arc<[u8]>> = self
                    .0
                    .iter()
                    .filter(|(k, _)| g.matches(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::Object(Arc::new(Files(Arc::new(m))))
            }
            "Lines" => match self.get(arg) {
                None => Value::string_list(Vec::new()),
                // Helm looks at the last byte without checking the length: Go panics.
                Some(b) if b.is_empty() => {
                    return Some(Err("runtime error: index out of range [-1]".into()));
                }
                Some(b) => {
                    let text: &[u8] = b;
                    let text = text.strip_suffix(b"\n").unwrap_or(text);
                    Value::string_list(
                        text.split(|&c| c == b'\n')
                            .map(Value::string_from_slice)
                            .collect(),
                    )
                }
            },
            "AsConfig" | "AsSecrets" => {
                // Helm returns "" only for a nil map, which `.Files` and `Glob` never are:
                // an empty one marshals as `{}`.
                let mut m = Map::new();
                for (k, v) in self.0.iter() {
                    let val = if name == "AsConfig" {
                        Value::string_from_slice(v)
                    } else {
                        Value::str(crate::json::base64_std(v))
                    };
                    m.insert(base_name(k).to_string(), val);
                }
                Value::str(crate::yaml_emit::to_yaml(&Value::string_map(m)).unwrap_or_default())
            }
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}:[{}]",
                    v.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        format!("map[{}]", parts.join(" "))
    }
    fn to_data(&self) -> Option<Value> {
        Some(Value::map(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::Bytes(v.clone())))
                .collect(),
        ))
    }
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::Bytes(v.clone())))
                .collect(),
        )
    }
    fn map_zero(&self) -> Value {
        Value::Bytes(Arc::from(&[][..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        let mut m = BTreeMap::new();
        m.insert("conf/a.conf".to_string(), Arc::from(&b"x=1\ny=2\n"[..]));
        m.insert("conf/b.txt".to_string(), Arc::from(&b"hello"[..]));
        m.insert("other.yaml".to_string(), Arc::from(&b"k: v"[..]));
        Files(Arc::new(m))
    }

    #[test]
    fn files_methods() {
        let f = files();
        let get = f
            .call_method("Get", &[Value::str("conf/b.txt")])
            .unwrap()
            .unwrap();
        assert_eq!(get.as_str(), Some("hello"));
        let lines = f
            .call_method("Lines", &[Value::str("conf/a.conf")])
            .unwrap()
            .unwrap();
        assert_eq!(lines.as_list().unwrap().len(), 2);
        let Value::Object(g) = f
            .call_method("Glob", &[Value::str("conf/*")])
            .unwrap()
            .unwrap()
        else {
            panic!()
        };
        let cfg = g.call_method("AsConfig", &[]).unwrap().unwrap();
        assert_eq!(cfg.as_str(), Some("a.conf: |\n  x=1\n  y=2\nb.txt: hello"));
        let sec = g.call_method("AsSecrets", &[]).unwrap().unwrap();
        assert_eq!(sec.as_str(), Some("a.conf: eD0xCnk9Mgo=\nb.txt: aGVsbG8="));
    }

    #[test]
    fn capabilities() {
        let c = Capabilities::new(Some("1.29"), &["x.io/v1".into()]).unwrap();
        assert_eq!(c.kube_version.version, "v1.29.0");
        let has = |v: &str| {
            c.api_versions
                .call_method("Has", &[Value::str(v)])
                .unwrap()
                .unwrap()
        };
        assert!(matches!(has("apps/v1"), Value::Bool(true)));
        assert!(matches!(has("x.io/v1"), Value::Bool(true)));
        assert!(matches!(has("apps/v1/Deployment"), Value::Bool(false)));
        assert!(Capabilities::new(Some("abc"), &[]).is_err());
    }
}
