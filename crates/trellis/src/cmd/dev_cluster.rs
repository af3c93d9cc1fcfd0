//! `trellis dev-cluster`: run the local Kubernetes API server.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (loopback only by default).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: String,
}

pub fn run(args: Args) -> ExitCode {
    eprintln!("Error: the local API server on {} is not available in this build", args.listen);
    ExitCode::FAILURE
}
