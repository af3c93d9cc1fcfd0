//! `trellis template`: render a chart exactly as `helm template` does.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Release name.
    pub release: String,
    /// Chart directory or packaged `.tgz`.
    pub chart: String,
}

pub fn run(args: Args) -> ExitCode {
    eprintln!("Error: rendering {} is not available in this build", args.chart);
    ExitCode::FAILURE
}
