//! `trellis deploy`: render a chart (or read a directory of plain manifests) and sync it into a
//! cluster with the sync engine, showing progress per wave and per object; exits 0 only when the
//! application ends Healthy. Also holds the manifest loading shared with `trellis diff`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sync::cache::ClusterCache;
use sync::cluster::Cluster;
use sync::engine::{App, Engine, Event, Progress, SyncOptions};
use sync::health::HealthStatus;
use sync::lua::CustomHealth;
use sync::object::{Manifest, manifests_from_yaml, parse_duration};
use sync::state::{OpPhase, ResultCode, StateStore};

/// Options shared by `deploy` and `diff`: what to render and where to.
#[derive(clap::Args, Debug, Clone)]
pub struct Source {
    /// Application (release) name; part of every object's tracking id.
    pub name: String,
    /// Chart directory, or a directory of YAML manifests.
    pub chart: PathBuf,
    /// Destination namespace.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Values files (charts only).
    #[arg(short = 'f', long = "values")]
    pub values: Vec<PathBuf>,
    /// Values on the command line, `a.b=c` (charts only).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Sync options, Argo CD style (`Validate=false`, `Replace=true`, `PruneLast=true`,
    /// `ApplyOutOfSyncOnly=true`, `PrunePropagationPolicy=background`, ...).
    #[arg(long = "sync-option")]
    pub sync_options: Vec<String>,
    /// Directory of custom Lua health checks (`<group>/<Kind>/health.lua`).
    #[arg(long)]
    pub health_checks: Option<PathBuf>,
    /// An Argo CD `argocd-cm` (or Trellis `trellis-cm`) ConfigMap file, YAML or JSON: its
    /// `resource.customizations.health.*` keys override the health checks, its
    /// `resource.customizations.ignoreDifferences.*` keys add ignore rules, and its
    /// `resource.exclusions` / `resource.inclusions` name kinds left alone.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep operation state in files in this directory instead of a ConfigMap in the namespace.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Ignore a difference, as Argo CD's `ignoreDifferences` with `jsonPointers`:
    /// `KIND[.GROUP][/NAME]=POINTER[,POINTER...]`, e.g. `Deployment.apps=/spec/replicas` or
    /// `ConfigMap/settings=/data/generated` (repeatable).
    #[arg(long = "ignore-difference", value_parser = parse_ignore_rule)]
    pub ignore_differences: Vec<sync::diff::IgnoreRule>,
}

/// Parses `KIND[.GROUP][/NAME]=POINTER[,POINTER...]` (kubectl's `kind.group/name` notation).
pub(crate) fn parse_ignore_rule(s: &str) -> Result<sync::diff::IgnoreRule, String> {
    let (target, pointers) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected KIND[.GROUP][/NAME]=POINTER[,POINTER...]"))?;
    let (kind_group, name) = match target.split_once('/') {
        Some((kg, n)) if !n.is_empty() => (kg, Some(n.to_string())),
        Some(_) => return Err(format!("{s:?}: empty object name after '/'")),
        None => (target, None),
    };
    let (kind, group) = kind_group.split_once('.').unwrap_or((kind_group, ""));
    if kind.is_empty() {
        return Err(format!("{s:?}: missing kind"));
    }
    let json_pointers: Vec<String> = pointers.split(',').map(str::to_string).collect();
    if let Some(bad) = json_pointers.iter().find(|p| !p.starts_with('/')) {
        return Err(format!(
            "{s:?}: {bad:?} is not a JSON pointer (it must start with '/')"
        ));
    }
    Ok(sync::diff::IgnoreRule {
        group: group.to_string(),
        kind: kind.to_string(),
        name,
        namespace: None,
        json_pointers,
        ..sync::diff::IgnoreRule::default()
    })
}

