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
// pflag semantics: a flag given twice takes its last value (lists still accumulate).
#[command(args_override_self = true)]
pub struct Args {
    /// Release name (optional; `release-name` when only CHART is given).
    #[arg(value_name = "NAME")]
    pub first: String,
    /// Chart directory or packaged `.tgz`.
    #[arg(value_name = "CHART")]
    pub second: Option<String>,
    /// Anything after CHART is an error, reported as Helm reports it.
    #[arg(hide = true, trailing_var_arg = false)]
    pub extra: Vec<String>,
    /// Use `release-name` as the release name (Helm's `helm template` default); no NAME allowed.
    #[arg(short = 'g', long = "generate-name", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set,
          value_parser = go_bool)]
    pub generate_name: bool,
    /// Render the release name from a Go template (Sprig functions available); no NAME allowed.
    #[arg(long = "name-template", allow_hyphen_values = true)]
    pub name_template: Option<String>,
    /// Namespace of the release (else $HELM_NAMESPACE, else the kubeconfig context's, else
    /// `default`, as Helm picks it).
    #[arg(short = 'n', long = "namespace", allow_hyphen_values = true)]
    pub namespace: Option<String>,
    /// Values files, in order (comma-separated lists allowed, as in Helm).
    #[arg(
        short = 'f',
        long = "values",
        allow_hyphen_values = true,
        value_delimiter = ','
    )]
    pub values: Vec<PathBuf>,
    /// Set values (`a.b=1,c[0]=x`).
    #[arg(long = "set", allow_hyphen_values = true)]
    pub set: Vec<String>,
    /// Set STRING values.
    #[arg(long = "set-string", allow_hyphen_values = true)]
    pub set_string: Vec<String>,
    /// Set values from files (`key=path`).
    #[arg(long = "set-file", allow_hyphen_values = true)]
    pub set_file: Vec<String>,
    /// Set JSON values (`key=<json>`).
    #[arg(long = "set-json", allow_hyphen_values = true)]
    pub set_json: Vec<String>,
    /// Set a literal STRING value (no escaping or splitting).
    #[arg(long = "set-literal", allow_hyphen_values = true)]
    pub set_literal: Vec<String>,
    /// Include CRDs from `crds/` in the output.
    #[arg(long = "include-crds", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub include_crds: bool,
    /// Accepted for compatibility (has no effect on template output, as in Helm).
    #[arg(long = "skip-crds", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub skip_crds: bool,
    /// Skip test hooks.
    #[arg(long = "skip-tests", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub skip_tests: bool,
    /// Do not print hooks.
    #[arg(long = "no-hooks", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub no_hooks: bool,
    /// Render as an upgrade (`.Release.IsUpgrade`).
    #[arg(long = "is-upgrade", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub is_upgrade: bool,
    /// Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long = "kube-version", allow_hyphen_values = true)]
    pub kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions`.
    #[arg(
        short = 'a',
        long = "api-versions",
        allow_hyphen_values = true,
        value_delimiter = ','
    )]
    pub api_versions: Vec<String>,
    /// Only print manifests rendered from these templates (glob).
    #[arg(short = 's', long = "show-only", allow_hyphen_values = true)]
    pub show_only: Vec<String>,
    /// Write each template to files under this directory instead of stdout.
    #[arg(long = "output-dir", allow_hyphen_values = true)]
    pub output_dir: Option<PathBuf>,
    /// With `--output-dir`, put files under DIR/RELEASE.
    #[arg(long = "release-name", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub use_release_name: bool,
    /// Skip `values.schema.json` validation.
    #[arg(long = "skip-schema-validation", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub skip_schema_validation: bool,
    /// On a render error, print what was rendered (Helm's debug log lines are not reproduced).
    #[arg(long = "debug", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set, value_parser = go_bool)]
    pub debug: bool,
    #[command(flatten)]
    pub compat: HelmCompat,
}

/// Flags `helm template` accepts that do not change what it prints (install-time, repository and
/// cluster-connection options): accepted and ignored, so scripts written for Helm keep working.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Accepted for compatibility with helm template (no effect)")]
pub struct HelmCompat {
    #[arg(long = "dry-run", num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: Option<String>,
    #[arg(long = "force", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub force: Option<bool>,
    /// Read at start-up as Helm's registry client reads it (an unreadable file is an error).
    #[arg(long = "ca-file", allow_hyphen_values = true)]
    pub ca_file: Option<String>,
    /// Not supported: needs a cluster (`--validate`) or a keyring and provenance (`--verify`).
    #[arg(long = "validate", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub validate: Option<bool>,
    #[arg(long = "verify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub verify: Option<bool>,
    #[arg(long = "atomic", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub atomic: Option<bool>,
    #[arg(long = "wait", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub wait: Option<bool>,
    #[arg(long = "wait-for-jobs", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub wait_for_jobs: Option<bool>,
    #[arg(long = "replace", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub replace: Option<bool>,
    #[arg(long = "create-namespace", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub create_namespace: Option<bool>,
    #[arg(long = "dependency-update", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub dependency_update: Option<bool>,
    #[arg(long = "devel", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub devel: Option<bool>,
    #[arg(long = "disable-openapi-validation", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub disable_openapi_validation: Option<bool>,
    #[arg(long = "render-subchart-notes", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub render_subchart_notes: Option<bool>,
    #[arg(long = "enable-dns", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub enable_dns: Option<bool>,
    #[arg(long = "hide-notes", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub hide_notes: Option<bool>,
    #[arg(long = "take-ownership", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub take_ownership: Option<bool>,
    #[arg(long = "insecure-skip-tls-verify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub insecure_skip_tls_verify: Option<bool>,
    #[arg(long = "pass-credentials", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub pass_credentials: Option<bool>,
    #[arg(long = "plain-http", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub plain_http: Option<bool>,
    #[arg(long = "kube-insecure-skip-tls-verify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub kube_insecure_skip_tls_verify: Option<bool>,
    #[arg(long = "description", allow_hyphen_values = true)]
    pub description: Option<String>,
    #[arg(long = "timeout", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    #[arg(long = "version", allow_hyphen_values = true)]
    pub version: Option<String>,
    #[arg(long = "labels", allow_hyphen_values = true)]
    pub labels: Vec<String>,
    /// An executable that rewrites the rendered manifests (stdin to stdout), as Helm's.
    #[arg(long = "post-renderer", allow_hyphen_values = true)]
    pub post_renderer: Option<String>,
    #[arg(long = "post-renderer-args", allow_hyphen_values = true)]
    pub post_renderer_args: Vec<String>,
    #[arg(long = "repo", allow_hyphen_values = true)]
    pub repo: Option<String>,
    #[arg(long = "username", allow_hyphen_values = true)]
    pub username: Option<String>,
    #[arg(long = "password", allow_hyphen_values = true)]
    pub password: Option<String>,
    #[arg(long = "keyring", allow_hyphen_values = true)]
    pub keyring: Option<String>,
    #[arg(long = "cert-file", allow_hyphen_values = true)]
    pub cert_file: Option<String>,
    #[arg(long = "key-file", allow_hyphen_values = true)]
    pub key_file: Option<String>,
    #[arg(long = "kubeconfig", allow_hyphen_values = true)]
    pub kubeconfig: Option<String>,
    #[arg(long = "kube-context", allow_hyphen_values = true)]
    pub kube_context: Option<String>,
    #[arg(long = "kube-apiserver", allow_hyphen_values = true)]
    pub kube_apiserver: Option<String>,
    #[arg(long = "kube-as-user", allow_hyphen_values = true)]
    pub kube_as_user: Option<String>,
    #[arg(long = "kube-as-group", allow_hyphen_values = true)]
    pub kube_as_group: Vec<String>,
    #[arg(long = "kube-token", allow_hyphen_values = true)]
    pub kube_token: Option<String>,
    #[arg(long = "kube-ca-file", allow_hyphen_values = true)]
    pub kube_ca_file: Option<String>,
    #[arg(long = "kube-tls-server-name", allow_hyphen_values = true)]
    pub kube_tls_server_name: Option<String>,
    #[arg(long = "burst-limit", allow_hyphen_values = true)]
    pub burst_limit: Option<String>,
    #[arg(long = "qps", allow_hyphen_values = true)]
    pub qps: Option<String>,
    #[arg(long = "registry-config", allow_hyphen_values = true)]
    pub registry_config: Option<String>,
    #[arg(long = "repository-cache", allow_hyphen_values = true)]
    pub repository_cache: Option<String>,
    #[arg(long = "repository-config", allow_hyphen_values = true)]
    pub repository_config: Option<String>,
}

/// Go's `strconv.ParseBool`, as pflag parses `--flag=VALUE` for boolean flags.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// Reports a command-line error of `trellis template` as Helm (cobra/pflag) does: one
/// `Error: ...` line and exit code 1. `--help`/`--version` and other subcommands keep clap's output.
pub fn usage_error(e: clap::Error, argv: &[String]) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let ctx = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(" "),
        _ => String::new(),
    };
    let flag_name = |arg: String| {
        arg.split(['=', ' ', '['])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = ctx(ContextKind::InvalidArg);
            if let Some(long) = arg.strip_prefix("--") {
                format!("unknown flag: --{}", long.split('=').next().unwrap_or_default())
            } else if let Some(short) = arg.strip_prefix('-') {
                // pflag names the whole token the user wrote (`-xn`), clap only the letter.
                let c = short.chars().next().unwrap_or('-');
                let token = argv
                    .iter()
                    .find(|a| !a.starts_with("--") && a.starts_with(&format!("-{c}")))
                    .cloned()
                    .unwrap_or(arg.clone());
                format!("unknown shorthand flag: '{c}' in {token}")
            } else {
                format!("expected at most two arguments, unexpected arguments: {arg}")
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = ctx(ContextKind::InvalidValue);
            let flag = flag_name(ctx(ContextKind::InvalidArg));
            if e.kind() == ErrorKind::InvalidValue && value.is_empty() {
                // A valued flag at the end of the line: say it as the user wrote it.
                match argv.last().map(String::as_str) {
                    Some(last) if last.starts_with("--") => format!("flag needs an argument: {last}"),
                    Some(last) if last.starts_with('-') => format!(
                        "flag needs an argument: '{}' in {last}",
                        last.chars().last().unwrap_or('-')
                    ),
                    _ => format!("flag needs an argument: {flag}"),
                }
            } else {
                let why = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "invalid syntax".to_string());
                format!("invalid argument {value:?} for {flag:?} flag: {why}")
            }
        }
        ErrorKind::MissingRequiredArgument => {
            "\"trellis template\" requires at least 1 argument\n\nUsage:  trellis template [NAME] [CHART] [flags]".to_string()
        }
        _ => e.exit(),
    };
    fail(&msg)
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::FAILURE
}

/// The release namespace as Helm's `EnvSettings.Namespace` finds it: `-n`, else
/// `$HELM_NAMESPACE`, else the namespace of the kubeconfig's current context (`--kubeconfig` or
/// `$KUBECONFIG`, a list merged first-wins, or `~/.kube/config`; `--kube-context` or
/// `$HELM_KUBECONTEXT` picks the context), else `default`.
fn release_namespace(args: &Args) -> String {
    let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
    if let Some(ns) = non_empty(args.namespace.clone())
        .or_else(|| non_empty(std::env::var("HELM_NAMESPACE").ok()))
    {
        return ns;
    }
    kubeconfig_namespace(args).unwrap_or_else(|| "default".into())
}

fn kubeconfig_namespace(args: &Args) -> Option<String> {
    let files: Vec<PathBuf> = match args
        .compat
        .kubeconfig
        .clone()
        .or_else(|| std::env::var("KUBECONFIG").ok())
        .filter(|v| !v.is_empty())
    {
        Some(list) => std::env::split_paths(&list).collect(),
        None => vec![PathBuf::from(std::env::var_os("HOME")?).join(".kube/config")],
    };
    // Read leniently (client-go needs no cluster or user in a context) and merge as client-go
    // does: the first file to set current-context, or to define a context name, wins.
    let configs: Vec<gotemplate::Map> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| helm::yaml::parse_map(&text).ok())
        .collect();
    let field = |m: &gotemplate::Map, k: &str| {
        m.get(k)
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|v| !v.is_empty())
    };
    let context = args
        .compat
        .kube_context
        .clone()
        .or_else(|| std::env::var("HELM_KUBECONTEXT").ok())
        .filter(|v| !v.is_empty())
        .or_else(|| configs.iter().find_map(|c| field(c, "current-context")))?;
    configs.iter().find_map(|c| {
        let entry = c.get("contexts")?.as_list()?.iter().find_map(|e| {
            let e = e.as_map()?.snapshot();
            (field(&e, "name").as_deref() == Some(context.as_str())).then_some(e)
        })?;
        let ns = entry
            .get("context")
            .and_then(|c| c.as_map().map(gotemplate::MapRef::snapshot))
            .and_then(|c| field(&c, "namespace"));
        Some(ns.unwrap_or_else(|| "default".into()))
    })
}

/// Why a chart that is neither a local path nor in a configured repository cannot be rendered,
/// as Helm's `LocateChart` words it (a path, a bare name, an unknown repository), and plainly
/// for OCI and `--repo`, which trellis does not fetch.
fn missing_chart_error(chart: &str, repo_url: Option<&str>) -> String {
    let fetch_first = |what: &str| {
        format!(
            "{what}: trellis renders charts from a directory or a .tgz only; fetch it first (helm pull {chart}{} --untar) and pass the directory",
            repo_url.map(|u| format!(" --repo {u}")).unwrap_or_default()
        )
    };
    if chart.starts_with('/') || chart.starts_with('.') {
        return format!("path {chart:?} not found");
    }
    if chart.starts_with("oci://") {
        return fetch_first(&format!("cannot download {chart}"));
    }
    if let Some(url) = repo_url.filter(|u| !u.is_empty()) {
        return fetch_first(&format!("cannot download {chart} from {url}"));
    }
    match chart.split_once('/') {
        // (A configured repository is fetched before we get here.)
        Some((repo, _)) => format!("repo {repo} not found"),
        None => {
            format!("non-absolute URLs should be in form of repo_name/path_to_chart, got: {chart}")
        }
    }
}

/// Go's `exec.LookPath` then `filepath.Abs`, with Helm's wording when it fails.
fn find_post_renderer(name: &str) -> Result<PathBuf, String> {
    let check = |p: &std::path::Path| -> Result<(), &'static str> {
        let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory",
            _ => "permission denied",
        })?;
        if meta.is_dir() {
            return Err("is a directory");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o111 == 0 {
                return Err("permission denied");
            }
        }
        Ok(())
    };
    let found = if name.contains('/') {
        let p = PathBuf::from(name);
        match check(&p) {
            Ok(()) => Ok(p),
            Err(why) if why == "no such file or directory" => {
                Err(format!("exec: {name:?}: stat {name}: {why}"))
            }
            Err(why) => Err(format!("exec: {name:?}: {why}")),
        }
    } else {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join(name))
            .find(|p| check(p).is_ok())
            .ok_or_else(|| format!("exec: {name:?}: executable file not found in $PATH"))
    };
    found
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .map_err(|e| {
            format!(
                "invalid argument {name:?} for \"--post-renderer\" flag: unable to find binary at {name}: {e}"
            )
        })
}

/// Helm's exec post-renderer: the manifests on stdin, the new manifests from stdout; a failure
/// shows what the program wrote on stderr.
fn post_render(bin: &std::path::Path, args: &[String], input: &str) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let wrap = |why: String| {
        format!(
            "error while running post render on files: error while running command {}. error output:\n{why}",
            bin.display()
        )
    };
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| wrap(format!(": {e}")))?;
    // Feed stdin from a thread so a program that writes before reading everything cannot
    // deadlock against us.
    let mut stdin = child.stdin.take();
    let data = input.as_bytes().to_vec();
    let feeder = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&data);
        }
    });
    let out = child
        .wait_with_output()
        .map_err(|e| wrap(format!(": {e}")))?;
    let _ = feeder.join();
    if !out.status.success() {
        let status = match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "signal: killed".to_string(),
        };
        return Err(wrap(format!(
            "{}: {status}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn run(args: Args) -> ExitCode {
    // Helm's `NameAndChart`, with `helm template`'s default name `release-name`.
    if !args.extra.is_empty() {
        return fail(&format!(
            "expected at most two arguments, unexpected arguments: {}",
            args.extra.join(", ")
        ));
    }
    if let Some(ca) = &args.compat.ca_file {
        let problem = match std::fs::read(ca) {
            Err(_) => Some(format!("can't read CA file: {ca}")),
            // Go's AppendCertsFromPEM: at least one certificate block.
            Ok(pem) if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") => {
                Some(format!("failed to append certificates from file: {ca}"))
            }
            Ok(_) => None,
        };
        if let Some(p) = problem {
            return fail(&format!(
                "missing registry client: can't create TLS config for client: {p}"
            ));
        }
    }
    let post_renderer = match args.compat.post_renderer.as_deref().map(find_post_renderer) {
        Some(Err(e)) => return fail(&e),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    if let Some(mode) = &args.compat.dry_run
        && !["false", "true", "none", "client", "server"].contains(&mode.as_str())
    {
        return fail(
            "Invalid dry-run flag. Flag must one of the following: false, true, none, client, server",
        );
    }
    let (release, chart_path) = match &args.second {
        Some(chart) => {
            if args.generate_name {
                return fail("cannot set --generate-name and also specify a name");
            }
            if args.name_template.is_some() {
                return fail("cannot set --name-template and also specify a name");
            }
            (args.first.clone(), chart.clone())
        }
        None => match &args.name_template {
            Some(t) if !t.is_empty() => match helm::name_template::render(t) {
                Ok(name) => (name, args.first.clone()),
                Err(e) => return fail(&e),
            },
            _ => ("release-name".to_string(), args.first.clone()),
        },
    };
    if let Some(v) = &args.kube_version
        && let Err(e) = helm::objects::KubeVersion::parse(v)
    {
        return fail(&e);
    }
    let mut path = PathBuf::from(&chart_path);
    if args.compat.validate == Some(true) {
        return fail(
            "--validate is not supported by trellis template: it checks the manifests against a live cluster (use trellis diff, or kubectl apply --dry-run=server)",
        );
    }
    if args.compat.verify == Some(true) {
        if path.is_dir() {
            return fail("unpacked charts cannot be verified");
        }
        return fail(
            "--verify is not supported by trellis template: verify the chart's provenance with helm verify first",
        );
    }
    if !path.exists() {
        // REPO/NAME from Helm's configured repositories is fetched into Helm's cache.
        let located = match args.compat.repo {
            Some(_) => Ok(None),
            None => super::repo_chart::locate(
                &chart_path,
                args.compat.version.as_deref(),
                args.compat.devel == Some(true),
            ),
        };
        match located {
            Ok(Some(archive)) => path = archive,
            Ok(None) => {
                return fail(&missing_chart_error(
                    &chart_path,
                    args.compat.repo.as_deref(),
                ));
            }
            Err(e) => return fail(&e),
        }
    }
    let vopts = ValueOptions {
        value_files: args.values.clone(),
        set_json: args.set_json.clone(),
        set: args.set.clone(),
        set_string: args.set_string.clone(),
        set_file: args.set_file.clone(),
        set_literal: args.set_literal.clone(),
        fetched: Default::default(),
    };
    let mut vopts = vopts;
    // Values from URLs, fetched as Helm's getters fetch them.
    for url in vopts.url_sources() {
        match super::repo_chart::fetch_url(&url, None) {
            Ok(bytes) => {
                vopts.fetched.insert(url, bytes);
            }
            Err(e) => return fail(&e),
        }
    }
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
        namespace: release_namespace(&args),
        is_upgrade: args.is_upgrade,
        kube_version: args.kube_version.clone(),
        api_versions: args.api_versions.clone(),
        skip_schema_validation: args.skip_schema_validation,
        ..RenderOptions::default()
    };
    let engine = match args.compat.enable_dns {
        Some(true) => Engine::uncached().with_dns(),
        _ => Engine::uncached(),
    };
    let rendered = match engine.render(&chart, &user_values, &ropts) {
        Ok(r) => r,
        Err(e) => {
            if args.debug {
                // Helm prints what was rendered and the bare error.
                if let Some(out) = e.debug_output() {
                    print!("{out}");
                }
                return fail(&e.to_string());
            }
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
        if let Some(first) = args.show_only.first() {
            // Helm writes every file, then looks for --show-only templates in what is left
            // on stdout: nothing, so the first one is "missing".
            print!("{log}");
            return fail(&format!("could not find template {first} in chart"));
        }
        format!("{log}\n")
    } else {
        let post_rendered = match &post_renderer {
            Some(bin) => match post_render(
                bin,
                &args.compat.post_renderer_args,
                &rendered.manifest_text(args.include_crds),
            ) {
                Ok(text) => Some(text),
                Err(e) => {
                    return fail(&format!(
                        "{e}\n\nUse --debug flag to render out invalid YAML"
                    ));
                }
            },
            None => None,
        };
        match rendered.to_helm_output_with(&oopts, post_rendered.as_deref()) {
            Ok(t) => t,
            Err(e) => return fail(&e.to_string()),
        }
    };
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    // The process ends right after this: freeing the parsed templates, the chart and the
    // output one allocation at a time would only cost time (up to 4% of a run).
    std::mem::forget((engine, chart, rendered, text));
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
