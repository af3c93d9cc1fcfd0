//! `trellis demo`: the product loop on the embedded default, with no cluster needed.
//!
//! Starts the local API server in-process and the controller beside it; makes three local git
//! repositories with the `git` CLI (the `examples/demo` services: postgres with a seed hook Job,
//! api depending on it, web depending on api); applies an EnvironmentSet; pushes a branch and
//! shows the environment coming up service by service in dependency order; pushes a commit and
//! shows that only that service re-syncs (the seed Job is not run again); deletes the branch and
//! shows the cleanup. With `--serve` everything keeps running for kubectl and git until Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use controller::{Application, Environment};

/// The demo's services, shipped in the repository.
const DEMO_SERVICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep the local API server, the controller and the git repositories after the demo, until
    /// Ctrl-C (push branches to the printed repositories and watch environments appear).
    #[arg(long)]
    pub serve: bool,
    /// Address of the local API server (a free loopback port by default).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Where the demo's git repositories and mirrors go (a new temporary directory by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Directory holding the demo's services (`postgres`, `api`, `web`, each with `charts/`).
    #[arg(long, default_value = DEMO_SERVICES)]
    pub services: PathBuf,
    /// Also serve the web UI, the API, /metrics and the webhooks on this address (e.g.
    /// 127.0.0.1:8080); the UI's address with a login token is printed.
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
    /// API tokens for --http, one `TOKEN ROLE` per line (default: a new admin token, printed).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    match super::deploy::runtime().and_then(|rt| rt.block_on(demo(args))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", super::error_chain(&e));
            ExitCode::from(2)
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Trellis Demo")
        .env("GIT_AUTHOR_EMAIL", "demo@trellis.dev")
        .env("GIT_COMMITTER_NAME", "Trellis Demo")
        .env("GIT_COMMITTER_EMAIL", "demo@trellis.dev")
        .output()
        .context("running git (the demo needs the git command)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// A bare "remote" repository and a working clone with the service's chart on `main`.
fn make_repo(root: &Path, services: &Path, name: &str) -> Result<(String, PathBuf)> {
    let bare = root.join("remotes").join(format!("{name}.git"));
    let work = root.join("work").join(name);
    std::fs::create_dir_all(&bare)?;
    git(&bare, &["init", "-q", "--bare", "-b", "main"])?;
    std::fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "-b", "main"])?;
    copy_dir(&services.join(name).join("charts"), &work.join("charts"))?;
    git(&work, &["add", "-A"])?;
    git(
        &work,
        &["commit", "-q", "-m", &format!("{name}: first version")],
    )?;
    let url = format!("file://{}", bare.display());
    git(&work, &["remote", "add", "origin", &url])?;
    git(&work, &["push", "-q", "origin", "main"])?;
    Ok((url, work))
}

