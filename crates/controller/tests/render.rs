//! The controller's renderer: values as Argo CD's Helm source merges them, the build environment,
//! errors that name where the mistake is, the render cache (once per digest, single-flight,
//! bounded) and `lookup` from a hook. Trees are built as `source::TreeFile`s directly (reading
//! them from git is the `source` crate's, tested there).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use controller::render::{RenderError, RenderRequest, Renderer, RendererConfig, render_once};
use controller::types::{ApplicationSourceHelm, HelmParameter};
use source::{FileKind, TreeFile};

const COMMIT: &str = "c0ffee0123456789abcdef0123456789abcdef01";
const REPO: &str = "https://git.example/org/services.git";

fn file(path: &str, text: &str) -> TreeFile {
    TreeFile {
        path: path.into(),
        data: text.as_bytes().to_vec(),
        kind: FileKind::Regular,
    }
}

/// A repository tree: a chart at `charts/app` printing its values into a ConfigMap, a shared
/// values file beside it, and a values file at the root.
fn repo_tree() -> Vec<TreeFile> {
    vec![
        file(
            "charts/app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
        ),
        file(
            "charts/app/values.yaml",
            "a: chart\nb: chart\nc: chart\nd: chart\ne: chart\nnum: 1\nrev: none\n",
        ),
        file(
            "charts/app/values-files.yaml",
            "b: file\nc: file\nd: file\ne: file\n",
        ),
        file("charts/app/values-rev.yaml", "rev: $ARGOCD_APP_REVISION\n"),
        file("charts/app/bad.yaml", "ok: 1\nbroken: [1, 2\nmore: 3\n"),
        file(
            "charts/app/templates/cm.yaml",
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-values
  namespace: {{ .Release.Namespace }}
data:
  a: {{ .Values.a | quote }}
  b: {{ .Values.b | quote }}
  c: {{ .Values.c | quote }}
  d: {{ .Values.d | quote }}
  e: {{ .Values.e | quote }}
  num: {{ printf "%T" .Values.num | quote }}
  rev: {{ .Values.rev | quote }}
  shared: {{ .Values.shared | default "" | quote }}
  list: {{ .Values.list | default "" | quote }}
"#,
        ),
        file("charts/shared/x.yaml", "shared: from-shared\n"),
        file("env/prod.yaml", "a: from-root\n"),
    ]
}

fn request(files: Vec<TreeFile>, helm: ApplicationSourceHelm) -> RenderRequest {
    RenderRequest {
        repo_url: REPO.into(),
        commit: COMMIT.into(),
        target_revision: "main".into(),
        path: "charts/app".into(),
        files_root: String::new(),
        files: Arc::new(files),
        helm: Some(helm),
        app_name: "web".into(),
        namespace: "env-a".into(),
        ..RenderRequest::default()
    }
}

