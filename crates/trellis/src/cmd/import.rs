//! `trellis import argocd FILE|-`: read Argo CD `argoproj.io/v1alpha1` Applications and
//! ApplicationSets and print the equivalent Trellis resources as YAML documents.
//!
//! - An Application becomes a Trellis Application (same field names: `source`, `destination`,
//!   `syncPolicy`, `ignoreDifferences`, `revisionHistoryLimit`).
//! - An ApplicationSet with a `list` generator becomes one Application per element, with the
//!   element's parameters substituted (`{{key}}`, or `{{.key}}` with `goTemplate: true`).
//! - An ApplicationSet with a `pullRequest` generator, or an `scmProvider` generator scanning every
//!   branch of one repository, makes one environment per branch: it becomes an EnvironmentSet
//!   (`branches.include` from the filters' `branchMatch`, `namespaceTemplate` from the template's
//!   `destination.namespace`, the head commit as `$TRELLIS_APP_REVISION` in Helm values).
//! - A `git` generator needs the repository's tree to know its directories or files: nothing is
//!   printed for it, and the warning says so.
//!
//! Whatever has no Trellis equivalent (multiple sources, Kustomize, plugins, Helm repository charts,
//! sync windows, other generators, ...) is never dropped silently: each gets a line
//! `warning: FILE: KIND NAME: WHAT has no Trellis equivalent; WHAT HAPPENED` on standard error,
//! repeated as a `#` comment above the document it concerns. `status` and `operation` (state Argo
//! CD records, not configuration) are left out without a word.
//!
//! Exit code 0 when at least one resource was printed and every document was an Argo CD
//! Application or ApplicationSet; 1 when a file cannot be read or holds something else (the error
//! names the file; the other documents and files are still converted), or when nothing could be
//! converted.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use controller::types::{
    API_VERSION, ApplicationSpec, BranchFilter, CleanupPolicy, EnvironmentSetSpec, ServiceTemplate,
    SyncPolicy,
};
use serde_json::{Map, Value, json};

/// `trellis import` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub from: Importer,
}

/// What to import from.
#[derive(clap::Subcommand, Debug)]
pub enum Importer {
    /// Argo CD Applications and ApplicationSets (argoproj.io/v1alpha1), printed as Trellis
    /// Applications and EnvironmentSets; what has no equivalent is reported on stderr.
    Argocd(ArgocdArgs),
}

/// `trellis import argocd` arguments.
#[derive(clap::Args, Debug)]
pub struct ArgocdArgs {
    /// Files of Argo CD Applications/ApplicationSets (YAML or JSON, one or many documents); `-`
    /// reads standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Namespace of the printed resources (where `trellis serve` runs).
    #[arg(short = 'n', long, default_value = "trellis")]
    pub namespace: String,
}

pub fn run(args: Args) -> ExitCode {
    match args.from {
        Importer::Argocd(a) => run_argocd(a),
    }
}

/// One printed resource and the warnings about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The Trellis resource.
    pub resource: Value,
    /// Warnings, each `KIND NAME: message`.
    pub warnings: Vec<String>,
}

fn run_argocd(args: ArgocdArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    let mut printed = 0usize;
    for file in &args.files {
        let name = file.display().to_string();
        let docs = match read_documents(&name) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("Error: {}", super::error_chain(&e));
                failed = true;
                continue;
            }
        };
        for (i, doc) in docs.iter().enumerate() {
            let result = match convert(doc, &args.namespace) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("Error: {name}: document {}: {e}", i + 1);
                    failed = true;
                    continue;
                }
            };
            for w in &result.warnings {
                eprintln!("warning: {name}: {w}");
            }
            for c in &result.resources {
                let yaml = match serde_saphyr::to_string(&c.resource) {
                    Ok(y) => y,
                    Err(e) => {
                        eprintln!("Error: {name}: document {}: printing YAML: {e}", i + 1);
                        failed = true;
                        continue;
                    }
                };
                let mut text = String::from("---\n");
                for w in &c.warnings {
                    text.push_str(&format!("# warning: {w}\n"));
                }
                text.push_str(&yaml);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                if out.write_all(text.as_bytes()).is_err() {
                    return ExitCode::from(1);
                }
                printed += 1;
            }
        }
    }
    if printed == 0 && !failed {
        eprintln!("Error: nothing could be converted (see the warnings above)");
        return ExitCode::from(1);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The documents of a file (`-`: standard input), YAML or JSON.
fn read_documents(name: &str) -> Result<Vec<Value>> {
    let text = super::read_input(name)?;
    if text.trim_start().starts_with(['{', '['])
        && let Ok(v) = serde_json::from_str::<Value>(&text)
    {
        return Ok(match v {
            Value::Array(items) => items,
            v if v.get("kind").and_then(Value::as_str) == Some("List") => v
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            v => vec![v],
        });
    }
    let docs = sync::object::objects_from_yaml(&text, name).map_err(|e| {
        anyhow::anyhow!("{name}: not an Argo CD Application or ApplicationSet: {e}")
    })?;
    if docs.is_empty() {
        anyhow::bail!("{name}: not an Argo CD Application or ApplicationSet (no document)");
    }
    Ok(docs)
}

/// What one Argo CD document became.
#[derive(Debug, Default)]
pub struct Conversion {
    /// Trellis resources.
    pub resources: Vec<Converted>,
    /// Every warning, `KIND NAME: message` (those of the resources and those about what was not
    /// converted at all).
    pub warnings: Vec<String>,
}

/// Convert one document; `Err` when it is not an Argo CD Application or ApplicationSet.
pub fn convert(doc: &Value, namespace: &str) -> Result<Conversion, String> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if !api.starts_with("argoproj.io/") || !matches!(kind, "Application" | "ApplicationSet") {
        let what = if api.is_empty() && kind.is_empty() {
            "no apiVersion and kind".to_string()
        } else {
            format!("{kind} {api}")
        };
        return Err(format!(
            "not an Argo CD Application or ApplicationSet (argoproj.io/v1alpha1): {what}"
        ));
    }
    if api != "argoproj.io/v1alpha1" {
        return Err(format!(
            "{kind} {api}: only argoproj.io/v1alpha1 is understood"
        ));
    }
    let name = str_at(doc, &["metadata", "name"]).unwrap_or_default();
    if name.is_empty() {
        return Err(format!("{kind} without metadata.name"));
    }
    let mut conv = Conversion::default();
    if kind == "Application" {
        let mut w = Warnings::new("Application", &name);
        if let Some(app) = application(doc, namespace, &mut w) {
            conv.resources.push(Converted {
                resource: app,
                warnings: w.lines.clone(),
            });
        }
        conv.warnings = w.lines;
    } else {
        application_set(doc, &name, namespace, &mut conv);
    }
    Ok(conv)
}

