//! The `trellis` binary: the command line over the Trellis crates.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only dispatches.
//! `anyhow` is used here, at the edge, and nowhere below.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See `Cargo.toml`: glibc's per-thread arenas made the parallel parts of `template` slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// GitOps continuous delivery for Kubernetes, built for an environment per git branch.
#[derive(Parser, Debug)]
#[command(name = "trellis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Deploy the sample service into the embedded local API server and show it Healthy.
    Demo(cmd::demo::Args),
    /// Render a Helm chart locally and print the manifests (a drop-in for `helm template`).
    Template(Box<cmd::template::Args>),
    /// Run the local Kubernetes API server (the embedded default cluster).
    DevCluster(cmd::dev_cluster::Args),
    /// Render and sync an application into a cluster; exits 0 only when it is Healthy.
    Deploy(cmd::deploy::Args),
    /// Show how the cluster differs from what would be deployed; exits 1 when out of sync.
    Diff(cmd::diff::Args),
    /// Run the controller: every pushed branch becomes an environment (webhooks, health endpoints).
    Serve(Box<cmd::serve::Args>),
    /// Judge the health of Kubernetes objects in files, as a sync does (built-in rules, Argo CD Lua
    /// customizations with --lua-dir, argocd-cm overrides with --config).
    Health(cmd::health::Args),
    /// Print Trellis resources equivalent to another tool's (`import argocd FILE`: Argo CD
    /// Applications and ApplicationSets), saying what has no equivalent.
    Import(cmd::import::Args),
    /// Print the CustomResourceDefinitions (Application, EnvironmentSet, Environment).
    Crds(cmd::crds::Args),
    /// Save a Trellis server's URL and API token for `trellis env` and `trellis app`.
    Login(cmd::login::Args),
    /// Environments over the API: list, get, delete, wait until Ready.
    Env(cmd::env::Args),
    /// Applications over the API: list, get, diff, sync, refresh, history, rollback, wait.
    App(cmd::app::Args),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        // `trellis template` reports usage errors as `helm template` does (exit 1, one line).
        Err(e) if argv.get(1).map(String::as_str) == Some("template") => {
            return cmd::template::usage_error(e, &argv);
        }
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Template(args) => cmd::template::run(*args),
        Command::DevCluster(args) => cmd::dev_cluster::run(args),
        Command::Deploy(args) => cmd::deploy::run(args),
        Command::Diff(args) => cmd::diff::run(args),
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Health(args) => cmd::health::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Crds(args) => cmd::crds::run(args),
        Command::Login(args) => cmd::login::run(args),
        Command::Env(args) => cmd::env::run(args),
        Command::App(args) => cmd::app::run(args),
    }
}