async fn demo(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("trellis-demo-{}", std::process::id())),
    };
    if root.exists() {
        std::fs::remove_dir_all(&root).ok();
    }
    std::fs::create_dir_all(&root)?;
    let cluster = devcluster::DevCluster::builder()
        .listen(args.listen)
        .start()
        .await
        .context("starting the local API server")?;
    let kubeconfig = cluster.kubeconfig_path().to_path_buf();
    println!("local API server: {}", cluster.url());
    println!("kubeconfig:       {}", kubeconfig.display());
    let client = super::kube_client(Some(&kubeconfig)).await?;
    controller::install::install_crds(&client, Duration::from_secs(30)).await?;
    let ns = "trellis";
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.patch(
        ns,
        &PatchParams::apply("trellis").force(),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
    )
    .await
    .context("creating namespace trellis")?;

    println!(
        "\n1. three services, each in its own git repository (under {}):",
        root.display()
    );
    let mut repos = BTreeMap::new();
    for name in ["postgres", "api", "web"] {
        let (url, work) = make_repo(&root, &args.services, name)?;
        println!("   {name:<9} {url}");
        repos.insert(name, (url, work));
    }

    let cfg = controller::Config {
        namespace: ns.into(),
        data_dir: root.join("data"),
        poll_interval: Duration::from_secs(1),
        cleanup_interval: Duration::from_secs(2),
        workers: 16,
        ..controller::Config::default()
    };
    let ctl = controller::Controller::new(client.clone(), cfg);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = args.http {
        let (auth, token) = match &args.token_file {
            Some(p) => (super::serve::api_auth(Some(p), false, &client, ns)?, None),
            None => {
                let token = new_token()?;
                let auth = server::auth::Auth::new(
                    &format!("{token} admin"),
                    "the demo's token",
                    false,
                    Some((client.clone(), ns)),
                )?;
                (auth, Some(token))
            }
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let addr = listener.local_addr()?;
        let state = server::ServerState::new(
            tx.clone(),
            server::WebhookSecrets::kubernetes(client.clone(), ns, Duration::from_secs(10)),
            server::Readiness::ready(),
        );
        let api = server::api::ApiState::start(client.clone(), ns, auth, Some(ctl.clone()));
        let metrics = server::metrics::MetricsState::new(
            Some(&ctl.metrics),
            state.webhook_counts().clone(),
            Some(api.model().clone()),
        );
        let mut stop = stop_rx.clone();
        tokio::spawn(server::serve(
            listener,
            server::app(state, Some(api), metrics),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ));
        match token {
            Some(t) => println!(
                "web UI:           http://{addr}/#token={t}\nAPI token:        {t} (admin)"
            ),
            None => println!("web UI:           http://{addr}/"),
        }
    }
    let running = {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            ctl.run(rx, async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
        })
    };

    let set = json!({
        "apiVersion": "trellis.dev/v1alpha1", "kind": "EnvironmentSet",
        "metadata": {"name": "previews", "namespace": ns},
        "spec": {
            "defaultRevision": "main",
            "branches": {"include": ".*", "exclude": "^(main|release/.*)$"},
            "namespaceTemplate": "{{branch}}",
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
            "cleanup": {"whenBranchDeleted": true, "whenMerged": true, "gracePeriod": "2s"},
            "services": [
                {"name": "postgres", "source": {"repoURL": repos["postgres"].0, "path": "charts"}},
                {"name": "api", "dependsOn": ["postgres"],
                 "source": {"repoURL": repos["api"].0, "path": "charts",
                            "helm": {"parameters": [{"name": "image.tag", "value": "$TRELLIS_APP_REVISION"}]}}},
                {"name": "web", "dependsOn": ["api"],
                 "source": {"repoURL": repos["web"].0, "path": "charts"}}
            ]
        }
    });
    let sets: Api<controller::EnvironmentSet> = Api::namespaced(client.clone(), ns);
    sets.patch(
        "previews",
        &PatchParams::apply("demo").force(),
        &Patch::Apply(&set),
    )
    .await
    .context("applying the EnvironmentSet")?;
    println!("\n2. EnvironmentSet `previews`: every branch but main becomes an environment");

    let branch = "feature-login";
    let api_work = &repos["api"].1;
    git(api_work, &["checkout", "-q", "-b", branch])?;
    edit_values(
        api_work,
        "greeting: Hello from api",
        "greeting: Hello from the login feature",
    )?;
    git(api_work, &["commit", "-q", "-am", "api: login feature"])?;
    git(api_work, &["push", "-q", "origin", branch])?;
    let pushed = Instant::now();
    println!("\n3. pushed branch `{branch}` to api; waiting for environment `{branch}`:");
    let env = wait_env(&client, ns, branch, pushed, |e| {
        e.status.as_ref().and_then(|s| s.phase) == Some(controller::types::EnvironmentPhase::Ready)
    })
    .await?;
    let st = env.status.clone().unwrap_or_default();
    println!(
        "   environment {branch} Ready {}/{} in {:.1}s",
        st.ready,
        st.total,
        pushed.elapsed().as_secs_f64()
    );
    for s in &st.services {
        println!(
            "     {:<9} {} {}",
            s.name,
            s.revision.as_deref().map(short).unwrap_or("-"),
            if env
                .spec
                .services
                .iter()
                .any(|x| x.name == s.name && x.has_branch)
            {
                format!("(branch {branch})")
            } else {
                "(main)".into()
            }
        );
    }
    let seed_uid = job_uid(&client, branch, "postgres-seed").await;

    edit_values(api_work, "replicas: 2", "replicas: 3")?;
    git(api_work, &["commit", "-q", "-am", "api: three replicas"])?;
    git(api_work, &["push", "-q", "origin", branch])?;
    let new_commit = git(api_work, &["rev-parse", "HEAD"])?;
    let pushed = Instant::now();
    println!(
        "\n4. pushed a commit to api on `{branch}` ({}):",
        short(&new_commit)
    );
    let apps: Api<Application> = Api::namespaced(client.clone(), ns);
    let api_app = controller::app_name(branch, "api");
    loop {
        let a = apps.get(&api_app).await?;
        let st = a.status.unwrap_or_default();
        let at = st
            .sync
            .as_ref()
            .and_then(|s| s.revision.clone())
            .unwrap_or_default();
        let healthy = st.health.as_ref().map(|h| h.status)
            == Some(controller::types::HealthStatusCode::Healthy);
        if at == new_commit && healthy {
            break;
        }
        if pushed.elapsed() > Duration::from_secs(120) {
            bail!(
                "api did not re-sync to {} within 2 minutes",
                short(&new_commit)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "   api re-synced to {} and Healthy in {:.1}s; postgres and web untouched",
        short(&new_commit),
        pushed.elapsed().as_secs_f64()
    );
    if seed_uid.is_some() && job_uid(&client, branch, "postgres-seed").await == seed_uid {
        println!("   the postgres seed Job did not run again");
    }

    println!(
        "\n5. deleted branch `{branch}`; cleanup removes the environment after its 2s grace period:"
    );
    git(api_work, &["push", "-q", "origin", "--delete", branch])?;
    let deleted = Instant::now();
    let envs: Api<Environment> = Api::namespaced(client.clone(), ns);
    loop {
        let env_gone = envs.get_opt(branch).await?.is_none();
        let ns_gone = nss.get_opt(branch).await?.is_none();
        if env_gone && ns_gone {
            break;
        }
        if deleted.elapsed() > Duration::from_secs(120) {
            bail!("environment {branch} was not cleaned up within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "   environment and namespace {branch} removed {:.1}s after the branch was deleted",
        deleted.elapsed().as_secs_f64()
    );
    println!("\ndemo done in {:.1}s", started.elapsed().as_secs_f64());

    if args.serve {
        let branch = "feature-search";
        git(api_work, &["checkout", "-q", "-b", branch, "main"])?;
        git(api_work, &["push", "-q", "origin", branch])?;
        println!("\npushed branch `{branch}` to api: environment `{branch}` is coming up");
        println!(
            "\nstill running (Ctrl-C to stop). Try:\n  git -C {} push origin HEAD:my-feature\n  kubectl --kubeconfig {} get environments,applications -n {ns}\n  kubectl --kubeconfig {} get all -n my-feature",
            repos["web"].1.display(),
            kubeconfig.display(),
            kubeconfig.display()
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    let _ = stop_tx.send(true);
    let _ = running.await;
    drop(ctl);
    if args.dir.is_none() && !args.serve {
        std::fs::remove_dir_all(&root).ok();
    }
    Ok(ExitCode::SUCCESS)
}

/// A random API token (128 bits, hex).
fn new_token() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom for a token")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn short(c: &str) -> &str {
    c.get(..7).unwrap_or(c)
}

fn edit_values(work: &Path, from: &str, to: &str) -> Result<()> {
    let p = work.join("charts/values.yaml");
    let text = std::fs::read_to_string(&p)?;
    if !text.contains(from) {
        bail!("{} has no line {from:?}", p.display());
    }
    std::fs::write(&p, text.replace(from, to))?;
    Ok(())
}

async fn job_uid(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), ns);
    jobs.get_opt(name).await.ok()??.metadata.uid
}

/// Wait for an Environment to satisfy `done`, printing each service's progress as it changes.
async fn wait_env(
    client: &kube::Client,
    ns: &str,
    name: &str,
    since: Instant,
    done: impl Fn(&Environment) -> bool,
) -> Result<Arc<Environment>> {
    let envs: Api<Environment> = Api::namespaced(client.clone(), ns);
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    loop {
        if let Some(env) = envs.get_opt(name).await? {
            for s in env.status.iter().flat_map(|s| &s.services) {
                let line = match (&s.waiting_for, s.health) {
                    (Some(w), _) => w.clone(),
                    (None, Some(h)) => format!("{h:?}"),
                    (None, None) => "rendering".into(),
                };
                if shown.get(&s.name) != Some(&line) {
                    println!(
                        "   {:>5.1}s  {:<9} {line}",
                        since.elapsed().as_secs_f64(),
                        s.name
                    );
                    shown.insert(s.name.clone(), line);
                }
            }
            if done(&env) {
                return Ok(Arc::new(env));
            }
        }
        if since.elapsed() > Duration::from_secs(180) {
            bail!("environment {name} was not ready within 3 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
