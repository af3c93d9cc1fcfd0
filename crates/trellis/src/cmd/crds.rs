//! `trellis crds`: print the CustomResourceDefinitions of Application, EnvironmentSet and
//! Environment (generated from the Rust types), for `kubectl apply -f -` or a Helm chart.
//! `trellis serve` installs or upgrades them itself at start.

use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_: Args) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(controller::crds_yaml().as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: writing the CRDs: {e}");
            ExitCode::from(1)
        }
    }
}
