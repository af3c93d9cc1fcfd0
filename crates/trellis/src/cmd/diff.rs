//! `trellis diff`: show how the cluster differs from what would be deployed, as a coloured unified
//! diff per object (Secret values masked); exits 1 when anything is out of sync, like `kubectl diff`.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use sync::diff::{SyncStatus, colorize};
use sync::engine::{App, SyncOptions};

use super::deploy::{Source, engine_for, load_manifests, runtime};

/// `trellis diff` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// Colour the output: auto (on a terminal), always, never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}

pub fn run(args: Args) -> ExitCode {
    match runtime().and_then(|rt| rt.block_on(diff(args))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub(crate) async fn diff(args: Args) -> Result<ExitCode> {
    let mut options = SyncOptions::default();
    options.apply_strings(args.source.sync_options.iter().map(String::as_str));
    let app = App {
        name: args.source.name.clone(),
        // `trellis deploy`'s application belongs to its destination namespace: the same name in
        // another namespace is another application.
        app_namespace: args.source.namespace.clone(),
        namespace: args.source.namespace.clone(),
        revision: String::new(),
        options,
        ignore: args.source.ignore_differences.clone(),
    };
    let engine = engine_for(&args.source).await?;
    // Render as `trellis deploy` would now (an upgrade once the application has been synced).
    let manifests = load_manifests(&args.source, engine.is_upgrade(&app).await?)?;
    super::deploy::warn_excluded(&engine, &app, &manifests);
    let diffs = engine.diff(&app, &manifests).await?;
    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal(),
    };
    let mut out_of_sync = 0;
    for d in &diffs {
        if d.status == SyncStatus::Synced {
            continue;
        }
        // An Extra object marked `compare-options: IgnoreExtraneous` is shown, not counted.
        if d.makes_app_out_of_sync() {
            out_of_sync += 1;
        }
        if !d.message.is_empty() {
            eprintln!("# {} ({}): {}", d.key, d.status, d.message);
        }
        if d.diff.is_empty() {
            continue;
        }
        print!(
            "{}",
            if color {
                colorize(&d.diff)
            } else {
                d.diff.clone()
            }
        );
    }
    eprintln!("{} objects, {} out of sync", diffs.len(), out_of_sync);
    Ok(if out_of_sync == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