/// `trellis deploy` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// Delete objects of this application that are no longer rendered.
    #[arg(long)]
    pub prune: bool,
    /// Create the namespace if it does not exist.
    #[arg(long)]
    pub create_namespace: bool,
    /// How long to wait for the sync and for health (Go duration).
    #[arg(long, default_value = "5m")]
    pub timeout: String,
    /// Retries of a failed sync, with exponential backoff from 5s.
    #[arg(long, default_value_t = 0)]
    pub retry: u32,
    /// Revision recorded in the operation state.
    #[arg(long, default_value = "local")]
    pub revision: String,
}

/// Read the desired manifests: a chart is rendered by the helm crate (`is_upgrade` sets
/// `.Release.IsUpgrade`/`.Release.IsInstall` as Helm does on upgrade and install); any other
/// directory is read as YAML files (`*.yaml`, `*.yml`, `*.json`), recursively, in path order.
pub fn load_manifests(src: &Source, is_upgrade: bool) -> Result<Vec<Manifest>> {
    let path = &src.chart;
    if path.join("Chart.yaml").is_file() || path.extension().is_some_and(|e| e == "tgz") {
        return render_chart(src, is_upgrade);
    }
    if !src.values.is_empty() || !src.set.is_empty() {
        bail!(
            "-f/--set apply to charts only; {} is a directory of manifests",
            path.display()
        );
    }
    let mut files = Vec::new();
    collect_files(path, &mut files).with_context(|| format!("reading {}", path.display()))?;
    if files.is_empty() {
        bail!("{}: no YAML manifests found", path.display());
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        out.extend(manifests_from_yaml(&text, &f.display().to_string())?);
    }
    Ok(out)
}

/// Render a chart with the helm crate: its `crds/` first, then templates and hooks (hooks keep
/// their annotations; the sync engine plans them).
fn render_chart(src: &Source, is_upgrade: bool) -> Result<Vec<Manifest>> {
    let vopts = helm::ValueOptions {
        value_files: src.values.clone(),
        set: src.set.clone(),
        ..helm::ValueOptions::default()
    };
    let user_values = vopts.merge()?;
    let chart = helm::chart::load(&src.chart)?;
    let ropts = helm::RenderOptions {
        release_name: src.name.clone(),
        namespace: src.namespace.clone(),
        is_upgrade,
        ..helm::RenderOptions::default()
    };
    let rendered = helm::Engine::uncached().render(&chart, &user_values, &ropts)?;
    for w in &rendered.warnings {
        eprintln!("{w}");
    }
    let mut out = Vec::new();
    for crd in &rendered.crds {
        let text = String::from_utf8_lossy(&crd.data);
        out.extend(manifests_from_yaml(&text, &crd.filename)?);
    }
    for m in &rendered.manifests {
        out.extend(manifests_from_yaml(&m.content, &m.source)?);
    }
    for h in &rendered.hooks {
        out.extend(manifests_from_yaml(&h.content, &h.source)?);
    }
    Ok(out)
}