/// Warnings about one Argo CD object.
struct Warnings {
    prefix: String,
    lines: Vec<String>,
}

impl Warnings {
    fn new(kind: &str, name: &str) -> Warnings {
        Warnings {
            prefix: format!("{kind} {name}"),
            lines: Vec::new(),
        }
    }

    /// `WHAT has no Trellis equivalent; HAPPENED`.
    fn none(&mut self, what: &str, happened: &str) {
        self.lines.push(format!(
            "{}: {what} has no Trellis equivalent; {happened}",
            self.prefix
        ));
    }

    fn dropped(&mut self, what: &str) {
        self.none(what, "dropped");
    }

    fn note(&mut self, text: &str) {
        self.lines.push(format!("{}: {text}", self.prefix));
    }
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string)
}

/// Annotation prefixes that only mean something to Argo CD.
const ARGO_PREFIXES: [&str; 2] = ["argocd.argoproj.io/", "notifications.argoproj.io/"];

/// `metadata` of a printed resource: the name, `namespace`, labels and annotations.
fn metadata(meta: &Value, name: &str, namespace: &str, w: &mut Warnings) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert("namespace".into(), json!(namespace));
    if let Some(labels) = meta.get("labels").and_then(Value::as_object)
        && !labels.is_empty()
    {
        out.insert("labels".into(), Value::Object(labels.clone()));
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut kept = Map::new();
        for (k, v) in annotations {
            if k == "argocd.argoproj.io/compare-options"
                && v.as_str().is_some_and(|v| {
                    v.split(',')
                        .all(|o| o.trim().eq_ignore_ascii_case("ServerSideDiff=true"))
                })
            {
                // Trellis always diffs against a server-side apply dry run.
                w.note(&format!(
                    "annotation {k} dropped: Trellis always diffs server-side"
                ));
            } else if ARGO_PREFIXES.iter().any(|p| k.starts_with(p)) {
                w.dropped(&format!("annotation {k}"));
            } else {
                kept.insert(k.clone(), v.clone());
            }
        }
        if !kept.is_empty() {
            out.insert("annotations".into(), Value::Object(kept));
        }
    }
    if let Some(f) = meta.get("finalizers").and_then(Value::as_array) {
        for f in f.iter().filter_map(Value::as_str) {
            w.none(
                &format!("finalizer {f}"),
                "dropped (Trellis deletes an Application's objects with the environment that owns it)",
            );
        }
    }
    Value::Object(out)
}

/// A Trellis Application from an Argo CD Application (or a rendered ApplicationSet template).
fn application(doc: &Value, namespace: &str, w: &mut Warnings) -> Option<Value> {
    let name = str_at(doc, &["metadata", "name"]).unwrap_or_default();
    let meta = metadata(
        doc.get("metadata").unwrap_or(&Value::Null),
        &name,
        namespace,
        w,
    );
    let Some(spec) = doc.get("spec").and_then(Value::as_object) else {
        w.note("no spec; not converted");
        return None;
    };
    let spec = application_spec(spec, w)?;
    let typed: ApplicationSpec = match serde_json::from_value(Value::Object(spec)) {
        Ok(s) => s,
        Err(e) => {
            w.note(&format!(
                "spec does not fit a Trellis Application ({e}); not converted"
            ));
            return None;
        }
    };
    let spec = match serde_json::to_value(&typed) {
        Ok(s) => s,
        Err(e) => {
            w.note(&format!("spec cannot be printed ({e}); not converted"));
            return None;
        }
    };
    Some(json!({
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": meta,
        "spec": spec,
    }))
}