/// The `data` of the ConfigMap the chart renders.
fn data(r: &controller::render::Rendered) -> serde_json::Value {
    let cm = r
        .manifests
        .iter()
        .find(|m| m.obj["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    cm.obj["data"].clone()
}

fn param(name: &str, value: &str, force_string: bool) -> HelmParameter {
    HelmParameter {
        name: name.into(),
        value: value.into(),
        force_string,
    }
}

#[test]
fn values_precedence_is_argo_cds() {
    let helm = ApplicationSourceHelm {
        value_files: vec!["values-files.yaml".into()],
        values: Some("c: values\nd: values\ne: values\n".into()),
        values_object: None,
        parameters: vec![
            param("e", "param", false),
            param("num", "2", true),
            param("list", "x,y", false),
        ],
        release_name: None,
    };
    let r =
        render_once(&helm::Engine::new(), &request(repo_tree(), helm.clone())).expect("renders");
    let d = data(&r);
    assert_eq!(d["a"], "chart");
    assert_eq!(d["b"], "file");
    assert_eq!(d["c"], "values");
    assert_eq!(d["d"], "values");
    assert_eq!(d["e"], "param");
    // forceString keeps "2" a string; without it --set makes it an int64.
    assert_eq!(d["num"], "string");
    // Argo CD escapes commas: one value, not a second --set.
    assert_eq!(d["list"], "x,y");
    assert_eq!(
        r.manifests[0].obj["metadata"]["name"], "web-values",
        "release name defaults to the Application's name"
    );
    assert_eq!(r.manifests[0].obj["metadata"]["namespace"], "env-a");

    // valuesObject takes the place of values (as in Argo CD): d comes from it, c falls back to
    // the files, and a warning says values was ignored.
    let helm = ApplicationSourceHelm {
        values_object: Some(serde_json::json!({"d": "object", "e": "object"})),
        parameters: vec![param("num", "2", false)],
        ..helm
    };
    let r = render_once(&helm::Engine::new(), &request(repo_tree(), helm)).expect("renders");
    let d = data(&r);
    assert_eq!(d["c"], "file");
    assert_eq!(d["d"], "object");
    assert_eq!(d["e"], "object");
    assert_eq!(d["num"], "int64");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("helm.values is ignored")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn revision_and_app_variables_are_substituted() {
    let helm = ApplicationSourceHelm {
        value_files: vec![
            "values-rev.yaml".into(),
            "/env/${ARGOCD_APP_NAME}.yaml".into(),
        ],
        values: Some("c: ${TRELLIS_APP_NAMESPACE}\nd: $HOME\n".into()),
        parameters: vec![param("e", "$TRELLIS_APP_REVISION_SHORT", false)],
        ..ApplicationSourceHelm::default()
    };
    let mut files = repo_tree();
    files.push(file("env/web.yaml", "b: $ARGOCD_APP_NAME-in-file\n"));
    let r = render_once(&helm::Engine::new(), &request(files, helm)).expect("renders");
    let d = data(&r);
    assert_eq!(d["rev"], COMMIT);
    assert_eq!(d["b"], "web-in-file");
    assert_eq!(d["c"], "env-a");
    assert_eq!(d["d"], "$HOME", "unknown variables stay as written");
    assert_eq!(d["e"], &COMMIT[..7]);
}

#[test]
fn values_file_outside_the_chart_directory_within_the_tree() {
    let helm = ApplicationSourceHelm {
        value_files: vec!["../shared/x.yaml".into()],
        ..ApplicationSourceHelm::default()
    };
    let mut req = request(repo_tree(), helm);
    assert_eq!(req.required_files_root(), "charts");
    // The caller reads the tree at the root it asked for: paths relative to it.
    req.files_root = "charts".into();
    req.files = Arc::new(
        repo_tree()
            .into_iter()
            .filter_map(|mut f| {
                f.path = f.path.strip_prefix("charts/")?.to_string();
                Some(f)
            })
            .collect(),
    );
    let r = render_once(&helm::Engine::new(), &req).expect("renders");
    assert_eq!(data(&r)["shared"], "from-shared");

    // Reading only the chart directory cannot serve it: the error says what to read.
    req.files_root = "charts/app".into();
    req.files = Arc::new(
        repo_tree()
            .into_iter()
            .filter_map(|mut f| {
                f.path = f.path.strip_prefix("charts/app/")?.to_string();
                Some(f)
            })
            .collect(),
    );
    let e = render_once(&helm::Engine::new(), &req).expect_err("fails");
    assert_eq!(e.metric_label(), "request");
    assert!(e.to_string().contains("required_files_root"), "{e}");

    // Leaving the repository is refused.
    let helm = ApplicationSourceHelm {
        value_files: vec!["../../../x.yaml".into()],
        ..ApplicationSourceHelm::default()
    };
    let e = render_once(&helm::Engine::new(), &request(repo_tree(), helm)).expect_err("fails");
    assert!(
        matches!(&e, RenderError::ValuesFile { message, .. } if message.contains("outside the repository")),
        "{e}"
    );
}

#[test]
fn a_missing_values_file_is_named_unless_ignored() {
    let helm = ApplicationSourceHelm {
        value_files: vec!["values-nope.yaml".into()],
        ..ApplicationSourceHelm::default()
    };
    let mut req = request(repo_tree(), helm);
    let e = render_once(&helm::Engine::new(), &req).expect_err("fails");
    assert_eq!(
        e.to_string(),
        format!(
            "{REPO} at c0ffee0, chart charts/app: values file charts/app/values-nope.yaml: does not exist"
        )
    );
    assert!(!e.is_retryable());
    req.ignore_missing_value_files = true;
    let r = render_once(&helm::Engine::new(), &req).expect("renders");
    assert!(
        r.warnings.iter().any(|w| w.contains("values-nope.yaml")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_values_file_with_a_yaml_error_names_file_and_line() {
    let helm = ApplicationSourceHelm {
        value_files: vec!["bad.yaml".into()],
        ..ApplicationSourceHelm::default()
    };
    let e = render_once(&helm::Engine::new(), &request(repo_tree(), helm)).expect_err("fails");
    let RenderError::ValuesYaml { file, line, .. } = &e else {
        panic!("not a values YAML error: {e}");
    };
    assert_eq!(file, "charts/app/bad.yaml");
    assert!(line.is_some(), "{e}");
    let text = e.to_string();
    assert!(text.contains("c0ffee0"), "{text}");
    assert!(text.contains("charts/app/bad.yaml line"), "{text}");
    assert_eq!(e.metric_label(), "values_yaml");
}

#[test]
fn template_errors_name_the_template() {
    let mut files = repo_tree();
    files.push(file(
        "charts/app/templates/broken.yaml",
        "a: {{ .Values.a | nosuchfunc }}\n",
    ));
    let e = render_once(
        &helm::Engine::new(),
        &request(files, ApplicationSourceHelm::default()),
    )
    .expect_err("fails");
    assert_eq!(e.metric_label(), "template");
    let text = e.to_string();
    assert!(text.contains("app/templates/broken.yaml:1"), "{text}");
    assert!(text.contains(REPO) && text.contains("c0ffee0"), "{text}");

    let mut files = repo_tree();
    files.push(file(
        "charts/app/templates/req.yaml",
        "a: {{ required \"image.tag is required\" .Values.image }}\n",
    ));
    let e = render_once(
        &helm::Engine::new(),
        &request(files, ApplicationSourceHelm::default()),
    )
    .expect_err("fails");
    assert_eq!(e.metric_label(), "required");
    assert!(
        e.to_string()
            .contains("execution error at (app/templates/req.yaml:1:6): image.tag is required"),
        "{e}"
    );
}

#[test]
fn schema_violations_are_reported() {
    let mut files = repo_tree();
    files.push(file(
        "charts/app/values.schema.json",
        r#"{"type": "object", "properties": {"num": {"type": "integer"}}}"#,
    ));
    let helm = ApplicationSourceHelm {
        parameters: vec![param("num", "many", true)],
        ..ApplicationSourceHelm::default()
    };
    let e = render_once(&helm::Engine::new(), &request(files, helm)).expect_err("fails");
    assert_eq!(e.metric_label(), "schema", "{e}");
}

#[test]
fn missing_chart_path_and_missing_chart_yaml() {
    let mut req = request(repo_tree(), ApplicationSourceHelm::default());
    req.path = "charts/nope".into();
    let e = render_once(&helm::Engine::new(), &req).expect_err("fails");
    assert_eq!(
        e.to_string(),
        format!(
            "{REPO} at c0ffee0, chart charts/nope: the chart directory does not exist in the repository"
        )
    );
    assert_eq!(e.metric_label(), "path_not_found");
    req.path = "env".into();
    let e = render_once(&helm::Engine::new(), &req).expect_err("fails");
    assert!(matches!(e, RenderError::NoChartYaml { .. }), "{e}");
}

#[test]
fn helmignore_and_links_are_honoured() {
    let mut files = repo_tree();
    files.push(file("charts/app/.helmignore", "templates/skip.yaml\n"));
    files.push(file(
        "charts/app/templates/skip.yaml",
        "{{ fail \"ignored\" }}",
    ));
    files.push(TreeFile {
        path: "charts/app/templates/link.yaml".into(),
        data: b"../extra/cm2.yaml".to_vec(),
        kind: FileKind::Symlink,
    });
    files.push(file(
        "charts/app/extra/cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: linked\n",
    ));
    let r = render_once(
        &helm::Engine::new(),
        &request(files.clone(), ApplicationSourceHelm::default()),
    )
    .expect("renders");
    assert!(
        r.manifests
            .iter()
            .any(|m| m.obj["metadata"]["name"] == "linked")
    );
    files.push(TreeFile {
        path: "charts/app/templates/escape.yaml".into(),
        data: b"../../../env/prod.yaml".to_vec(),
        kind: FileKind::Symlink,
    });
    let e = render_once(
        &helm::Engine::new(),
        &request(files, ApplicationSourceHelm::default()),
    )
    .expect_err("fails");
    assert!(e.to_string().contains("outside the chart"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_identical_requests_render_once() {
    let renderer = Renderer::new();
    let req = request(repo_tree(), ApplicationSourceHelm::default());
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let renderer = renderer.clone();
        let req = req.clone();
        tasks.push(tokio::spawn(async move { renderer.render(req).await }));
    }
    let mut digests = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.expect("task").expect("renders");
        digests.insert(r.digest.clone());
    }
    assert_eq!(digests.len(), 1);
    assert_eq!(renderer.renders(), 1);
    assert_eq!(renderer.cache_hits(), 99);
    // And later ones too.
    renderer.render(req).await.expect("renders");
    assert_eq!(renderer.renders(), 1);
}

#[tokio::test]
async fn errors_are_cached_and_commits_render_separately() {
    let renderer = Renderer::new();
    let mut req = request(repo_tree(), ApplicationSourceHelm::default());
    let first = renderer.render(req.clone()).await.expect("renders");
    req.commit = "d00d000000000000000000000000000000000000".into();
    let second = renderer.render(req.clone()).await.expect("renders");
    assert_ne!(first.digest, second.digest);
    assert_eq!(renderer.renders(), 2);
    req.is_upgrade = true;
    let cached = renderer.cached();
    renderer.render(req.clone()).await.expect("renders");
    assert_eq!(renderer.renders(), 3, "install and upgrade differ");
    assert_eq!(
        renderer.cached(),
        cached,
        "the install render is dropped once the upgrade one is asked for"
    );

    req.path = "charts/nope".into();
    for _ in 0..3 {
        let e = renderer.render(req.clone()).await.expect_err("fails");
        assert_eq!(e.metric_label(), "path_not_found");
    }
    assert_eq!(renderer.renders(), 4, "a user error is cached too");
}

/// A chart named `name` shipping `crd` (a large CRD file) beside one template.
fn chart_with_crd(name: &str, crd: &str) -> Vec<TreeFile> {
    vec![
        file(
            "charts/app/Chart.yaml",
            &format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
        ),
        file("charts/app/crds/big.yaml", crd),
        file(
            "charts/app/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\n",
        ),
    ]
}

/// A CRD of about 48 KiB (above the size from which texts are shared).
fn big_crd(extra: &str) -> String {
    let mut text = String::from(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n",
    );
    for i in 0..1200 {
        text.push_str(&format!("          field{i}: {{type: string}}\n"));
    }
    text.push_str(extra);
    text
}

#[tokio::test]
async fn large_texts_are_read_once_and_shared_by_charts_that_ship_them() {
    let renderer = Renderer::new();
    let crd = big_crd("");
    assert!(crd.len() > 40_000);
    let mut a = request(
        chart_with_crd("alpha", &crd),
        ApplicationSourceHelm::default(),
    );
    a.app_name = "alpha".into();
    let mut b = request(
        chart_with_crd("beta", &crd),
        ApplicationSourceHelm::default(),
    );
    b.app_name = "beta".into();
    b.repo_url = "https://git.example/org/beta.git".into();
    let ra = renderer.render(a.clone()).await.expect("renders");
    let rb = renderer.render(b).await.expect("renders");
    assert_eq!(renderer.renders(), 2, "two charts, two renders");
    assert_eq!(renderer.shared_texts(), 1, "one CRD text read once");
    let crd_of = |r: &controller::render::Rendered| {
        r.manifests
            .iter()
            .find(|m| m.obj["kind"] == "CustomResourceDefinition")
            .cloned()
            .expect("the CRD is rendered")
    };
    let (ca, cb) = (crd_of(&ra), crd_of(&rb));
    assert_eq!(ca.obj, cb.obj, "the same objects");
    assert_eq!(
        ca.obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["field1199"]["type"],
        "string"
    );
    // Each render keeps the objects the uncached pipeline gives, down to where they came from.
    let alone = render_once(&helm::Engine::new(), &a).expect("renders");
    assert_eq!(crd_of(&alone), ca);

    // A large text that does not read is an error every time (errors are not shared).
    let broken = big_crd("          bad: [unclosed\n");
    for name in ["gamma", "delta"] {
        let mut r = request(
            chart_with_crd(name, &broken),
            ApplicationSourceHelm::default(),
        );
        r.app_name = name.into();
        let e = renderer
            .render(r)
            .await
            .expect_err("a broken CRD file fails");
        assert!(e.to_string().contains("big.yaml"), "{e}");
    }
    assert_eq!(renderer.shared_texts(), 1);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let renderer = Renderer::with_config(RendererConfig {
        max_entries: 3,
        ..RendererConfig::default()
    });
    let base = request(repo_tree(), ApplicationSourceHelm::default());
    let at = |i: usize| RenderRequest {
        commit: format!("{i:040}"),
        ..base.clone()
    };
    for i in 0..5 {
        renderer.render(at(i)).await.expect("renders");
        assert!(renderer.cached() <= 3);
    }
    assert_eq!(renderer.renders(), 5);
    // The most recent stay; the oldest was evicted and renders again.
    renderer.render(at(4)).await.expect("renders");
    assert_eq!(renderer.renders(), 5);
    renderer.render(at(0)).await.expect("renders");
    assert_eq!(renderer.renders(), 6);

    // A byte bound below one result keeps nothing.
    let tiny = Renderer::with_config(RendererConfig {
        max_bytes: 10,
        ..RendererConfig::default()
    });
    tiny.render(at(0)).await.expect("renders");
    assert_eq!(tiny.cached(), 0);
    assert_eq!(tiny.cached_bytes(), 0);
}

#[tokio::test]
async fn lookup_answers_from_the_hook_and_is_not_cached() {
    let mut files = repo_tree();
    files.push(file(
        "charts/app/templates/secret.yaml",
        r#"{{- $s := lookup "v1" "Secret" .Release.Namespace "db" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-lookup
data:
  password: {{ dig "data" "password" "none" $s | quote }}
"#,
    ));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let hook = helm::LookupHook::new(move |api, kind, ns, name| {
        seen.fetch_add(1, Ordering::Relaxed);
        (api == "v1" && kind == "Secret" && ns == "env-a" && name == "db").then(|| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "namespace": "env-a"},
                "data": {"password": "c2VjcmV0"}
            })
        })
    });
    let renderer = Renderer::new();
    let mut req = request(files, ApplicationSourceHelm::default());
    let password = |r: &controller::render::Rendered| {
        r.manifests
            .iter()
            .find(|m| m.obj["metadata"]["name"] == "from-lookup")
            .map(|m| m.obj["data"]["password"].clone())
    };
    // Without a hook: Helm's offline answer, cached.
    let r = renderer.render(req.clone()).await.expect("renders");
    assert_eq!(password(&r), Some("none".into()));
    assert!(!r.used_lookup);
    renderer.render(req.clone()).await.expect("renders");
    assert_eq!(renderer.renders(), 1);

    req.lookup = Some(hook);
    let r = renderer.render(req.clone()).await.expect("renders");
    assert_eq!(password(&r), Some("c2VjcmV0".into()));
    assert!(r.used_lookup);
    renderer.render(req.clone()).await.expect("renders");
    assert_eq!(
        renderer.renders(),
        3,
        "renders that used lookup are not cached"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}
