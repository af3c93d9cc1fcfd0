//! `trellis import argocd`: our own Argo CD Applications and ApplicationSets, shaped like the
//! examples of Argo CD's documentation (a Helm Application, multiple sources, Kustomize, a chart
//! from a Helm repository; list, pull request, SCM provider and git generators, fasttemplate and Go
//! template parameters), run through the real binary. The printed documents must parse back as
//! Trellis types with the expected fields, and what has no equivalent must be warned about.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use controller::types::{Application, EnvironmentSet};
use serde_json::Value;

fn trellis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(args)
        .output()
        .expect("run trellis")
}

fn write(dir: &Path, rel: &str, text: &str) -> String {
    let p = dir.join(rel);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The printed documents, by kind.
fn documents(out: &Output) -> (Vec<Application>, Vec<EnvironmentSet>) {
    let text = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("the output is YAML");
    let mut apps = Vec::new();
    let mut sets = Vec::new();
    for d in docs {
        assert_eq!(d["apiVersion"], "trellis.dev/v1alpha1", "{d}");
        match d["kind"].as_str() {
            Some("Application") => {
                apps.push(serde_json::from_value(d).expect("a Trellis Application"))
            }
            Some("EnvironmentSet") => {
                let set: EnvironmentSet =
                    serde_json::from_value(d).expect("a Trellis EnvironmentSet");
                // What the controller checks before making environments.
                controller::naming::validate_namespace_template(&set.spec.namespace_template)
                    .expect("a namespaceTemplate the controller accepts");
                regex::Regex::new(&set.spec.branches.include).expect("branches.include compiles");
                sets.push(set);
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
    (apps, sets)
}

fn name(app: &Application) -> &str {
    app.metadata.name.as_deref().unwrap_or_default()
}

const HELM_APP: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: storefront
  namespace: argocd
  labels: {team: shop}
  annotations:
    argocd.argoproj.io/sync-wave: "2"
    owner: shop-team
  finalizers:
    - resources-finalizer.argocd.argoproj.io
spec:
  project: shop
  source:
    repoURL: https://git.example.org/shop/storefront.git
    path: deploy/chart
    targetRevision: v1.4.0
    helm:
      releaseName: storefront
      valueFiles: [values-prod.yaml]
      parameters:
        - name: image.tag
          value: "1.4.0"
        - name: replicaCount
          value: "3"
          forceString: true
      values: |
        ingress:
          enabled: true
      skipCrds: true
  destination:
    server: https://kubernetes.default.svc
    namespace: shop
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
      allowEmpty: false
    syncOptions: [CreateNamespace=true, PruneLast=true]
    retry:
      limit: 5
      backoff: {duration: 5s, factor: 2, maxDuration: 3m}
  ignoreDifferences:
    - group: apps
      kind: Deployment
      jsonPointers: [/spec/replicas]
    - kind: ConfigMap
      jqPathExpressions: ['.data["generated"]']
  revisionHistoryLimit: 3
  info:
    - name: docs
      value: https://wiki.example.org/storefront
"#;

#[test]
fn a_helm_application_keeps_its_fields_and_names_what_is_dropped() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let file = write(dir.path(), "app.yaml", HELM_APP);
    let out = trellis(&["import", "argocd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (apps, sets) = documents(&out);
    assert!(sets.is_empty());
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(name(app), "storefront");
    assert_eq!(app.metadata.namespace.as_deref(), Some("trellis"));
    let labels = app.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
    let annotations = app.metadata.annotations.as_ref().expect("annotations");
    assert!(annotations.contains_key("owner"));
    assert!(!annotations.contains_key("argocd.argoproj.io/sync-wave"));
    let spec = &app.spec;
    assert_eq!(spec.project, "shop");
    assert_eq!(
        spec.source.repo_url,
        "https://git.example.org/shop/storefront.git"
    );
    assert_eq!(spec.source.path, "deploy/chart");
    assert_eq!(spec.source.target_revision.as_deref(), Some("v1.4.0"));
    let helm = spec.source.helm.as_ref().expect("helm");
    assert_eq!(helm.release_name.as_deref(), Some("storefront"));
    assert_eq!(helm.value_files, ["values-prod.yaml"]);
    assert_eq!(helm.parameters.len(), 2);
    assert_eq!(helm.parameters[0].name, "image.tag");
    assert_eq!(helm.parameters[0].value, "1.4.0");
    assert!(helm.parameters[1].force_string);
    assert_eq!(helm.values.as_deref(), Some("ingress:\n  enabled: true\n"));
    assert_eq!(spec.destination.namespace.as_deref(), Some("shop"));
    assert_eq!(
        spec.destination.server.as_deref(),
        Some("https://kubernetes.default.svc")
    );
    let policy = spec.sync_policy.as_ref().expect("syncPolicy");
    let auto = policy.automated.as_ref().expect("automated");
    assert!(auto.prune && auto.self_heal);
    assert_eq!(
        policy.sync_options,
        ["CreateNamespace=true", "PruneLast=true"]
    );
    let retry = policy.retry.as_ref().expect("retry");
    assert_eq!(retry.limit, Some(5));
    let backoff = retry.backoff.as_ref().expect("backoff");
    assert_eq!(backoff.duration.as_deref(), Some("5s"));
    assert_eq!(backoff.factor, Some(2));
    assert_eq!(backoff.max_duration.as_deref(), Some("3m"));
    assert_eq!(spec.ignore_differences.len(), 2);
    assert_eq!(spec.ignore_differences[0].json_pointers, ["/spec/replicas"]);
    assert_eq!(
        spec.ignore_differences[1].jq_path_expressions,
        [r#".data["generated"]"#]
    );
    assert_eq!(spec.revision_history_limit, Some(3));

    let prefix = format!("warning: {file}: Application storefront: ");
    for what in [
        "finalizer resources-finalizer.argocd.argoproj.io has no Trellis equivalent; ",
        "annotation argocd.argoproj.io/sync-wave has no Trellis equivalent; dropped",
        "source.helm.skipCrds has no Trellis equivalent; dropped",
        "syncPolicy.automated.allowEmpty has no Trellis equivalent; ",
        "spec.info has no Trellis equivalent; dropped",
    ] {
        assert!(err.contains(&format!("{prefix}{what}")), "{what}\n{err}");
    }
    // ignoreDifferences are applied as Argo CD applies them: no warning.
    assert!(!err.contains("ignoreDifferences"), "{err}");
    // The warnings are also comments above the document.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# warning: Application storefront: spec.info has no Trellis"));
}

const UNSUPPORTED_SOURCES: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: billing, namespace: argocd}
spec:
  project: default
  sources:
    - repoURL: https://git.example.org/shop/charts.git
      path: billing
      targetRevision: main
      helm:
        valueFiles: [$values/billing/values-prod.yaml]
    - repoURL: https://git.example.org/shop/config.git
      targetRevision: main
      ref: values
  destination: {server: https://kubernetes.default.svc, namespace: billing}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: workflows, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://git.example.org/platform/addons.git
    path: argo-workflows
    targetRevision: HEAD
    kustomize:
      namePrefix: prod-
  destination: {server: https://kubernetes.default.svc, namespace: workflows}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: redis, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://charts.example.org/stable
    chart: redis
    targetRevision: 17.3.2
  destination: {server: https://kubernetes.default.svc, namespace: cache}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: tooling, namespace: argocd}
spec:
  source:
    repoURL: https://git.example.org/platform/tools.git
    path: manifests
    plugin:
      name: envsubst
  destination: {server: https://kubernetes.default.svc, namespace: tools}
"#;

#[test]
fn multiple_sources_kustomize_plugins_and_helm_repositories_are_warned_about() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let file = write(dir.path(), "apps.yaml", UNSUPPORTED_SOURCES);
    let out = trellis(&["import", "argocd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (apps, _) = documents(&out);
    let names: Vec<&str> = apps.iter().map(name).collect();
    // The Helm repository chart cannot be deployed from git: not converted.
    assert_eq!(names, ["billing", "workflows", "tooling"]);
    assert_eq!(
        apps[0].spec.source.repo_url,
        "https://git.example.org/shop/charts.git"
    );
    assert_eq!(apps[0].spec.source.path, "billing");
    assert_eq!(apps[1].spec.source.path, "argo-workflows");
    assert_eq!(apps[2].spec.project, "default", "project defaults");
    for what in [
        "Application billing: spec.sources (multiple sources, 2 of them) has no Trellis equivalent; kept sources[0]",
        "Application workflows: source.kustomize (Kustomize) has no Trellis equivalent; dropped",
        "Application redis: source.chart redis (a chart from a Helm repository) has no Trellis equivalent; not converted",
        "Application tooling: source.plugin (a config management plugin) has no Trellis equivalent; dropped",
    ] {
        assert!(
            err.contains(&format!("warning: {file}: {what}")),
            "{what}\n{err}"
        );
    }
}

const LIST_SETS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook, namespace: argocd}
spec:
  generators:
    - list:
        elements:
          - cluster: engineering-dev
            url: https://10.0.0.1
            replicas: 1
          - cluster: engineering-prod
            url: https://10.0.0.2
            replicas: 3
  template:
    metadata:
      name: '{{cluster}}-guestbook'
    spec:
      project: my-project
      source:
        repoURL: https://git.example.org/demo/apps.git
        targetRevision: HEAD
        path: 'guestbook/{{ cluster }}'
        helm:
          parameters:
            - name: replicaCount
              value: '{{replicas}}'
      destination:
        server: '{{url}}'
        namespace: guestbook
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: addons, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - list:
        elements:
          - name: metrics
            env: {tier: staging}
  template:
    metadata:
      name: '{{.name}}-{{.env.tier}}'
    spec:
      project: default
      source:
        repoURL: https://git.example.org/demo/addons.git
        path: 'charts/{{.name}}'
        helm:
          releaseName: '{{ .name | lower }}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{.env.tier}}'
"#;

#[test]
fn a_list_generator_makes_one_application_per_element() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let file = write(dir.path(), "list.yaml", LIST_SETS);
    let out = trellis(&["import", "argocd", "-n", "cd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (apps, sets) = documents(&out);
    assert!(sets.is_empty());
    let names: Vec<&str> = apps.iter().map(name).collect();
    assert_eq!(
        names,
        [
            "engineering-dev-guestbook",
            "engineering-prod-guestbook",
            "metrics-staging"
        ]
    );
    assert_eq!(apps[0].metadata.namespace.as_deref(), Some("cd"));
    assert_eq!(apps[0].spec.source.path, "guestbook/engineering-dev");
    assert_eq!(
        apps[1].spec.destination.server.as_deref(),
        Some("https://10.0.0.2")
    );
    let helm = apps[1].spec.source.helm.as_ref().expect("helm");
    assert_eq!(helm.parameters[0].value, "3");
    assert_eq!(apps[1].spec.project, "my-project");
    // Go template: paths into the element; a pipeline is left as written, with a warning.
    let addon = &apps[2];
    assert_eq!(addon.spec.source.path, "charts/metrics");
    assert_eq!(addon.spec.destination.namespace.as_deref(), Some("staging"));
    assert!(
        err.contains(&format!(
            "warning: {file}: Application metrics-staging: placeholder {{{{ .name | lower }}}} has no Trellis equivalent; left as written"
        )),
        "{err}"
    );
    assert!(
        err.contains("ApplicationSet addons: spec.goTemplateOptions has no Trellis equivalent")
    );
}

const PULL_REQUESTS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: previews, namespace: argocd, labels: {team: web}}
spec:
  generators:
    - pullRequest:
        github:
          owner: myorg
          repo: myapp
          tokenRef: {secretName: github-token, key: token}
          labels: [preview]
        filters:
          - branchMatch: ".*-preview"
        requeueAfterSeconds: 1800
  template:
    metadata:
      name: 'myapp-{{branch}}-{{number}}'
      labels: {preview: "true"}
    spec:
      source:
        repoURL: https://github.com/myorg/myapp.git
        targetRevision: '{{head_sha}}'
        path: kubernetes/
        helm:
          parameters:
            - name: image.tag
              value: 'pull-{{head_sha}}'
            - name: ingress.host
              value: '{{branch_slug}}.preview.example.org'
      project: default
      destination:
        server: https://kubernetes.default.svc
        namespace: 'preview-{{branch_slug}}'
      syncPolicy:
        automated: {prune: true, selfHeal: true}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: reviews, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - pullRequest:
        gitlab:
          project: "1234"
          pullRequestState: opened
        filters:
          - branchMatch: "^feat/"
          - branchMatch: "^fix/"
  template:
    metadata:
      name: 'api-{{.number}}'
    spec:
      project: '{{.branch_slug}}'
      source:
        repoURL: https://gitlab.example.org/team/api.git
        targetRevision: '{{.branch}}'
        path: chart
      destination:
        server: https://kubernetes.default.svc
        namespace: 'api-{{.branch}}-{{.number}}'
"#;

#[test]
fn a_pull_request_generator_becomes_an_environment_set() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let file = write(dir.path(), "prs.yaml", PULL_REQUESTS);
    let out = trellis(&["import", "argocd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (apps, sets) = documents(&out);
    assert!(apps.is_empty());
    assert_eq!(sets.len(), 2);

    let set = &sets[0];
    assert_eq!(set.metadata.name.as_deref(), Some("previews"));
    assert_eq!(set.metadata.namespace.as_deref(), Some("trellis"));
    let labels = set
        .metadata
        .labels
        .as_ref()
        .expect("the ApplicationSet's labels");
    assert_eq!(labels.get("team").map(String::as_str), Some("web"));
    assert_eq!(set.spec.branches.include, ".*-preview");
    assert_eq!(set.spec.namespace_template, "preview-{{branch_slug}}");
    assert_eq!(set.spec.project.as_deref(), Some("default"));
    assert_eq!(set.spec.services.len(), 1);
    let svc = &set.spec.services[0];
    assert_eq!(svc.name, "myapp");
    assert_eq!(svc.source.repo_url, "https://github.com/myorg/myapp.git");
    assert_eq!(svc.source.path, "kubernetes/");
    assert_eq!(svc.source.target_revision, None, "follows the branch");
    let helm = svc.source.helm.as_ref().expect("helm");
    assert_eq!(helm.parameters[0].value, "pull-$TRELLIS_APP_REVISION");
    assert_eq!(
        helm.parameters[1].value, "{{branch_slug}}.preview.example.org",
        "no Trellis variable for the slug: left as written"
    );
    let auto = set
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref())
        .expect("automated");
    assert!(auto.prune && auto.self_heal);
    let prefix = format!("warning: {file}: ApplicationSet previews: ");
    for what in [
        "pullRequest.github.labels (pull request labels) has no Trellis equivalent; dropped",
        "pullRequest.github.tokenRef has no Trellis equivalent; dropped",
        "template.metadata.labels has no Trellis equivalent; dropped",
        "the pull request generator's open pull request condition has no Trellis equivalent; ",
        "placeholder {{branch_slug}} in source.helm has no Trellis equivalent; left as written",
    ] {
        assert!(err.contains(&format!("{prefix}{what}")), "{what}\n{err}");
    }

    // Go template: `{{.branch}}`; the PR number has no equivalent; filters are ORed.
    let set = &sets[1];
    assert_eq!(set.spec.branches.include, "(?:^feat/)|(?:^fix/)");
    assert_eq!(
        set.spec.namespace_template,
        "api-{{branch}}-{{branch_slug}}"
    );
    assert_eq!(set.spec.project, None);
    let svc = &set.spec.services[0];
    assert_eq!(svc.name, "api");
    assert_eq!(svc.source.target_revision, None);
    assert!(
        err.contains(
            "ApplicationSet reviews: placeholder {{.number}} in destination.namespace has no Trellis equivalent; replaced by {{branch_slug}}"
        ),
        "{err}"
    );
    assert!(err.contains(
        "ApplicationSet reviews: project {{.branch_slug}} (templated) has no Trellis equivalent"
    ));
}

const SCM_AND_GIT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: storefront-branches, namespace: argocd}
spec:
  generators:
    - scmProvider:
        cloneProtocol: https
        github:
          organization: myorg
          allBranches: true
        filters:
          - repositoryMatch: ^storefront$
            branchMatch: ^feature/
            pathsExist: [chart]
  template:
    metadata:
      name: '{{repository}}-{{branchNormalized}}'
    spec:
      source:
        repoURL: '{{url}}'
        targetRevision: '{{branch}}'
        path: chart
        helm:
          parameters:
            - {name: image.tag, value: '{{sha}}'}
      project: default
      destination:
        server: https://kubernetes.default.svc
        namespace: 'store-{{branchNormalized}}'
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: org-wide, namespace: argocd}
spec:
  generators:
    - scmProvider:
        github: {organization: myorg}
        filters:
          - repositoryMatch: ^svc-
  template:
    metadata: {name: '{{repository}}'}
    spec:
      source: {repoURL: '{{url}}', targetRevision: '{{branch}}', path: deploy}
      project: default
      destination: {server: https://kubernetes.default.svc, namespace: '{{repository}}'}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: cluster-addons, namespace: argocd}
spec:
  generators:
    - git:
        repoURL: https://git.example.org/platform/addons.git
        revision: HEAD
        directories:
          - path: addons/*
  template:
    metadata: {name: '{{path.basename}}'}
    spec:
      project: default
      source:
        repoURL: https://git.example.org/platform/addons.git
        targetRevision: HEAD
        path: '{{path}}'
      destination: {server: https://kubernetes.default.svc, namespace: '{{path.basename}}'}
"#;

#[test]
fn scm_provider_over_one_repository_becomes_an_environment_set_and_git_generators_are_explained() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let file = write(dir.path(), "scm.yaml", SCM_AND_GIT);
    let out = trellis(&["import", "argocd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (apps, sets) = documents(&out);
    assert!(apps.is_empty());
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.metadata.name.as_deref(), Some("storefront-branches"));
    assert_eq!(set.spec.branches.include, "^feature/");
    assert_eq!(set.spec.namespace_template, "store-{{branch_slug}}");
    let svc = &set.spec.services[0];
    assert_eq!(
        svc.source.repo_url,
        "https://github.com/myorg/storefront.git"
    );
    assert_eq!(svc.source.target_revision, None);
    let helm = svc.source.helm.as_ref().expect("helm");
    assert_eq!(helm.parameters[0].value, "$TRELLIS_APP_REVISION");
    for what in [
        "ApplicationSet storefront-branches: scmProvider.filters[0].pathsExist has no Trellis equivalent; dropped",
        "ApplicationSet org-wide: repository discovery (the scmProvider generator) has no Trellis equivalent; no EnvironmentSet was made",
        "ApplicationSet cluster-addons: the git directories generator (generators[0], https://git.example.org/platform/addons.git addons/*) has no Trellis equivalent; no Application was made",
    ] {
        assert!(
            err.contains(&format!("warning: {file}: {what}")),
            "{what}\n{err}"
        );
    }
}

#[test]
fn nothing_convertible_and_foreign_documents_fail_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp dir");
    // Only a git generator: nothing to print.
    let git_only = write(
        dir.path(),
        "git.yaml",
        SCM_AND_GIT.split("\n---\n").nth(2).expect("third document"),
    );
    let out = trellis(&["import", "argocd", &git_only]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("nothing could be converted"));

    // A ConfigMap next to an Application: the Application is still printed.
    let mixed = write(
        dir.path(),
        "mixed.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n---\n{HELM_APP}"),
    );
    let not_yaml = write(dir.path(), "notes.txt", "just: [unclosed\n");
    let out = trellis(&["import", "argocd", &mixed, &not_yaml]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "Error: {mixed}: document 1: not an Argo CD Application or ApplicationSet"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("Error: {not_yaml}")), "{err}");
    let (apps, _) = documents(&out);
    assert_eq!(apps.len(), 1);
}

#[test]
fn reads_json() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let doc: Value = serde_saphyr::from_str(HELM_APP).expect("YAML");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [doc]});
    let file = write(dir.path(), "apps.json", &list.to_string());
    let out = trellis(&["import", "argocd", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (apps, _) = documents(&out);
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].spec.revision_history_limit, Some(3));
}

#[test]
fn reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["import", "argocd", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trellis");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(HELM_APP.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    let (apps, _) = documents(&out);
    assert_eq!(apps.len(), 1);
    assert!(stderr(&out).contains("warning: -: Application storefront: "));
}

#[test]
fn one_namespace_for_every_pull_request_becomes_one_per_branch() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let shared = PULL_REQUESTS
        .split("\n---\n")
        .next()
        .expect("first document")
        .replace("namespace: 'preview-{{branch_slug}}'", "namespace: default");
    let file = write(dir.path(), "shared.yaml", &shared);
    let out = trellis(&["import", "argocd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (_, sets) = documents(&out);
    assert_eq!(sets[0].spec.namespace_template, "{{branch}}");
    assert!(
        err.contains(&format!(
            "warning: {file}: ApplicationSet previews: destination.namespace default is the same for every branch"
        )),
        "{err}"
    );
}

#[test]
fn server_side_diff_and_all_ignore_differences_forms_are_taken_without_warnings() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let file = write(
        dir.path(),
        "app.yaml",
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: hpa-app
  namespace: argocd
  annotations:
    argocd.argoproj.io/compare-options: ServerSideDiff=true
spec:
  project: default
  source: {repoURL: "https://git.example.org/shop/charts.git", path: web, targetRevision: main}
  destination: {server: "https://kubernetes.default.svc", namespace: shop}
  ignoreDifferences:
    - group: apps
      kind: Deployment
      managedFieldsManagers: [hpa-controller]
      jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == "istio-proxy")']
"#,
    );
    let out = trellis(&["import", "argocd", &file]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let (apps, _) = documents(&out);
    let rule = &apps[0].spec.ignore_differences[0];
    assert_eq!(rule.managed_fields_managers, ["hpa-controller"]);
    assert_eq!(rule.jq_path_expressions.len(), 1);
    assert!(!err.contains("ignoreDifferences"), "{err}");
    assert!(
        err.contains("compare-options dropped: Trellis always diffs server-side")
            && !err.contains("compare-options has no Trellis equivalent"),
        "{err}"
    );
}
