//! `trellis app list|get|diff|sync|refresh|history|rollback|wait`: Applications over the API.
//!
//! - `list` reads every page (`continue`) unless `--limit` is given, with the API's filters.
//! - `diff` prints the unified diff of each object that differs and exits 1 when any does (as
//!   `trellis diff` and `kubectl diff`), 0 when everything is in sync.
//! - `wait` follows the application on the change stream until it is Healthy and Synced with no
//!   operation running (exit 0), Degraded or its operation failed (exit 1), or the timeout passes
//!   (exit 124).
//! - `sync --wait` and `rollback --wait` wait the same way after the request.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};

use server::api::types::{
    ActionResponse, AppDetail, AppDiff, AppList, AppSummary, HistoryEntry, ResourceRef,
    RollbackRequest, StreamMessage, SyncRequest, TreeNode,
};

use super::client::{self, Client, ConnArgs, Output, or_dash, short};
use super::progress::Progress;
use super::watch::{self, Seen};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: AppCommand,
}

#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// How long to wait (like 90s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = client::parse_duration)]
    pub timeout: Duration,
}

#[derive(clap::Subcommand, Debug)]
pub enum AppCommand {
    /// List applications (filtered on the server).
    List {
        /// Only this environment's.
        #[arg(long, short = 'e')]
        environment: Option<String>,
        /// Only this project's.
        #[arg(long, short = 'p')]
        project: Option<String>,
        /// Only with this health (Healthy, Progressing, Degraded, Suspended, Missing, Unknown).
        #[arg(long)]
        health: Option<String>,
        /// Only with this sync status (Synced, OutOfSync, Unknown).
        #[arg(long)]
        sync: Option<String>,
        /// Only those whose name, service or environment contains this.
        #[arg(long, short = 's')]
        search: Option<String>,
        /// At most this many (default: all, read page by page).
        #[arg(long)]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Show one application: status and resource tree.
    Get {
        name: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Show how the cluster differs from git; exits 1 when anything differs.
    Diff {
        name: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Ask for a sync.
    Sync {
        name: String,
        /// Also delete tracked objects that are no longer rendered.
        #[arg(long)]
        prune: bool,
        /// Sync this branch, tag or commit instead of the target revision.
        #[arg(long)]
        revision: Option<String>,
        /// Only this object, `[GROUP/]KIND/NAME` or `[GROUP/]KIND/NAMESPACE/NAME` (repeatable).
        #[arg(long = "resource", value_name = "KIND/NAME", value_parser = parse_resource)]
        resources: Vec<ResourceRef>,
        /// Then wait until it is Healthy and Synced.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
    /// Re-fetch git and compare again.
    Refresh { name: String },
    /// Show its deployments (ids for rollback).
    History {
        name: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t)]
        output: Output,
    },
    /// Deploy a former deployment again (see `history` for ids).
    Rollback {
        name: String,
        id: i64,
        /// Then wait until it is Healthy and Synced.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
    /// Wait until it is Healthy and Synced; exit 1 if Degraded, 124 on timeout.
    Wait {
        name: String,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
}

/// `[GROUP/]KIND/NAME` or `GROUP/KIND/NAMESPACE/NAME` (group empty for the core group:
/// `/Service/ns/web`).
pub fn parse_resource(s: &str) -> std::result::Result<ResourceRef, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let r = match parts.as_slice() {
        [kind, name] => ResourceRef {
            kind: (*kind).into(),
            name: (*name).into(),
            ..Default::default()
        },
        [group, kind, name] => ResourceRef {
            group: (*group).into(),
            kind: (*kind).into(),
            name: (*name).into(),
            ..Default::default()
        },
        [group, kind, namespace, name] => ResourceRef {
            group: (*group).into(),
            kind: (*kind).into(),
            namespace: (*namespace).into(),
            name: (*name).into(),
        },
        _ => {
            return Err(format!(
                "{s:?}: expected KIND/NAME, GROUP/KIND/NAME or GROUP/KIND/NAMESPACE/NAME"
            ));
        }
    };
    if r.kind.is_empty() || r.name.is_empty() {
        return Err(format!("{s:?}: the kind and the name must not be empty"));
    }
    Ok(r)
}

pub fn run(args: Args) -> ExitCode {
    client::run_command(app(args))
}

fn app_path(name: &str, rest: &str) -> String {
    if rest.is_empty() {
        format!("applications/{}", client::seg(name))
    } else {
        format!("applications/{}/{rest}", client::seg(name))
    }
}

async fn app(args: Args) -> Result<ExitCode> {
    let c = Client::new(&args.conn)?;
    match args.command {
        AppCommand::List {
            environment,
            project,
            health,
            sync,
            search,
            limit,
            output,
        } => {
            let filters = [
                ("environment", environment.unwrap_or_default()),
                ("project", project.unwrap_or_default()),
                ("health", health.unwrap_or_default()),
                ("sync", sync.unwrap_or_default()),
                ("search", search.unwrap_or_default()),
            ];
            let list = list_all(&c, &filters, limit).await?;
            if !client::print_structured(output, &list)? {
                print!("{}", list_table(&list.items));
                if list.items.len() < list.total {
                    eprintln!(
                        "({} of {} shown; --limit to see more)",
                        list.items.len(),
                        list.total
                    );
                }
            }
        }
        AppCommand::Get { name, output } => {
            let d: AppDetail = c
                .get(
                    &app_path(&name, ""),
                    &[],
                    &format!("getting application {name}"),
                )
                .await?;
            if !client::print_structured(output, &d)? {
                print!("{}", details(&d));
            }
        }
        AppCommand::Diff { name, output } => {
            let d: AppDiff = c
                .get(
                    &app_path(&name, "diff"),
                    &[],
                    &format!("getting the diff of {name}"),
                )
                .await?;
            let differs = d.objects.iter().any(|o| o.status != "Synced");
            if !client::print_structured(output, &d)? {
                print!("{}", diff_text(&name, &d));
            }
            if differs {
                return Ok(ExitCode::from(1));
            }
        }
        AppCommand::Sync {
            name,
            prune,
            revision,
            resources,
            wait: then_wait,
            wait_args,
        } => {
            let req = SyncRequest {
                prune,
                revision: revision.filter(|r| !r.is_empty()),
                resources: if resources.is_empty() {
                    None
                } else {
                    Some(resources)
                },
            };
            let r: ActionResponse = c
                .post(&app_path(&name, "sync"), &req, &format!("syncing {name}"))
                .await?;
            println!("{}", r.message);
            if then_wait {
                return wait(&c, &name, wait_args.timeout).await;
            }
        }
        AppCommand::Refresh { name } => {
            let r: ActionResponse = c
                .post(
                    &app_path(&name, "refresh"),
                    &serde_json::json!({}),
                    &format!("refreshing {name}"),
                )
                .await?;
            println!("{}", r.message);
        }
        AppCommand::History { name, output } => {
            let mut h: Vec<HistoryEntry> = c
                .get(
                    &app_path(&name, "history"),
                    &[],
                    &format!("getting the history of {name}"),
                )
                .await?;
            h.sort_by_key(|e| e.id);
            if !client::print_structured(output, &h)? {
                let rows: Vec<Vec<String>> = h
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            e.revision.clone(),
                            or_dash(&e.deploy_started_at),
                            or_dash(&e.deployed_at),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    client::table(&["ID", "REVISION", "STARTED", "DEPLOYED"], &rows)
                );
            }
        }
        AppCommand::Rollback {
            name,
            id,
            wait: then_wait,
            wait_args,
        } => {
            let r: ActionResponse = c
                .post(
                    &app_path(&name, "rollback"),
                    &RollbackRequest { id },
                    &format!("rolling {name} back to deployment {id}"),
                )
                .await?;
            println!("{}", r.message);
            if then_wait {
                return wait(&c, &name, wait_args.timeout).await;
            }
        }
        AppCommand::Wait { name, wait_args } => {
            return wait(&c, &name, wait_args.timeout).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every page (or the first `limit` items).
async fn list_all(c: &Client, filters: &[(&str, String)], limit: Option<usize>) -> Result<AppList> {
    const PAGE: usize = 500;
    let mut out = AppList::default();
    let mut token = String::new();
    loop {
        let want = limit.map_or(PAGE, |l| l.saturating_sub(out.items.len()).min(PAGE));
        if want == 0 {
            break;
        }
        let want_s = want.to_string();
        let mut q: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (*k, v.as_str())).collect();
        q.push(("limit", &want_s));
        q.push(("continue", &token));
        let page: AppList = c.get("applications", &q, "listing applications").await?;
        out.total = page.total;
        out.items.extend(page.items);
        match page.continue_ {
            Some(t) if !t.is_empty() && t != token => token = t,
            _ => break,
        }
    }
    if limit.is_some_and(|l| out.items.len() >= l) && out.items.len() < out.total {
        out.continue_ = None;
    }
    Ok(out)
}

fn message(a: &AppSummary) -> String {
    // What it waits for and why it is unhealthy matter only until it is ready.
    let ready = a.health_status == "Healthy" && a.sync_status == "Synced";
    if !ready && !a.waiting_for.is_empty() {
        return a.waiting_for.clone();
    }
    if !ready && !a.health_message.is_empty() {
        return a.health_message.clone();
    }
    if !a.operation_phase.is_empty() && a.operation_phase != "Succeeded" {
        return format!("operation {}", a.operation_phase);
    }
    a.conditions.first().cloned().unwrap_or_default()
}

fn list_table(items: &[AppSummary]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                or_dash(&a.environment),
                or_dash(&a.project),
                or_dash(&a.sync_status),
                or_dash(&a.health_status),
                short(&a.revision),
                message(a),
            ]
        })
        .collect();
    client::table(
        &[
            "NAME",
            "ENVIRONMENT",
            "PROJECT",
            "SYNC",
            "HEALTH",
            "COMMIT",
            "MESSAGE",
        ],
        &rows,
    )
}

fn details(d: &AppDetail) -> String {
    let a = &d.summary;
    let mut out = String::new();
    let facts = [
        ("Name", a.name.clone()),
        ("Environment", or_dash(&a.environment)),
        ("Service", or_dash(&a.service)),
        ("Project", or_dash(&a.project)),
        ("Source", format!("{} {}", a.repo_url, a.path)),
        ("Target", or_dash(&a.target_revision)),
        ("Revision", or_dash(&a.revision)),
        ("Destination", or_dash(&a.destination_namespace)),
        ("Sync", or_dash(&a.sync_status)),
        ("Health", or_dash(&a.health_status)),
        ("Operation", or_dash(&a.operation_phase)),
        ("Automated", if a.automated { "yes" } else { "no" }.into()),
    ];
    for (k, v) in facts {
        out.push_str(&format!("{:<13} {v}\n", format!("{k}:")));
    }
    if !a.health_message.is_empty() {
        out.push_str(&format!("{:<13} {}\n", "Message:", a.health_message));
    }
    if !a.waiting_for.is_empty() {
        out.push_str(&format!("{:<13} {}\n", "Waiting for:", a.waiting_for));
    }
    if !a.depends_on.is_empty() {
        out.push_str(&format!(
            "{:<13} {}\n",
            "Depends on:",
            a.depends_on.join(", ")
        ));
    }
    for c in &a.conditions {
        out.push_str(&format!("{:<13} {c}\n", "Condition:"));
    }
    out.push('\n');
    let mut rows = Vec::new();
    for n in &d.tree {
        tree_rows(n, 0, &mut rows);
    }
    out.push_str(&client::table(
        &["KIND", "NAME", "SYNC", "HEALTH", "INFO"],
        &rows,
    ));
    out
}

fn tree_rows(n: &TreeNode, depth: usize, rows: &mut Vec<Vec<String>>) {
    let mut info = n.info.join(", ");
    if n.hook {
        info = format!("hook {} {} {info}", n.sync_phase, n.hook_phase)
            .trim()
            .to_string();
    }
    if n.requires_pruning {
        info = format!("prune on next sync {info}").trim().to_string();
    }
    if !n.live {
        info = format!("not in the cluster {info}").trim().to_string();
    }
    if !n.health_message.is_empty() {
        info = format!("{info} {}", n.health_message).trim().to_string();
    }
    rows.push(vec![
        format!("{}{}", "  ".repeat(depth), n.kind),
        n.name.clone(),
        or_dash(&n.sync),
        or_dash(&n.health),
        info,
    ]);
    for c in &n.children {
        tree_rows(c, depth + 1, rows);
    }
}

fn diff_text(name: &str, d: &AppDiff) -> String {
    let mut out = String::new();
    let differing: Vec<_> = d.objects.iter().filter(|o| o.status != "Synced").collect();
    if differing.is_empty() {
        out.push_str(&format!(
            "{name} is in sync at {} ({} objects).\n",
            short(&d.revision),
            d.objects.len()
        ));
        return out;
    }
    for o in differing {
        let id = if o.group.is_empty() {
            format!("{}/{}", o.kind, o.name)
        } else {
            format!("{}/{}/{}", o.group, o.kind, o.name)
        };
        let ns = if o.namespace.is_empty() {
            String::new()
        } else {
            format!(" in {}", o.namespace)
        };
        out.push_str(&format!("===== {id}{ns}: {} =====\n", o.status));
        if !o.message.is_empty() {
            out.push_str(&format!("{}\n", o.message));
        }
        out.push_str(&o.diff);
        if !o.diff.is_empty() && !o.diff.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Whether `a` is done: Some(Ok) when Healthy and Synced with no operation running, Some(Err)
/// with why when it failed, None to keep waiting.
fn settled(a: &AppSummary) -> Option<std::result::Result<(), String>> {
    let running = matches!(a.operation_phase.as_str(), "Running" | "Terminating");
    if running {
        return None;
    }
    if a.health_status == "Degraded" {
        let why = if a.health_message.is_empty() {
            String::new()
        } else {
            format!(": {}", a.health_message)
        };
        return Some(Err(format!("is Degraded{why}")));
    }
    if matches!(a.operation_phase.as_str(), "Failed" | "Error") && a.sync_status != "Synced" {
        let cond = a
            .conditions
            .first()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        return Some(Err(format!("its sync {}{cond}", a.operation_phase)));
    }
    if a.health_status == "Healthy" && a.sync_status == "Synced" {
        return Some(Ok(()));
    }
    None
}

fn state_line(a: &AppSummary) -> String {
    let mut s = format!("{}, {}", a.health_status, a.sync_status);
    if !a.operation_phase.is_empty() {
        s.push_str(&format!(", operation {}", a.operation_phase));
    }
    let why = message(a);
    if !why.is_empty() && !why.starts_with("operation ") {
        s.push_str(&format!(" ({why})"));
    }
    s
}

async fn wait(c: &Client, name: &str, timeout: Duration) -> Result<ExitCode> {
    if timeout.is_zero() {
        bail!("--timeout must be positive");
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let progress = Progress::spinner(format!("application {name}"));
    let path = app_path(name, "");
    let what = format!("getting application {name}");
    let mut last: Option<AppSummary> = None;
    let fetch = async || match c.get::<AppDetail>(&path, &[], &what).await {
        Ok(d) => Ok(Some(d.summary)),
        Err(e) if client::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    };
    let from_event = |event: &str, data: &str| {
        let m: StreamMessage = serde_json::from_str(data).ok()?;
        if event != "application" || m.name != name {
            return None;
        }
        match m.application {
            Some(a) if m.action != "delete" => Some(Seen::Changed(a)),
            _ => Some(Seen::Deleted),
        }
    };
    let judge = |a: Option<&AppSummary>| {
        let Some(a) = a else {
            progress.message("does not exist yet".into());
            return None;
        };
        last = Some(a.clone());
        progress.message(state_line(a));
        match settled(a)? {
            Ok(()) => {
                progress.finish(format!(
                    "application {name} is Healthy and Synced at {}",
                    short(&a.revision)
                ));
                Some(ExitCode::SUCCESS)
            }
            Err(why) => {
                progress.abandon();
                eprintln!("Error: application {name} {why}");
                Some(ExitCode::from(client::EXIT_NOT_HEALTHY))
            }
        }
    };
    let outcome = watch::follow(
        c,
        &[("application", name)],
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
        Some(a) => eprintln!(
            "Error: timed out after {} waiting for application {name} to be Healthy and Synced: it is {}",
            client::human(timeout),
            state_line(&a)
        ),
        None => eprintln!(
            "Error: timed out after {} waiting for application {name}: it does not exist",
            client::human(timeout)
        ),
    }
    Ok(ExitCode::from(client::EXIT_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse() {
        let r = parse_resource("Deployment/web").expect("ok");
        assert_eq!((r.kind.as_str(), r.name.as_str()), ("Deployment", "web"));
        let r = parse_resource("apps/Deployment/web").expect("ok");
        assert_eq!(r.group, "apps");
        let r = parse_resource("/Service/ns1/web").expect("ok");
        assert_eq!((r.group.as_str(), r.namespace.as_str()), ("", "ns1"));
        assert!(parse_resource("web").is_err());
        assert!(parse_resource("Deployment/").is_err());
    }

    #[test]
    fn waiting_ends_on_healthy_synced_or_degraded() {
        let mut a = AppSummary {
            health_status: "Progressing".into(),
            sync_status: "Synced".into(),
            ..Default::default()
        };
        assert_eq!(settled(&a), None);
        a.health_status = "Healthy".into();
        assert_eq!(settled(&a), Some(Ok(())));
        a.operation_phase = "Running".into();
        assert_eq!(settled(&a), None);
        a.operation_phase = "Succeeded".into();
        a.health_status = "Degraded".into();
        a.health_message = "CrashLoopBackOff".into();
        assert_eq!(
            settled(&a),
            Some(Err("is Degraded: CrashLoopBackOff".into()))
        );
    }
}