/// The Trellis spec fields from an Argo CD Application spec, warning about the rest. `None` when
/// there is no source Trellis can deploy.
fn application_spec(spec: &Map<String, Value>, w: &mut Warnings) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (key, value) in spec {
        match key.as_str() {
            "project" => {
                out.insert("project".into(), value.clone());
            }
            "source" => {}
            "sources" => {}
            "destination" => {
                out.insert("destination".into(), destination(value, w));
            }
            "syncPolicy" => {
                if let Some(p) = sync_policy(value, w) {
                    out.insert("syncPolicy".into(), p);
                }
            }
            "ignoreDifferences" => {
                let list = ignore_differences(value, w);
                if !list.is_empty() {
                    out.insert("ignoreDifferences".into(), Value::Array(list));
                }
            }
            "revisionHistoryLimit" => {
                out.insert(key.clone(), value.clone());
            }
            "info" => w.dropped("spec.info"),
            other => w.dropped(&format!("spec.{other}")),
        }
    }
    let source = match (spec.get("source"), spec.get("sources")) {
        (Some(s), _) => s.clone(),
        (None, Some(Value::Array(sources))) => pick_source(sources, w)?,
        _ => {
            w.note("no source; not converted");
            return None;
        }
    };
    out.insert("source".into(), self::source(&source, w)?);
    if !out.contains_key("destination") {
        out.insert("destination".into(), json!({}));
    }
    Some(out)
}

/// One source out of Argo CD's `sources`: the only one that is not a bare `ref`, when there is
/// exactly one such.
fn pick_source(sources: &[Value], w: &mut Warnings) -> Option<Value> {
    let charts: Vec<(usize, &Value)> = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| s.get("path").is_some() || s.get("chart").is_some())
        .collect();
    if sources.len() == 1 {
        return sources.first().cloned();
    }
    match charts.as_slice() {
        [(i, s)] => {
            w.none(
                &format!("spec.sources (multiple sources, {} of them)", sources.len()),
                &format!(
                    "kept sources[{i}] ({}) and dropped the others; a `$ref/...` values file no longer resolves",
                    str_at(s, &["repoURL"]).unwrap_or_default()
                ),
            );
            Some((*s).clone())
        }
        _ => {
            w.none(
                &format!("spec.sources (multiple sources, {} of them)", sources.len()),
                "not converted: make one Application per source",
            );
            None
        }
    }
}

fn source(src: &Value, w: &mut Warnings) -> Option<Value> {
    let Some(src) = src.as_object() else {
        w.note("source is not a mapping; not converted");
        return None;
    };
    if let Some(chart) = src.get("chart").and_then(Value::as_str) {
        w.none(
            &format!("source.chart {chart} (a chart from a Helm repository)"),
            "not converted: Trellis deploys charts from git (commit the chart and set source.path)",
        );
        return None;
    }
    let mut out = Map::new();
    for (key, value) in src {
        match key.as_str() {
            "repoURL" | "path" | "targetRevision" => {
                out.insert(key.clone(), value.clone());
            }
            "helm" => {
                if let Some(h) = helm(value, w) {
                    out.insert("helm".into(), h);
                }
            }
            "kustomize" => w.none(
                "source.kustomize (Kustomize)",
                "dropped: Trellis renders source.path as a Helm chart",
            ),
            "plugin" => w.none(
                "source.plugin (a config management plugin)",
                "dropped: Trellis renders source.path as a Helm chart",
            ),
            "directory" => w.none(
                "source.directory (plain manifests)",
                "dropped: Trellis renders source.path as a Helm chart",
            ),
            "ref" => w.dropped("source.ref"),
            other => w.dropped(&format!("source.{other}")),
        }
    }
    Some(Value::Object(out))
}

