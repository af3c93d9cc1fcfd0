//! `trellis env list|get|delete|wait`: environments (one per branch) over the API.
//!
//! `wait ENV` follows the environment on the change stream until its phase is `Ready` (exit 0),
//! `Degraded` (exit 1, saying which services are not ready and why) or the timeout passes (exit
//! 124). An environment that does not exist yet is waited for: a CI job may wait right after
//! pushing its branch.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use server::api::types::{ActionResponse, EnvList, EnvSummary, StreamMessage};

use super::client::{self, Client, ConnArgs, Output, or_dash, short};
use super::progress::Progress;
use super::watch::{self, Seen};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: EnvCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum EnvCommand {
    /// List the environments.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Show one environment with its services in dependency order.
    Get {
        name: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Delete an environment: its applications, their objects and its namespace.
    Delete { name: String },
    /// Wait until an environment is Ready; exit 1 if it is Degraded, 124 on timeout.
    Wait {
        name: String,
        /// How long to wait (like 90s, 5m, 1h).
        #[arg(long, default_value = "5m", value_parser = client::parse_duration)]
        timeout: Duration,
    },
}

pub fn run(args: Args) -> ExitCode {
    client::run_command(env(args))
}

async fn env(args: Args) -> Result<ExitCode> {
    let c = Client::new(&args.conn)?;
    match args.command {
        EnvCommand::List { output } => {
            let list: EnvList = c.get("environments", &[], "listing environments").await?;
            if !client::print_structured(output, &list)? {
                print!("{}", list_table(&list.items));
            }
        }
        EnvCommand::Get { name, output } => {
            let e: EnvSummary = c
                .get(
                    &format!("environments/{}", client::seg(&name)),
                    &[],
                    &format!("getting environment {name}"),
                )
                .await?;
            if !client::print_structured(output, &e)? {
                print!("{}", details(&e));
            }
        }
        EnvCommand::Delete { name } => {
            let r: ActionResponse = c
                .delete(
                    &format!("environments/{}", client::seg(&name)),
                    &format!("deleting environment {name}"),
                )
                .await?;
            println!("{}", r.message);
        }
        EnvCommand::Wait { name, timeout } => return wait(&c, &name, timeout).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn list_table(items: &[EnvSummary]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                or_dash(&e.phase),
                format!("{}/{}", e.ready, e.total),
                or_dash(&e.branch),
                client::age(&e.created_at),
                client::age(&e.last_activity),
            ]
        })
        .collect();
    client::table(
        &["NAME", "PHASE", "READY", "BRANCH", "AGE", "LAST ACTIVITY"],
        &rows,
    )
}

fn details(e: &EnvSummary) -> String {
    let mut out = String::new();
    let facts = [
        ("Name", e.name.clone()),
        ("Phase", or_dash(&e.phase)),
        ("Ready", format!("{}/{}", e.ready, e.total)),
        ("Branch", or_dash(&e.branch)),
        ("Namespace", or_dash(&e.namespace)),
        ("EnvironmentSet", or_dash(&e.environment_set)),
        ("Age", client::age(&e.created_at)),
        ("Last activity", client::age(&e.last_activity)),
    ];
    for (k, v) in facts {
        out.push_str(&format!("{:<15} {v}\n", format!("{k}:")));
    }
    for c in &e.conditions {
        out.push_str(&format!("Condition:      {c}\n"));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = e
        .services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                if s.depends_on.is_empty() {
                    "-".into()
                } else {
                    s.depends_on.join(",")
                },
                format!(
                    "{}{}",
                    or_dash(&s.target_revision),
                    if s.has_branch { "" } else { " (default)" }
                ),
                short(&s.revision),
                or_dash(&s.sync_status),
                or_dash(&s.health_status),
                if s.health_status == "Healthy" && s.sync_status == "Synced" {
                    String::new()
                } else {
                    s.waiting_for.clone()
                },
            ]
        })
        .collect();
    out.push_str(&client::table(
        &[
            "SERVICE",
            "DEPENDS ON",
            "DEPLOYS",
            "COMMIT",
            "SYNC",
            "HEALTH",
            "WAITING FOR",
        ],
        &rows,
    ));
    out
}

/// What is not ready, one service a line.
fn not_ready(e: &EnvSummary) -> String {
    let mut lines = Vec::new();
    for s in &e.services {
        if s.health_status == "Healthy" && s.sync_status == "Synced" {
            continue;
        }
        let mut l = format!("  {}: {}, {}", s.name, s.health_status, s.sync_status);
        if !s.waiting_for.is_empty() {
            l.push_str(&format!(" ({})", s.waiting_for));
        }
        lines.push(l);
    }
    for c in &e.conditions {
        lines.push(format!("  {c}"));
    }
    lines.join("\n")
}

async fn wait(c: &Client, name: &str, timeout: Duration) -> Result<ExitCode> {
    let deadline = tokio::time::Instant::now() + timeout;
    let progress = Progress::bar(format!("environment {name}"));
    let path = format!("environments/{}", client::seg(name));
    let what = format!("getting environment {name}");
    let mut last: Option<EnvSummary> = None;
    let fetch = async || match c.get::<EnvSummary>(&path, &[], &what).await {
        Ok(e) => Ok(Some(e)),
        Err(e) if client::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    };
    let from_event = |event: &str, data: &str| {
        let m: StreamMessage = serde_json::from_str(data).ok()?;
        if event != "environment" || m.name != name {
            return None;
        }
        match m.env {
            Some(e) if m.action != "delete" => Some(Seen::Changed(e)),
            _ => Some(Seen::Deleted),
        }
    };
    let judge = |e: Option<&EnvSummary>| {
        let Some(e) = e else {
            progress.set(0, 0, "does not exist yet".to_string());
            return None;
        };
        last = Some(e.clone());
        progress.set(
            e.ready.max(0) as u64,
            e.total.max(0) as u64,
            format!("{} · {}/{} ready", e.phase, e.ready, e.total),
        );
        match e.phase.as_str() {
            "Ready" => {
                progress.finish(format!(
                    "environment {name} is Ready: {}/{} applications ready",
                    e.ready, e.total
                ));
                Some(ExitCode::SUCCESS)
            }
            "Degraded" => {
                progress.abandon();
                eprintln!(
                    "Error: environment {name} is Degraded ({}/{} ready):\n{}",
                    e.ready,
                    e.total,
                    not_ready(e)
                );
                Some(ExitCode::from(client::EXIT_NOT_HEALTHY))
            }
            "Deleting" => {
                progress.abandon();
                eprintln!("Error: environment {name} is being deleted");
                Some(ExitCode::from(client::EXIT_NOT_HEALTHY))
            }
            _ => None,
        }
    };
    let outcome = watch::follow(
        c,
        &[("environment", name)],
        deadline,
        fetch,
        from_event,
        judge,
    )
    .await;
    progress.abandon();
    if let Some(code) = outcome? {
        return Ok(code);
    }
    match last {
        Some(e) => eprintln!(
            "Error: timed out after {} waiting for environment {name} to be Ready: it is {} ({}/{} ready):\n{}",
            client::human(timeout),
            e.phase,
            e.ready,
            e.total,
            not_ready(&e)
        ),
        None => eprintln!(
            "Error: timed out after {} waiting for environment {name}: it does not exist",
            client::human(timeout)
        ),
    }
    Ok(ExitCode::from(client::EXIT_TIMEOUT))
}
