//! `trellis template`: render a chart exactly as `helm template` does — same flags,
//! same stdout bytes, same `Error: ...` on stderr and exit code 1 on failure, and
//! nothing on stdout when rendering fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use helm::render::OutputOptions;
use helm::{Engine, RenderOptions, ValueOptions};

/// `trellis template [NAME] CHART [flags]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Release name (optional; `release-name` when only CHART is given).
    #[arg(value_name = "NAME")]
    pub first: String,
    /// Chart directory or packaged `.tgz`.
    #[arg(value_name = "CHART")]
    pub second: Option<String>,
    /// Namespace of the release.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// Values files, in order (comma-separated lists allowed, as in Helm).
    #[arg(short = 'f', long = "values", value_delimiter = ',')]
    pub values: Vec<PathBuf>,
    /// Set values (`a.b=1,c[0]=x`).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Set STRING values.
    #[arg(long = "set-string")]
    pub set_string: Vec<String>,
    /// Set values from files (`key=path`).
    #[arg(long = "set-file")]
    pub set_file: Vec<String>,
    /// Set JSON values (`key=<json>`).
    #[arg(long = "set-json")]
    pub set_json: Vec<String>,
    /// Set a literal STRING value (no escaping or splitting).
    #[arg(long = "set-literal")]
    pub set_literal: Vec<String>,
    /// Include CRDs from `crds/` in the output.
    #[arg(long = "include-crds")]
    pub include_crds: bool,
    /// Accepted for compatibility (has no effect on template output, as in Helm).
    #[arg(long = "skip-crds")]
    pub skip_crds: bool,
    /// Skip test hooks.
    #[arg(long = "skip-tests")]
    pub skip_tests: bool,
    /// Do not print hooks.
    #[arg(long = "no-hooks")]
    pub no_hooks: bool,
    /// Render as an upgrade (`.Release.IsUpgrade`).
    #[arg(long = "is-upgrade")]
    pub is_upgrade: bool,
    /// Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long = "kube-version")]
    pub kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions`.
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    pub api_versions: Vec<String>,
    /// Only print manifests rendered from these templates (glob).
    #[arg(short = 's', long = "show-only")]
    pub show_only: Vec<String>,
    /// Write each template to files under this directory instead of stdout.
    #[arg(long = "output-dir")]
    pub output_dir: Option<PathBuf>,
    /// With `--output-dir`, put files under DIR/RELEASE.
    #[arg(long = "release-name")]
    pub use_release_name: bool,
    /// Skip `values.schema.json` validation.
    #[arg(long = "skip-schema-validation")]
    pub skip_schema_validation: bool,
    /// Accepted for compatibility.
    #[arg(long = "debug")]
    pub debug: bool,
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::FAILURE
}

pub fn run(args: Args) -> ExitCode {
    let (release, chart_path) = match &args.second {
        Some(chart) => (args.first.clone(), chart.clone()),
        None => ("release-name".to_string(), args.first.clone()),
    };
    if let Some(v) = &args.kube_version
        && let Err(e) = helm::objects::KubeVersion::parse(v)
    {
        return fail(&e);
    }
    let path = PathBuf::from(&chart_path);
    if !path.exists() {
        // Helm treats a bare name as a repository reference.
        if chart_path.contains('/') || chart_path.starts_with('.') {
            return fail(&format!("path {chart_path:?} not found"));
        }
        return fail(&format!(
            "non-absolute URLs should be in form of repo_name/path_to_chart, got: {chart_path}"
        ));
    }
    let vopts = ValueOptions {
        value_files: args.values.clone(),
        set_json: args.set_json.clone(),
        set: args.set.clone(),
        set_string: args.set_string.clone(),
        set_file: args.set_file.clone(),
        set_literal: args.set_literal.clone(),
    };
    let user_values = match vopts.merge() {
        Ok(v) => v,
        Err(e) => return fail(&e.to_string()),
    };
    let chart = match helm::chart::load(&path) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    if chart.metadata.deprecated {
        eprintln!("WARNING: This chart is deprecated");
    }
    let ropts = RenderOptions {
        release_name: release.clone(),
        namespace: args.namespace.clone(),
        is_upgrade: args.is_upgrade,
        kube_version: args.kube_version.clone(),
        api_versions: args.api_versions.clone(),
        skip_schema_validation: args.skip_schema_validation,
        ..RenderOptions::default()
    };
    let engine = Engine::new();
    let rendered = match engine.render(&chart, &user_values, &ropts) {
        Ok(r) => r,
        Err(e) => {
            let mut msg = e.to_string();
            if e.during_render() {
                msg.push_str("\n\nUse --debug flag to render out invalid YAML");
            }
            return fail(&msg);
        }
    };
    for w in &rendered.warnings {
        eprintln!("{w}");
    }
    let oopts = OutputOptions {
        include_crds: args.include_crds,
        skip_tests: args.skip_tests,
        no_hooks: args.no_hooks,
        show_only: args.show_only.clone(),
    };
    let text = if let Some(dir) = &args.output_dir {
        let dir = if args.use_release_name {
            dir.join(&release)
        } else {
            dir.clone()
        };
        let log = match rendered.write_output_dir(&dir, &oopts) {
            Ok(l) => l,
            Err(e) => return fail(&e.to_string()),
        };
        format!("{log}\n")
    } else {
        match rendered.to_helm_output(&oopts) {
            Ok(t) => t,
            Err(e) => return fail(&e.to_string()),
        }
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
