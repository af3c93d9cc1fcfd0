//! `trellis login SERVER --token T`: check the token against the server (`/api/v1/whoami`) and
//! save both to `$XDG_CONFIG_HOME/trellis/config` (or `~/.config/trellis/config`), mode 0600,
//! for `trellis env` and `trellis app`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use server::api::types::WhoAmI;

use super::client::{self, Client, Config};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server URL (`https://trellis.example.com`, or `host:port` for plain http).
    pub server: String,
    /// API token (a line of the server's --token-file or a key of the `trellis-tokens` Secret).
    #[arg(long, env = "TRELLIS_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Save without asking the server whether the token is accepted.
    #[arg(long)]
    pub no_verify: bool,
}

pub fn run(args: Args) -> ExitCode {
    client::run_command(login(args))
}

async fn login(args: Args) -> Result<ExitCode> {
    let server = client::normalize_server(&args.server)?;
    let token = args.token.trim().to_string();
    if token.is_empty() {
        anyhow::bail!("the token is empty");
    }
    let role = if args.no_verify {
        None
    } else {
        let c = Client::with(&server, &token)?;
        let who: WhoAmI = c
            .get("whoami", &[], &format!("logging in to {server}"))
            .await?;
        Some(who.role)
    };
    let path = client::save_config(&Config {
        server: server.clone(),
        token,
    })
    .context("saving the login")?;
    match role {
        Some(r) => println!(
            "Logged in to {server} as {r} (saved in {}).",
            path.display()
        ),
        None => println!("Saved {server} in {} (token not checked).", path.display()),
    }
    Ok(ExitCode::SUCCESS)
}