fn helm(h: &Value, w: &mut Warnings) -> Option<Value> {
    let h = h.as_object()?;
    let mut out = Map::new();
    for (key, value) in h {
        match key.as_str() {
            "releaseName" | "valueFiles" | "valuesObject" => {
                out.insert(key.clone(), value.clone());
            }
            "values" => match value {
                Value::String(_) => {
                    out.insert(key.clone(), value.clone());
                }
                Value::Object(_) => {
                    out.insert("valuesObject".into(), value.clone());
                }
                _ => w.dropped("source.helm.values that is neither text nor a mapping"),
            },
            "parameters" => {
                let mut params = Vec::new();
                for p in value.as_array().into_iter().flatten() {
                    let name = p.get("name").cloned().unwrap_or(Value::Null);
                    let value = match p.get("value") {
                        Some(Value::String(s)) => json!(s),
                        Some(Value::Null) | None => json!(""),
                        Some(other) => json!(other.to_string()),
                    };
                    let mut param = json!({"name": name, "value": value});
                    if p.get("forceString").and_then(Value::as_bool) == Some(true) {
                        param["forceString"] = json!(true);
                    }
                    params.push(param);
                }
                if !params.is_empty() {
                    out.insert("parameters".into(), Value::Array(params));
                }
            }
            other => w.dropped(&format!("source.helm.{other}")),
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn destination(d: &Value, w: &mut Warnings) -> Value {
    let mut out = Map::new();
    for (key, value) in d.as_object().into_iter().flatten() {
        match key.as_str() {
            "server" | "namespace" | "name" => {
                out.insert(key.clone(), value.clone());
            }
            other => w.dropped(&format!("destination.{other}")),
        }
    }
    Value::Object(out)
}

fn sync_policy(p: &Value, w: &mut Warnings) -> Option<Value> {
    let mut out = Map::new();
    for (key, value) in p.as_object().into_iter().flatten() {
        match key.as_str() {
            "automated" => {
                let mut auto = Map::new();
                let mut enabled = true;
                for (k, v) in value.as_object().into_iter().flatten() {
                    match k.as_str() {
                        "prune" => {
                            auto.insert("prune".into(), json!(v.as_bool() == Some(true)));
                        }
                        "selfHeal" => {
                            auto.insert("selfHeal".into(), json!(v.as_bool() == Some(true)));
                        }
                        "enabled" => enabled = v.as_bool() != Some(false),
                        "allowEmpty" => w.none(
                            "syncPolicy.automated.allowEmpty",
                            "dropped (Trellis syncs a chart that renders nothing)",
                        ),
                        other => w.dropped(&format!("syncPolicy.automated.{other}")),
                    }
                }
                if enabled {
                    out.insert("automated".into(), Value::Object(auto));
                }
            }
            "syncOptions" => {
                let opts: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|o| o.is_string())
                    .cloned()
                    .collect();
                if !opts.is_empty() {
                    out.insert("syncOptions".into(), Value::Array(opts));
                }
            }
            "retry" => {
                let mut retry = Map::new();
                for (k, v) in value.as_object().into_iter().flatten() {
                    match k.as_str() {
                        "limit" => {
                            retry.insert("limit".into(), int(v));
                        }
                        "backoff" => {
                            let mut b = Map::new();
                            for (bk, bv) in v.as_object().into_iter().flatten() {
                                match bk.as_str() {
                                    "duration" | "maxDuration" => {
                                        let s = match bv {
                                            Value::String(s) => s.clone(),
                                            other => other.to_string(),
                                        };
                                        b.insert(bk.clone(), json!(s));
                                    }
                                    "factor" => {
                                        b.insert("factor".into(), int(bv));
                                    }
                                    other => {
                                        w.dropped(&format!("syncPolicy.retry.backoff.{other}"))
                                    }
                                }
                            }
                            retry.insert("backoff".into(), Value::Object(b));
                        }
                        other => w.dropped(&format!("syncPolicy.retry.{other}")),
                    }
                }
                out.insert("retry".into(), Value::Object(retry));
            }
            "managedNamespaceMetadata" => w.dropped("syncPolicy.managedNamespaceMetadata"),
            other => w.dropped(&format!("syncPolicy.{other}")),
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// An integer from a number or a numeric string (Argo CD accepts both in places).
fn int(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_i64().map_or(Value::Null, |i| json!(i)),
        Value::String(s) => s.trim().parse::<i64>().map_or(Value::Null, |i| json!(i)),
        _ => Value::Null,
    }
}

fn ignore_differences(v: &Value, w: &mut Warnings) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
        let mut entry = Map::new();
        for (k, val) in item.as_object().into_iter().flatten() {
            match k.as_str() {
                // All applied by Trellis' diff as by Argo CD's.
                "group"
                | "kind"
                | "name"
                | "namespace"
                | "jsonPointers"
                | "jqPathExpressions"
                | "managedFieldsManagers" => {
                    entry.insert(k.clone(), val.clone());
                }
                other => w.dropped(&format!("ignoreDifferences[{i}].{other}")),
            }
        }
        out.push(Value::Object(entry));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ApplicationSets
// ---------------------------------------------------------------------------------------------

fn application_set(doc: &Value, name: &str, namespace: &str, conv: &mut Conversion) {
    let mut w = Warnings::new("ApplicationSet", name);
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    let go = spec.get("goTemplate").and_then(Value::as_bool) == Some(true);
    for key in spec.as_object().into_iter().flat_map(Map::keys) {
        match key.as_str() {
            "generators" | "template" | "goTemplate" => {}
            "goTemplateOptions" => w.none(
                "spec.goTemplateOptions",
                "ignored (placeholders left unknown are reported instead)",
            ),
            "syncPolicy" => w.none(
                "spec.syncPolicy (of the ApplicationSet itself)",
                "dropped (Trellis deletes what an EnvironmentSet made with it)",
            ),
            other => w.dropped(&format!("spec.{other}")),
        }
    }
    let set = SetContext {
        name: name.to_string(),
        namespace: namespace.to_string(),
        metadata: doc.get("metadata").cloned().unwrap_or(Value::Null),
    };
    let base = spec.get("template").cloned().unwrap_or(json!({}));
    let generators = spec
        .get("generators")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if generators.is_empty() {
        w.note("no generators; nothing to convert");
    }
    for (gi, generator) in generators.iter().enumerate() {
        let Some((gkind, g)) = generator
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.as_str() != "selector"))
        else {
            continue;
        };
        if generator.get("selector").is_some() {
            w.dropped(&format!("generators[{gi}].selector"));
        }
        let mut template = base.clone();
        if let Some(over) = g.get("template") {
            merge(&mut template, over);
        }
        match gkind.as_str() {
            "list" => list_generator(g, &template, go, namespace, &mut w, conv),
            "pullRequest" => pull_request_generator(g, &template, go, &set, &mut w, conv),
            "scmProvider" => scm_generator(g, &template, go, &set, &mut w, conv),
            "git" => {
                let repo = str_at(g, &["repoURL"]).unwrap_or_default();
                let (what, paths) = if g.get("files").is_some() {
                    ("files", g.get("files"))
                } else {
                    ("directories", g.get("directories"))
                };
                let paths: Vec<String> = paths
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| str_at(p, &["path"]))
                    .collect();
                w.none(
                    &format!(
                        "the git {what} generator (generators[{gi}], {repo} {})",
                        paths.join(", ")
                    ),
                    "no Application was made: which entries exist is only known from the repository; \
                     write one Application per entry (source.path set to its directory)",
                );
            }
            other => w.none(
                &format!("the {other} generator (generators[{gi}])"),
                "no Application was made from it",
            ),
        }
    }
    conv.warnings.extend(w.lines);
}

/// The ApplicationSet an EnvironmentSet is made from, and where it goes.
struct SetContext {
    name: String,
    namespace: String,
    metadata: Value,
}

/// Argo CD's merge of a generator's `template` over the ApplicationSet's.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                let nested = v.is_object() && b.get(k).is_some_and(Value::is_object);
                if nested {
                    if let Some(existing) = b.get_mut(k) {
                        merge(existing, v);
                    }
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Replace the `{{...}}` placeholders of `text`: `lookup` gets the parameter's name (for Go
/// templates, the path after `.`), and what it does not know is kept as written and pushed to
/// `unknown`.
fn render(
    text: &str,
    go: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
    unknown: &mut Vec<String>,
) -> String {
    map_placeholders(text, |whole, inner| {
        let key = if go {
            let inner = inner.trim_start_matches('-').trim_end_matches('-').trim();
            inner.strip_prefix('.').filter(|k| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            })
        } else {
            Some(inner)
        };
        let found = key.and_then(lookup);
        if found.is_none() && !unknown.iter().any(|u| u == whole) {
            unknown.push(whole.to_string());
        }
        found
    })
}

/// Every `{{...}}` of `text` replaced by what `f` gives for it (`whole` with the braces, `inner`
/// trimmed), or kept as written when `f` gives nothing; an unclosed `{{` and what follows stay.
fn map_placeholders(text: &str, mut f: impl FnMut(&str, &str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let whole = &rest[start..start + 2 + end + 2];
        match f(whole, after[..end].trim()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(whole),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `render` over every string of a value.
fn render_value(
    v: &mut Value,
    go: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
    unknown: &mut Vec<String>,
) {
    match v {
        Value::String(s) => *s = render(s, go, lookup, unknown),
        Value::Array(items) => {
            for i in items {
                render_value(i, go, lookup, unknown);
            }
        }
        Value::Object(map) => {
            for i in map.values_mut() {
                render_value(i, go, lookup, unknown);
            }
        }
        _ => {}
    }
}

/// A list element's parameter by (dotted) name, as text.
fn element_param(element: &Value, key: &str) -> Option<String> {
    let mut cur = element;
    if let Some(v) = element.get(key) {
        cur = v;
    } else {
        for part in key.split('.') {
            cur = cur.get(part)?;
        }
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list_generator(
    g: &Value,
    template: &Value,
    go: bool,
    namespace: &str,
    set_w: &mut Warnings,
    conv: &mut Conversion,
) {
    if g.get("elementsYaml").is_some() {
        set_w.none(
            "list.elementsYaml",
            "no Application was made from it (write the elements out as list.elements)",
        );
    }
    for element in g
        .get("elements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut rendered = template.clone();
        let mut unknown = Vec::new();
        let lookup = |k: &str| element_param(element, k);
        render_value(&mut rendered, go, &lookup, &mut unknown);
        let name = str_at(&rendered, &["metadata", "name"]).unwrap_or_default();
        let mut w = Warnings::new("Application", &name);
        for u in &unknown {
            w.none(
                &format!("placeholder {u}"),
                "left as written (not a parameter of its list element)",
            );
        }
        let doc = json!({"metadata": rendered.get("metadata").cloned().unwrap_or(json!({})),
                         "spec": rendered.get("spec").cloned().unwrap_or(Value::Null)});
        if name.is_empty() {
            w.note("template without metadata.name; not converted");
        } else if let Some(app) = application(&doc, namespace, &mut w) {
            conv.resources.push(Converted {
                resource: app,
                warnings: w.lines.clone(),
            });
        }
        conv.warnings.extend(w.lines);
    }
}

fn has<'a>(list: &[&'a str], k: &'a str) -> bool {
    list.contains(&k)
}

/// How the parameters of a per-branch generator map onto an EnvironmentSet.
struct BranchParams {
    /// Parameter names of the branch.
    branch: &'static [&'static str],
    /// Parameter names of the branch made a DNS label.
    slug: &'static [&'static str],
    /// Parameter names of the head commit, and the Trellis variables they become.
    revision: &'static [(&'static str, &'static str)],
    /// The repository URL (`scmProvider`'s `url`), when known.
    repo: Option<(&'static str, String)>,
}

#[allow(clippy::too_many_arguments)]
fn environment_set(
    template: &Value,
    go: bool,
    set: &SetContext,
    params: &BranchParams,
    include: String,
    w: &mut Warnings,
    conv: &mut Conversion,
) {
    let set_name = set.name.as_str();
    for key in ["labels", "annotations", "finalizers"] {
        if template.get("metadata").and_then(|m| m.get(key)).is_some() {
            w.none(
                &format!("template.metadata.{key}"),
                "dropped: Trellis labels each environment's Applications itself",
            );
        }
    }
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    let mut dest_ns = None;
    if let Some(d) = spec.get_mut("destination").and_then(Value::as_object_mut) {
        dest_ns = d
            .remove("namespace")
            .and_then(|v| v.as_str().map(str::to_string));
        for (k, v) in d.iter() {
            let v = v.as_str().unwrap_or_default();
            let in_cluster = (k == "server" && v == "https://kubernetes.default.svc")
                || (k == "name" && v == "in-cluster");
            if !in_cluster {
                w.none(
                    &format!("destination.{k} {v}"),
                    "dropped: an EnvironmentSet deploys to the cluster Trellis runs in",
                );
            }
        }
    }
    // namespaceTemplate.
    let ns_lookup = |k: &str| {
        if has(params.branch, k) {
            Some("{{branch}}".to_string())
        } else if has(params.slug, k) {
            Some("{{branch_slug}}".to_string())
        } else {
            None
        }
    };
    let mut unknown = Vec::new();
    let namespace_template = match dest_ns {
        Some(ns) => {
            let t = render(&ns, go, &ns_lookup, &mut unknown);
            for u in unknown.drain(..) {
                w.none(
                    &format!("placeholder {u} in destination.namespace"),
                    "replaced by {{branch_slug}}",
                );
            }
            let t = replace_placeholders(&t, "{{branch_slug}}");
            if t.contains("{{branch") {
                t
            } else {
                w.note(&format!(
                    "destination.namespace {ns} is the same for every branch; each Trellis environment \
                     gets its own namespace: namespaceTemplate {{{{branch}}}}"
                ));
                "{{branch}}".to_string()
            }
        }
        None => "{{branch}}".to_string(),
    };
    // The source: revision follows the environment's branch; the head commit becomes
    // $TRELLIS_APP_REVISION in values.
    if let Some(src) = spec.get_mut("source").and_then(Value::as_object_mut) {
        if let Some(rev) = src.get("targetRevision").and_then(Value::as_str)
            && rev.contains("{{")
        {
            let mut u = Vec::new();
            let known = |k: &str| {
                (has(params.branch, k)
                    || has(params.slug, k)
                    || params.revision.iter().any(|(p, _)| *p == k))
                .then(String::new)
            };
            render(rev, go, &known, &mut u);
            if !u.is_empty() {
                w.none(
                    &format!("source.targetRevision {rev}"),
                    "dropped: each environment deploys its branch",
                );
            }
            src.remove("targetRevision");
        }
        if let Some(url) = src.get_mut("repoURL") {
            let repo_lookup = |k: &str| {
                params
                    .repo
                    .as_ref()
                    .filter(|(p, _)| *p == k)
                    .map(|(_, url)| url.clone())
            };
            let mut u = Vec::new();
            render_value(url, go, &repo_lookup, &mut u);
            for x in u {
                w.none(
                    &format!("placeholder {x} in source.repoURL"),
                    "left as written",
                );
            }
        }
        if let Some(h) = src.get_mut("helm") {
            let env_lookup = |k: &str| {
                if let Some((_, var)) = params.revision.iter().find(|(p, _)| *p == k) {
                    Some(format!("${var}"))
                } else if has(params.branch, k) {
                    Some("$TRELLIS_APP_SOURCE_TARGET_REVISION".to_string())
                } else {
                    None
                }
            };
            let mut u = Vec::new();
            render_value(h, go, &env_lookup, &mut u);
            for x in u {
                w.none(
                    &format!("placeholder {x} in source.helm"),
                    "left as written",
                );
            }
        }
    }
    // Whatever else still has placeholders.
    let mut u = Vec::new();
    let mut rest = spec.clone();
    if let Some(src) = rest.get_mut("source").and_then(Value::as_object_mut) {
        src.remove("helm");
        src.remove("repoURL");
    }
    let project = rest
        .get("project")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(r) = rest.as_object_mut() {
        r.remove("project");
    }
    render_value(&mut rest, go, &|_| None, &mut u);
    for x in u {
        w.none(&format!("placeholder {x}"), "left as written");
    }
    let project = match project {
        Some(p) if p.contains("{{") => {
            w.none(
                &format!("project {p} (templated)"),
                "dropped: each environment's Applications are in the project named after it",
            );
            None
        }
        p => p,
    };
    let Some(spec_map) = spec.as_object() else {
        w.note("template without spec; not converted");
        return;
    };
    let Some(mut app_spec) = application_spec(spec_map, w) else {
        return;
    };
    let service_name = service_name(
        &str_at(template, &["metadata", "name"]).unwrap_or_default(),
        set_name,
    );
    let source = app_spec.remove("source").unwrap_or(Value::Null);
    let ignore = app_spec
        .remove("ignoreDifferences")
        .unwrap_or(Value::Array(Vec::new()));
    let sync_policy = app_spec.remove("syncPolicy");
    if app_spec.contains_key("revisionHistoryLimit") {
        w.dropped("spec.revisionHistoryLimit (per environment Application)");
    }
    let service = json!({"name": service_name, "source": source, "ignoreDifferences": ignore});
    let service: ServiceTemplate = match serde_json::from_value(service) {
        Ok(s) => s,
        Err(e) => {
            w.note(&format!(
                "template does not fit an EnvironmentSet service ({e}); not converted"
            ));
            return;
        }
    };
    let sync_policy = match sync_policy
        .map(serde_json::from_value::<SyncPolicy>)
        .transpose()
    {
        Ok(p) => p,
        Err(e) => {
            w.note(&format!("syncPolicy does not fit Trellis's ({e}); dropped"));
            None
        }
    };
    let set_spec = EnvironmentSetSpec {
        default_revision: "main".to_string(),
        branches: BranchFilter {
            include,
            exclude: None,
        },
        namespace_template,
        services: vec![service],
        sync_policy,
        cleanup: CleanupPolicy::default(),
        project,
    };
    let spec_value = match serde_json::to_value(&set_spec) {
        Ok(v) => v,
        Err(e) => {
            w.note(&format!("EnvironmentSet cannot be printed ({e})"));
            return;
        }
    };
    let meta = metadata(&set.metadata, set_name, &set.namespace, w);
    conv.resources.push(Converted {
        resource: json!({
            "apiVersion": API_VERSION,
            "kind": "EnvironmentSet",
            "metadata": meta,
            "spec": spec_value,
        }),
        warnings: w.lines.clone(),
    });
}

/// Every `{{...}}` of `text` that is not a Trellis namespace placeholder replaced by `with`.
fn replace_placeholders(text: &str, with: &str) -> String {
    map_placeholders(text, |_, inner| {
        (!matches!(inner, "branch" | "branch_slug" | "set")).then(|| with.to_string())
    })
}

/// The service's name: the template's Application name without its placeholders.
fn service_name(template_name: &str, set_name: &str) -> String {
    let mut plain = String::new();
    let mut rest = template_name;
    while let Some(start) = rest.find("{{") {
        plain.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => rest = "",
        }
    }
    plain.push_str(rest);
    let mut name = String::new();
    for c in plain.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        set_name.to_string()
    } else {
        name
    }
}

/// `branches.include` from generator filters: any filter may match (Argo CD ORs filters), and a
/// filter without `branchMatch` matches every branch.
fn include_from_filters(filters: Option<&Value>, generator: &str, w: &mut Warnings) -> String {
    let mut patterns = Vec::new();
    let mut all = false;
    let filters: Vec<&Value> = filters
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for (i, f) in filters.iter().enumerate() {
        let mut has_branch = false;
        for (k, v) in f.as_object().into_iter().flatten() {
            if k == "branchMatch" {
                if let Some(p) = v.as_str() {
                    patterns.push(p.to_string());
                    has_branch = true;
                }
            } else {
                w.none(
                    &format!("{generator}.filters[{i}].{k}"),
                    "dropped: Trellis selects environments by branch name only",
                );
            }
        }
        if !has_branch {
            all = true;
        }
    }
    if all || patterns.is_empty() {
        ".*".to_string()
    } else if patterns.len() == 1 {
        patterns.remove(0)
    } else {
        patterns
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|")
    }
}

const PR_PROVIDERS: [&str; 6] = [
    "github",
    "gitlab",
    "gitea",
    "bitbucketServer",
    "bitbucket",
    "azuredevops",
];

fn pull_request_generator(
    g: &Value,
    template: &Value,
    go: bool,
    set: &SetContext,
    set_w: &mut Warnings,
    conv: &mut Conversion,
) {
    let mut w = Warnings::new("ApplicationSet", &set.name);
    for (k, v) in g.as_object().into_iter().flatten() {
        if has(&PR_PROVIDERS, k) {
            for pk in v.as_object().into_iter().flat_map(Map::keys) {
                match pk.as_str() {
                    "labels" => w.none(
                        &format!("pullRequest.{k}.labels (pull request labels)"),
                        "dropped: every branch matching branches.include gets an environment",
                    ),
                    "tokenRef" | "appSecretName" | "basicAuth" | "bearerToken" => w.none(
                        &format!("pullRequest.{k}.{pk}"),
                        "dropped: give each service's source a secretRef naming a Secret with its git credentials",
                    ),
                    _ => {}
                }
            }
        } else if !matches!(k.as_str(), "filters" | "template" | "requeueAfterSeconds") {
            w.dropped(&format!("pullRequest.{k}"));
        }
    }
    w.none(
        "the pull request generator's open pull request condition",
        "every branch matching branches.include in the service's repository gets an environment, \
         removed once the branch is deleted or merged into defaultRevision",
    );
    let include = include_from_filters(g.get("filters"), "pullRequest", &mut w);
    let params = BranchParams {
        branch: &["branch"],
        slug: &["branch_slug"],
        revision: &[
            ("head_sha", "TRELLIS_APP_REVISION"),
            ("head_short_sha", "TRELLIS_APP_REVISION_SHORT_8"),
            ("head_short_sha_7", "TRELLIS_APP_REVISION_SHORT"),
        ],
        repo: None,
    };
    environment_set(template, go, set, &params, include, &mut w, conv);
    set_w.lines.append(&mut w.lines);
}

fn scm_generator(
    g: &Value,
    template: &Value,
    go: bool,
    set: &SetContext,
    set_w: &mut Warnings,
    conv: &mut Conversion,
) {
    let mut w = Warnings::new("ApplicationSet", &set.name);
    let ssh = str_at(g, &["cloneProtocol"]).as_deref() != Some("https");
    let provider = ["github", "gitlab", "gitea"]
        .into_iter()
        .find_map(|p| g.get(p).map(|v| (p, v)));
    let filters: Vec<&Value> = g
        .get("filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    // One repository named exactly by the filters: `repositoryMatch: ^name$`.
    let repos: Vec<String> = filters
        .iter()
        .filter_map(|f| str_at(f, &["repositoryMatch"]))
        .collect();
    let exact = match repos.as_slice() {
        [one] => {
            let name = one.trim_start_matches('^').trim_end_matches('$');
            (name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                && !name.is_empty())
            .then(|| name.to_string())
        }
        _ => None,
    };
    let Some((provider, pconf)) = provider else {
        w.none(
            "the scmProvider generator's provider",
            "no EnvironmentSet was made (github, gitlab and gitea are converted)",
        );
        set_w.lines.append(&mut w.lines);
        return;
    };
    let all_branches = pconf.get("allBranches").and_then(Value::as_bool) == Some(true);
    let org = ["organization", "group", "owner"]
        .iter()
        .find_map(|k| str_at(pconf, &[*k]))
        .unwrap_or_default();
    let default_host = match provider {
        "github" => "github.com",
        "gitlab" => "gitlab.com",
        _ => "",
    };
    let host = str_at(pconf, &["api"])
        .and_then(|api| {
            let rest = api.split("://").nth(1)?.to_string();
            rest.split('/').next().map(str::to_string)
        })
        .filter(|h| !h.is_empty() && h != "api.github.com")
        .unwrap_or_else(|| default_host.to_string());
    let (Some(repo), true, false) = (exact, all_branches, host.is_empty()) else {
        w.none(
            "repository discovery (the scmProvider generator)",
            "no EnvironmentSet was made: an EnvironmentSet needs its repositories named; \
             it is converted when allBranches is true and one filter's repositoryMatch is ^NAME$ \
             (otherwise list each repository as a service of an EnvironmentSet)",
        );
        set_w.lines.append(&mut w.lines);
        return;
    };
    let url = if ssh {
        format!("git@{host}:{org}/{repo}.git")
    } else {
        format!("https://{host}/{org}/{repo}.git")
    };
    let include = {
        let patterns: Vec<Value> = filters
            .iter()
            .map(|f| {
                let mut f = (*f).clone();
                if let Some(o) = f.as_object_mut() {
                    o.remove("repositoryMatch");
                }
                f
            })
            .collect();
        include_from_filters(Some(&Value::Array(patterns)), "scmProvider", &mut w)
    };
    let params = BranchParams {
        branch: &["branch"],
        slug: &["branchNormalized"],
        revision: &[
            ("sha", "TRELLIS_APP_REVISION"),
            ("short_sha", "TRELLIS_APP_REVISION_SHORT_8"),
            ("short_sha_7", "TRELLIS_APP_REVISION_SHORT"),
        ],
        repo: Some(("url", url)),
    };
    environment_set(template, go, set, &params, include, &mut w, conv);
    set_w.lines.append(&mut w.lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fast_and_go_placeholders() {
        let el = json!({"cluster": "dev", "url": "https://k", "values": {"tier": 2}});
        let lookup = |k: &str| element_param(&el, k);
        let mut u = Vec::new();
        assert_eq!(
            render(
                "{{cluster}}-{{ values.tier }}-{{nope}}",
                false,
                &lookup,
                &mut u
            ),
            "dev-2-{{nope}}"
        );
        assert_eq!(u, ["{{nope}}"]);
        let mut u = Vec::new();
        assert_eq!(
            render(
                "{{.cluster}}/{{ .values.tier }}/{{ upper .x }}",
                true,
                &lookup,
                &mut u
            ),
            "dev/2/{{ upper .x }}"
        );
        assert_eq!(u, ["{{ upper .x }}"]);
    }

    #[test]
    fn service_names_and_placeholders() {
        assert_eq!(service_name("myapp-{{branch}}-{{number}}", "s"), "myapp");
        assert_eq!(service_name("{{.branch}}", "previews"), "previews");
        assert_eq!(
            replace_placeholders("pr-{{number}}-{{ branch_slug }}", "{{branch_slug}}"),
            "pr-{{branch_slug}}-{{ branch_slug }}"
        );
    }

    #[test]
    fn filters_become_one_pattern() {
        let mut w = Warnings::new("ApplicationSet", "x");
        let f = json!([{"branchMatch": "^feat-"}, {"branchMatch": "^fix-"}]);
        assert_eq!(
            include_from_filters(Some(&f), "pullRequest", &mut w),
            "(?:^feat-)|(?:^fix-)"
        );
        let f = json!([{"branchMatch": "^feat-"}, {"targetBranchMatch": "main"}]);
        assert_eq!(include_from_filters(Some(&f), "pullRequest", &mut w), ".*");
        assert_eq!(w.lines.len(), 1);
    }
}