fn collect_files(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    for e in std::fs::read_dir(p)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Connect and build an engine for the source's cluster.
pub async fn engine_for(src: &Source) -> Result<Engine> {
    let cluster = Arc::new(Cluster::connect(src.kubeconfig.as_deref()).await?);
    let cache = Arc::new(ClusterCache::new(cluster.clone()));
    let store = match &src.state_dir {
        Some(d) => StateStore::Dir(d.clone()),
        None => StateStore::ConfigMap(cluster),
    };
    let health = match (&src.health_checks, &src.config) {
        (Some(d), None) => CustomHealth::load_dir(d)?,
        (None, None) => CustomHealth::empty(),
        (dir, Some(_)) => super::health::load_checks(dir.as_deref(), src.config.as_deref())?,
    };
    let engine = Engine::new(cache, store, health);
    if let Some(path) = &src.config {
        let origin = path.display().to_string();
        let mut filter = sync::exclusions::ResourceFilter::default();
        let mut rules = Vec::new();
        for cm in super::health::read_objects(path)? {
            let f = sync::exclusions::ResourceFilter::from_configmap(&cm, &origin)
                .map_err(anyhow::Error::msg)?;
            filter.exclusions.extend(f.exclusions);
            filter.inclusions.extend(f.inclusions);
            rules.extend(
                sync::diff::rules_from_configmap(&cm, &origin).map_err(anyhow::Error::msg)?,
            );
        }
        for problem in sync::diff::check_rules(&rules) {
            eprintln!("warning: {origin}: {problem} (skipped)");
        }
        engine.set_resource_filter(filter);
        engine.set_ignore_defaults(rules);
    }
    Ok(engine)
}

/// Warn about rendered objects whose kind the `--config` excludes (they are left alone), and
/// about unusable `ignoreDifferences` expressions.
pub fn warn_excluded(engine: &Engine, app: &App, manifests: &[Manifest]) {
    for key in engine.excluded(manifests) {
        eprintln!(
            "warning: {key}: not managed, its kind is excluded by resource.exclusions/resource.inclusions"
        );
    }
    for problem in sync::diff::check_rules(&app.ignore) {
        eprintln!("warning: {problem} (skipped)");
    }
}

/// A Tokio runtime for one command (two worker threads: the machines have two cores).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn run(args: Args) -> ExitCode {
    match runtime().and_then(|rt| rt.block_on(deploy(args))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub(crate) async fn deploy(args: Args) -> Result<ExitCode> {
    let timeout = parse_duration(&args.timeout)
        .with_context(|| format!("invalid --timeout {:?}", args.timeout))?;
    let mut options = SyncOptions {
        prune: args.prune,
        create_namespace: args.create_namespace,
        timeout,
        ..SyncOptions::default()
    };
    options.retry.limit = args.retry;
    options.apply_strings(args.source.sync_options.iter().map(String::as_str));
    let app = App {
        name: args.source.name.clone(),
        // `trellis deploy`'s application belongs to its destination namespace: the same name in
        // another namespace is another application.
        app_namespace: args.source.namespace.clone(),
        namespace: args.source.namespace.clone(),
        revision: args.revision.clone(),
        options,
        ignore: args.source.ignore_differences.clone(),
    };
    let engine = engine_for(&args.source).await?;
    // Render as Helm would for this release: an upgrade once the application has been synced.
    let is_upgrade = engine.is_upgrade(&app).await?;
    let manifests = load_manifests(&args.source, is_upgrade)?;
    warn_excluded(&engine, &app, &manifests);
    let started = Instant::now();
    let (progress, mut rx) = Progress::channel();
    let tty = std::io::stderr().is_terminal();
    let printer = tokio::spawn(async move {
        let bar = tty.then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let line = |s: String| match &bar {
            Some(b) => b.println(s),
            None => println!("{s}"),
        };
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Started {
                    total,
                    resumed,
                    first_sync,
                } => {
                    if let Some(b) = &bar {
                        b.set_length(total as u64);
                    }
                    let kind = if first_sync { "install" } else { "upgrade" };
                    line(format!(
                        "sync started ({kind}, {total} objects{})",
                        if resumed {
                            ", resuming an interrupted operation"
                        } else {
                            ""
                        }
                    ));
                }
                Event::Step {
                    phase,
                    wave,
                    objects,
                } => line(format!("{phase} wave {wave}: {objects} objects")),
                Event::Object {
                    key,
                    result,
                    message,
                } => {
                    if let Some(b) = &bar {
                        b.inc(1);
                        b.set_message(key.to_string());
                    }
                    line(format!("  {key}: {result:?} {message}"));
                }
                Event::Waiting(what) => match &bar {
                    Some(b) => b.set_message(format!("waiting for {what}")),
                    None => println!("  waiting for {what}"),
                },
                Event::Warning(w) => line(format!("  warning: {w}")),
                Event::Retrying {
                    attempt,
                    delay,
                    reason,
                } => line(format!("attempt {attempt} in {delay:?}: {reason}")),
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    });
    let outcome = engine.sync(&app, &manifests, &progress).await;
    drop(progress);
    let _ = printer.await;
    let outcome = outcome?;
    let failed = outcome
        .results
        .iter()
        .filter(|r| matches!(r.result, ResultCode::SyncFailed | ResultCode::HookFailed))
        .count();
    let (requests, _, writes, _) = engine.cluster().stats().snapshot();
    println!(
        "{}: sync {:?} ({}), health {}{} in {:.1}s ({} API requests, {} writes)",
        app.name,
        outcome.phase,
        outcome.message,
        outcome.health.status,
        if outcome.health.message.is_empty() {
            String::new()
        } else {
            format!(" ({})", outcome.health.message)
        },
        started.elapsed().as_secs_f64(),
        requests,
        writes
    );
    if failed > 0 {
        for r in outcome
            .results
            .iter()
            .filter(|r| matches!(r.result, ResultCode::SyncFailed | ResultCode::HookFailed))
        {
            eprintln!("  failed: {}: {}", r.key, r.message);
        }
    }
    let ok = outcome.phase == OpPhase::Succeeded && outcome.health.status == HealthStatus::Healthy;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    /// A chart whose ConfigMap says whether Helm rendered it as an install or an upgrade.
    fn release_mode_chart(dir: &Path) {
        std::fs::create_dir_all(dir.join("templates")).expect("chart dir");
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: mode\nversion: 0.1.0\n",
        )
        .expect("Chart.yaml");
        std::fs::write(
            dir.join("templates/mode.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-mode\ndata:\n  \
             mode: {{ if .Release.IsUpgrade }}upgrade{{ else }}install{{ end }}\n  \
             isInstall: {{ .Release.IsInstall | quote }}\n",
        )
        .expect("template");
    }

    fn args(chart: &Path, kubeconfig: &Path) -> Args {
        Args {
            source: Source {
                name: "rel".into(),
                chart: chart.to_path_buf(),
                namespace: "modes".into(),
                values: Vec::new(),
                set: Vec::new(),
                kubeconfig: Some(kubeconfig.to_path_buf()),
                sync_options: Vec::new(),
                health_checks: None,
                state_dir: None,
                ignore_differences: Vec::new(),
                config: None,
            },
            prune: false,
            create_namespace: true,
            timeout: "1m".into(),
            retry: 0,
            revision: "r".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn config_exclusions_leave_a_kind_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("chart");
        release_mode_chart(&chart);
        // The chart's ConfigMap kind is excluded by the argocd-cm given with --config.
        let config = dir.path().join("argocd-cm.yaml");
        std::fs::write(
            &config,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata:\n  \
             resource.exclusions: |\n    - apiGroups: [\"\"]\n      kinds: [ConfigMap]\n",
        )
        .expect("config");
        let cluster = devcluster::DevCluster::start()
            .await
            .expect("local API server");
        let mut a = args(&chart, cluster.kubeconfig_path());
        a.source.config = Some(config.clone());
        let code = deploy(a).await.expect("deploy");
        assert_eq!(code, ExitCode::SUCCESS);
        let cms: kube::Api<ConfigMap> = kube::Api::namespaced(cluster.client(), "modes");
        assert!(
            cms.get_opt("rel-mode").await.expect("get").is_none(),
            "an excluded kind is not applied"
        );
        // A bad exclusions list is an error naming the file.
        std::fs::write(
            &config,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata:\n  \
             resource.exclusions: \"- apiGroups: {a: b}\"\n",
        )
        .expect("config");
        let mut a = args(&chart, cluster.kubeconfig_path());
        a.source.config = Some(config.clone());
        let err = deploy(a).await.expect_err("invalid config").to_string();
        assert!(
            err.contains("argocd-cm.yaml") && err.contains("resource.exclusions"),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renders_as_install_first_and_as_upgrade_once_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("chart");
        release_mode_chart(&chart);
        let cluster = devcluster::DevCluster::start()
            .await
            .expect("local API server");
        let cms: kube::Api<ConfigMap> = kube::Api::namespaced(cluster.client(), "modes");
        let live = |cm: Option<ConfigMap>| {
            let data = cm.and_then(|c| c.data).unwrap_or_default();
            (
                data.get("mode").cloned().unwrap_or_default(),
                data.get("isInstall").cloned().unwrap_or_default(),
            )
        };

        let code = deploy(args(&chart, cluster.kubeconfig_path()))
            .await
            .expect("first deploy");
        assert_eq!(code, ExitCode::SUCCESS);
        let first = live(cms.get_opt("rel-mode").await.expect("get"));
        assert_eq!(first, ("install".to_string(), "true".to_string()));

        // A new process (fresh engine) finds the recorded state and renders an upgrade.
        let code = deploy(args(&chart, cluster.kubeconfig_path()))
            .await
            .expect("second deploy");
        assert_eq!(code, ExitCode::SUCCESS);
        let second = live(cms.get_opt("rel-mode").await.expect("get"));
        assert_eq!(second, ("upgrade".to_string(), "false".to_string()));
    }

    #[test]
    fn ignore_rules_parse_kubectl_notation() {
        let r = parse_ignore_rule("Deployment.apps/web=/spec/replicas,/metadata/labels/x")
            .expect("valid");
        assert_eq!(
            (r.kind.as_str(), r.group.as_str(), r.name.as_deref()),
            ("Deployment", "apps", Some("web"))
        );
        assert_eq!(r.json_pointers, ["/spec/replicas", "/metadata/labels/x"]);
        let r = parse_ignore_rule("ConfigMap=/data/x").expect("valid");
        assert_eq!(
            (r.kind.as_str(), r.group.as_str(), r.name),
            ("ConfigMap", "", None)
        );
        for bad in [
            "ConfigMap",
            "=/data",
            "ConfigMap=data/x",
            "ConfigMap/=/data",
        ] {
            assert!(parse_ignore_rule(bad).is_err(), "{bad} should be refused");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn diff_honours_ignore_difference_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("chart");
        release_mode_chart(&chart);
        let cluster = devcluster::DevCluster::start()
            .await
            .expect("local API server");
        let kc = cluster.kubeconfig_path().to_path_buf();
        // Twice: from then on the chart renders as an upgrade, as `diff` will.
        for _ in 0..2 {
            assert_eq!(
                deploy(args(&chart, &kc)).await.expect("deploy"),
                ExitCode::SUCCESS
            );
        }
        assert_eq!(
            crate::cmd::diff::diff(crate::cmd::diff::Args {
                source: args(&chart, &kc).source,
                color: "never".into(),
            })
            .await
            .expect("diff"),
            ExitCode::SUCCESS,
            "in sync right after the deploy"
        );
        // Someone else changes a field the chart sets.
        let cms: kube::Api<ConfigMap> = kube::Api::namespaced(cluster.client(), "modes");
        cms.patch(
            "rel-mode",
            &kube::api::PatchParams::apply("someone-else").force(),
            &kube::api::Patch::Apply(ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some("rel-mode".into()),
                    ..Default::default()
                },
                data: Some([("mode".to_string(), "edited".to_string())].into()),
                ..Default::default()
            }),
        )
        .await
        .expect("edit");
        let diff_args = |ignore: Vec<&str>| crate::cmd::diff::Args {
            source: Source {
                ignore_differences: ignore
                    .into_iter()
                    .map(|s| parse_ignore_rule(s).expect("rule"))
                    .collect(),
                ..args(&chart, &kc).source
            },
            color: "never".into(),
        };
        let plain = crate::cmd::diff::diff(diff_args(vec![]))
            .await
            .expect("diff");
        assert_eq!(plain, ExitCode::FAILURE, "the edited field is a difference");
        let ignored = crate::cmd::diff::diff(diff_args(vec!["ConfigMap=/data/mode"]))
            .await
            .expect("diff");
        assert_eq!(ignored, ExitCode::SUCCESS, "the ignored field is not");
        let other = crate::cmd::diff::diff(diff_args(vec!["ConfigMap/other=/data/mode"]))
            .await
            .expect("diff");
        assert_eq!(
            other,
            ExitCode::FAILURE,
            "a rule for another name does not apply"
        );
    }
}
