//! The API's own view of the Applications and Environments: two watches on the controller's
//! namespace, kept as ready-made summaries in sorted maps, so a list of 10,000 Applications is a
//! filtered walk over memory (no API server request per page), and every change is published to
//! the stream at once.
//!
//! It does not depend on the controller running in this process: a standby replica (no leader
//! Lease) serves the API from its own watches too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use controller::types::{ENVIRONMENT_LABEL, ENVIRONMENT_SET_LABEL, SERVICE_LABEL};
use controller::{Application, Environment};
use futures_util::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::{broadcast, watch};

use super::types::{AppSummary, EnvService, EnvSummary, StreamMessage};

/// One published change: what the stream filters on, and the message already serialised once
/// for every subscriber.
#[derive(Debug, Clone)]
pub struct Published {
    /// `application` or `environment`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Its environment.
    pub environment: String,
    /// Its project (empty for environments).
    pub project: String,
    /// The [`StreamMessage`] as JSON.
    pub json: Arc<str>,
}

#[derive(Default)]
struct State {
    /// By name.
    apps: HashMap<String, Arc<Application>>,
    /// (environment, name) → summary: the order lists use.
    summaries: BTreeMap<(String, String), Arc<AppSummary>>,
    /// By name.
    envs: BTreeMap<String, Arc<Environment>>,
    /// By name.
    env_summaries: BTreeMap<String, Arc<EnvSummary>>,
}

/// The watched Applications and Environments. Shared (`Arc`).
pub struct Model {
    state: RwLock<State>,
    tx: broadcast::Sender<Arc<Published>>,
    synced: watch::Sender<(bool, bool)>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.read().expect("model lock");
        f.debug_struct("Model")
            .field("applications", &s.apps.len())
            .field("environments", &s.envs.len())
            .finish()
    }
}

/// Filters of the applications list.
#[derive(Debug, Clone, Default)]
pub struct AppFilter {
    /// Exact environment (`""`: standalone Applications; `None`: any).
    pub environment: Option<String>,
    /// Exact project.
    pub project: Option<String>,
    /// Exact health status (case-insensitive).
    pub health: Option<String>,
    /// Exact sync status (case-insensitive).
    pub sync: Option<String>,
    /// Every word appears in the name, service, environment, repository or revision
    /// (case-insensitive).
    pub search: Vec<String>,
}

impl AppFilter {
    fn matches(&self, a: &AppSummary) -> bool {
        if self
            .environment
            .as_ref()
            .is_some_and(|e| e != &a.environment)
            || self.project.as_ref().is_some_and(|p| p != &a.project)
            || self
                .health
                .as_ref()
                .is_some_and(|h| !h.eq_ignore_ascii_case(&a.health_status))
            || self
                .sync
                .as_ref()
                .is_some_and(|s| !s.eq_ignore_ascii_case(&a.sync_status))
        {
            return false;
        }
        self.search.iter().all(|w| {
            [
                &a.name,
                &a.service,
                &a.environment,
                &a.repo_url,
                &a.revision,
                &a.target_revision,
            ]
            .iter()
            .any(|f| contains_ignore_case(f, w))
        })
    }
}

/// `needle` is already lower case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return h
            .windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    hay.to_lowercase().contains(needle)
}

impl Model {
    /// An empty model (fill it with [`Model::run`], or [`Model::apply_app`] in tests).
    pub fn new() -> Arc<Model> {
        Arc::new(Model {
            state: RwLock::new(State::default()),
            tx: broadcast::channel(4096).0,
            synced: watch::Sender::new((false, false)),
        })
    }

    /// Subscribe to every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }

    /// Mark the model as listed (when filled by hand, without watches).
    pub fn set_synced(&self) {
        self.synced.send_replace((true, true));
    }

    /// Whether both watches have listed once.
    pub fn is_synced(&self) -> bool {
        let (a, e) = *self.synced.borrow();
        a && e
    }

    /// Wait until both watches have listed once, at most `timeout`.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let mut rx = self.synced.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|(a, e)| *a && *e))
            .await
            .is_ok()
    }

    /// Watch the Applications and Environments of `namespace` until the process ends (the
    /// watches restart by themselves after errors, with backoff).
    pub fn spawn(self: &Arc<Self>, client: kube::Client, namespace: &str) {
        let apps: Api<Application> = Api::namespaced(client.clone(), namespace);
        let envs: Api<Environment> = Api::namespaced(client, namespace);
        tokio::spawn(follow(
            self.clone(),
            apps,
            "Applications",
            Watched {
                replace: |m, all| m.replace_apps(all),
                apply: |m, a| m.apply_app(a),
                delete: |m, n| m.delete_app(n),
                listed: |s| s.0 = true,
            },
        ));
        tokio::spawn(follow(
            self.clone(),
            envs,
            "Environments",
            Watched {
                replace: |m, all| m.replace_envs(all),
                apply: |m, e| m.apply_env(e),
                delete: |m, n| m.delete_env(n),
                listed: |s| s.1 = true,
            },
        ));
    }

    fn publish_app(&self, name: &str, env: &str, project: &str, summary: Option<&AppSummary>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let msg = StreamMessage {
            kind: "application".into(),
            action: if summary.is_some() {
                "upsert"
            } else {
                "delete"
            }
            .into(),
            name: name.into(),
            environment: env.into(),
            application: summary.cloned(),
            env: None,
        };
        let json = serde_json::to_string(&msg).unwrap_or_default();
        let _ = self.tx.send(Arc::new(Published {
            kind: "application",
            name: name.into(),
            environment: env.into(),
            project: project.into(),
            json: json.into(),
        }));
    }

    fn publish_env(&self, name: &str, summary: Option<&EnvSummary>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let msg = StreamMessage {
            kind: "environment".into(),
            action: if summary.is_some() {
                "upsert"
            } else {
                "delete"
            }
            .into(),
            name: name.into(),
            environment: name.into(),
            application: None,
            env: summary.cloned(),
        };
        let json = serde_json::to_string(&msg).unwrap_or_default();
        let _ = self.tx.send(Arc::new(Published {
            kind: "environment",
            name: name.into(),
            environment: name.into(),
            project: String::new(),
            json: json.into(),
        }));
    }

    /// Add or replace an Application.
    pub fn apply_app(&self, app: Arc<Application>) {
        let summary = Arc::new(summarize_app(&app));
        let name = summary.name.clone();
        let env = summary.environment.clone();
        let changed;
        {
            let mut s = self.state.write().expect("model lock");
            if let Some(old) = s.apps.insert(name.clone(), app) {
                let old_env = env_of(&old);
                if old_env != env {
                    s.summaries.remove(&(old_env, name.clone()));
                }
            }
            let key = (env.clone(), name.clone());
            changed = s.summaries.get(&key) != Some(&summary);
            s.summaries.insert(key, summary.clone());
        }
        if changed {
            self.publish_app(&name, &env, &summary.project, Some(&summary));
            self.refresh_env(&env);
        }
    }

    /// Remove an Application.
    pub fn delete_app(&self, name: &str) {
        let removed = {
            let mut s = self.state.write().expect("model lock");
            s.apps.remove(name).map(|old| {
                let env = env_of(&old);
                let project = old.spec.project.clone();
                s.summaries.remove(&(env.clone(), name.to_string()));
                (env, project)
            })
        };
        if let Some((env, project)) = removed {
            self.publish_app(name, &env, &project, None);
            self.refresh_env(&env);
        }
    }

    fn replace_apps(&self, all: BTreeMap<String, Arc<Application>>) {
        let gone: Vec<String> = {
            let s = self.state.read().expect("model lock");
            s.apps
                .keys()
                .filter(|k| !all.contains_key(*k))
                .cloned()
                .collect()
        };
        for name in gone {
            self.delete_app(&name);
        }
        for (_, app) in all {
            self.apply_app(app);
        }
    }

    /// Add or replace an Environment.
    pub fn apply_env(&self, env: Arc<Environment>) {
        let name = env.name_any();
        self.state
            .write()
            .expect("model lock")
            .envs
            .insert(name.clone(), env);
        self.refresh_env(&name);
    }

    /// Remove an Environment.
    pub fn delete_env(&self, name: &str) {
        let existed = {
            let mut s = self.state.write().expect("model lock");
            s.env_summaries.remove(name);
            s.envs.remove(name).is_some()
        };
        if existed {
            self.publish_env(name, None);
        }
    }

    fn replace_envs(&self, all: BTreeMap<String, Arc<Environment>>) {
        let gone: Vec<String> = {
            let s = self.state.read().expect("model lock");
            s.envs
                .keys()
                .filter(|k| !all.contains_key(*k))
                .cloned()
                .collect()
        };
        for name in gone {
            self.delete_env(&name);
        }
        for (_, env) in all {
            self.apply_env(env);
        }
    }

    /// Recompute an environment's summary from its resource and its Applications; publish it
    /// when it changed.
    fn refresh_env(&self, name: &str) {
        if name.is_empty() {
            return;
        }
        let summary = {
            let s = self.state.read().expect("model lock");
            let Some(env) = s.envs.get(name) else {
                return;
            };
            let apps: Vec<&AppSummary> = s
                .summaries
                .range((name.to_string(), String::new())..)
                .take_while(|((e, _), _)| e == name)
                .map(|(_, a)| a.as_ref())
                .collect();
            Arc::new(summarize_env(env, &apps))
        };
        let changed = {
            let mut s = self.state.write().expect("model lock");
            let changed = s.env_summaries.get(name) != Some(&summary);
            s.env_summaries.insert(name.to_string(), summary.clone());
            changed
        };
        if changed {
            self.publish_env(name, Some(&summary));
        }
    }

    /// One page of the Applications matching `filter` that `visible` lets through, after the
    /// `(environment, name)` key `after`; and how many match in all.
    pub fn list_apps(
        &self,
        filter: &AppFilter,
        visible: impl Fn(&AppSummary) -> bool,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> (Vec<Arc<AppSummary>>, usize, Option<(String, String)>) {
        let s = self.state.read().expect("model lock");
        let range: Box<dyn Iterator<Item = Entry<'_>>> = match &filter.environment {
            // An environment's Applications are one contiguous range of the map.
            Some(env) => Box::new(
                s.summaries
                    .range((env.clone(), String::new())..)
                    .take_while(move |((e, _), _)| e == env),
            ),
            None => Box::new(s.summaries.iter()),
        };
        let mut total = 0;
        let mut page = Vec::new();
        let mut next = None;
        for (key, a) in range {
            if !filter.matches(a) || !visible(a) {
                continue;
            }
            total += 1;
            if after.is_some_and(|after| key <= after) {
                continue;
            }
            if page.len() < limit {
                page.push(a.clone());
            } else if next.is_none() {
                next = page
                    .last()
                    .map(|p: &Arc<AppSummary>| (p.environment.clone(), p.name.clone()));
            }
        }
        (page, total, next)
    }

    /// An Application by name.
    pub fn app(&self, name: &str) -> Option<(Arc<Application>, Arc<AppSummary>)> {
        let s = self.state.read().expect("model lock");
        let app = s.apps.get(name)?.clone();
        let summary = s.summaries.get(&(env_of(&app), name.to_string()))?.clone();
        Some((app, summary))
    }

    /// Every environment summary, by name.
    pub fn environments(&self) -> Vec<Arc<EnvSummary>> {
        let s = self.state.read().expect("model lock");
        s.env_summaries.values().cloned().collect()
    }

    /// One environment's summary.
    pub fn environment(&self, name: &str) -> Option<Arc<EnvSummary>> {
        let s = self.state.read().expect("model lock");
        s.env_summaries.get(name).cloned()
    }

    /// Every Application summary (for the metrics).
    pub fn for_each_app(&self, mut f: impl FnMut(&AppSummary)) {
        let s = self.state.read().expect("model lock");
        for a in s.summaries.values() {
            f(a);
        }
    }

    /// How many Applications and Environments are known.
    pub fn counts(&self) -> (usize, usize) {
        let s = self.state.read().expect("model lock");
        (s.apps.len(), s.envs.len())
    }
}

/// What a watch of one kind does to the model.
struct Watched<K> {
    /// After a (re)list: everything there is.
    replace: fn(&Model, BTreeMap<String, Arc<K>>),
    apply: fn(&Model, Arc<K>),
    delete: fn(&Model, &str),
    /// Mark this kind as listed.
    listed: fn(&mut (bool, bool)),
}

/// Follow one kind's watch into the model; a relist replaces what the model holds of it.
async fn follow<K>(model: Arc<Model>, api: Api<K>, what: &'static str, on: Watched<K>)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let mut pending: Option<BTreeMap<String, Arc<K>>> = None;
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => pending = Some(BTreeMap::new()),
            Ok(watcher::Event::InitApply(o)) => {
                if let Some(p) = pending.as_mut() {
                    p.insert(o.name_any(), Arc::new(o));
                }
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(all) = pending.take() {
                    (on.replace)(&model, all);
                }
                model.synced.send_modify(on.listed);
            }
            Ok(watcher::Event::Apply(o)) => (on.apply)(&model, Arc::new(o)),
            Ok(watcher::Event::Delete(o)) => (on.delete)(&model, &o.name_any()),
            Err(e) => tracing::warn!(error = %e, "API: watching {what}"),
        }
    }
}

/// One entry of the summaries map.
type Entry<'a> = (&'a (String, String), &'a Arc<AppSummary>);

fn env_of(app: &Application) -> String {
    app.labels()
        .get(ENVIRONMENT_LABEL)
        .cloned()
        .unwrap_or_default()
}

fn debug_name(v: &impl std::fmt::Debug) -> String {
    format!("{v:?}")
}

/// An Application as lists show it.
pub fn summarize_app(app: &Application) -> AppSummary {
    let st = app.status.clone().unwrap_or_default();
    let spec = &app.spec;
    AppSummary {
        name: app.name_any(),
        namespace: app.namespace().unwrap_or_default(),
        environment: env_of(app),
        service: app.labels().get(SERVICE_LABEL).cloned().unwrap_or_default(),
        project: spec.project.clone(),
        repo_url: spec.source.repo_url.clone(),
        path: spec.source.path.clone(),
        target_revision: spec.source.target_revision.clone().unwrap_or_default(),
        destination_namespace: spec.destination.namespace.clone().unwrap_or_default(),
        revision: st
            .sync
            .as_ref()
            .and_then(|s| s.revision.clone())
            .unwrap_or_default(),
        sync_status: st
            .sync
            .as_ref()
            .map(|s| debug_name(&s.status))
            .unwrap_or_else(|| "Unknown".into()),
        health_status: st
            .health
            .as_ref()
            .map(|h| debug_name(&h.status))
            .unwrap_or_else(|| "Unknown".into()),
        health_message: st
            .health
            .as_ref()
            .and_then(|h| h.message.clone())
            .unwrap_or_default(),
        operation_phase: st
            .operation_state
            .as_ref()
            .map(|o| debug_name(&o.phase))
            .unwrap_or_default(),
        waiting_for: st.waiting_for.clone().unwrap_or_default(),
        depends_on: spec.depends_on.clone(),
        conditions: st
            .conditions
            .iter()
            .map(|c| format!("{}: {}", c.type_, c.message))
            .collect(),
        automated: spec
            .sync_policy
            .as_ref()
            .is_some_and(|p| p.automated.is_some()),
        created_at: app
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
        reconciled_at: st.reconciled_at.clone().unwrap_or_default(),
    }
}

/// An environment as the overview shows it: its resource, and its Applications' summaries.
pub fn summarize_env(env: &Environment, apps: &[&AppSummary]) -> EnvSummary {
    let st = env.status.clone().unwrap_or_default();
    let name = env.name_any();
    let mut health: BTreeMap<String, usize> = BTreeMap::new();
    let mut sync: BTreeMap<String, usize> = BTreeMap::new();
    for a in apps {
        *health.entry(a.health_status.clone()).or_default() += 1;
        *sync.entry(a.sync_status.clone()).or_default() += 1;
    }
    let by_service: HashMap<&str, &AppSummary> =
        apps.iter().map(|a| (a.service.as_str(), *a)).collect();
    let mut services: Vec<EnvService> = env
        .spec
        .services
        .iter()
        .map(|svc| {
            let app = by_service.get(svc.name.as_str());
            let svc_status = st.services.iter().find(|s| s.name == svc.name);
            EnvService {
                name: svc.name.clone(),
                application: app
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| controller::app_name(&name, &svc.name)),
                repo_url: svc.repo_url.clone(),
                target_revision: svc.revision.clone(),
                has_branch: svc.has_branch,
                revision: app
                    .map(|a| a.revision.clone())
                    .filter(|r| !r.is_empty())
                    .or_else(|| svc_status.and_then(|s| s.revision.clone()))
                    .unwrap_or_default(),
                sync_status: app
                    .map(|a| a.sync_status.clone())
                    .unwrap_or_else(|| "Unknown".into()),
                health_status: app
                    .map(|a| a.health_status.clone())
                    .unwrap_or_else(|| "Missing".into()),
                waiting_for: app.map(|a| a.waiting_for.clone()).unwrap_or_default(),
                depends_on: app
                    .map(|a| {
                        // Application names of the environment → service names.
                        a.depends_on
                            .iter()
                            .map(|d| {
                                apps.iter()
                                    .find(|x| &x.name == d)
                                    .map(|x| x.service.clone())
                                    .unwrap_or_else(|| d.clone())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    order_by_dependencies(&mut services);
    EnvSummary {
        name: name.clone(),
        environment_set: env
            .labels()
            .get(ENVIRONMENT_SET_LABEL)
            .cloned()
            .unwrap_or_else(|| env.spec.environment_set.clone()),
        branch: env.spec.branch.clone(),
        namespace: env.spec.namespace.clone(),
        phase: if env.meta().deletion_timestamp.is_some() {
            "Deleting".into()
        } else {
            st.phase
                .map(|p| debug_name(&p))
                .unwrap_or_else(|| "Creating".into())
        },
        ready: st.ready,
        total: st
            .total
            .max(i32::try_from(env.spec.services.len()).unwrap_or(i32::MAX)),
        health,
        sync,
        services,
        created_at: st.created_at.clone().unwrap_or_else(|| {
            env.meta()
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default()
        }),
        last_activity: st.last_activity.clone().unwrap_or_default(),
        conditions: st
            .conditions
            .iter()
            .map(|c| format!("{}: {}", c.type_, c.message))
            .collect(),
    }
}

/// Dependencies first; ties (and cycles) keep the EnvironmentSet's order.
fn order_by_dependencies(services: &mut Vec<EnvService>) {
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(services.len());
    let mut rest: Vec<EnvService> = std::mem::take(services);
    while !rest.is_empty() {
        let ready = rest.iter().position(|s| {
            s.depends_on
                .iter()
                .all(|d| placed.contains(d) || !names.contains(d))
        });
        let s = rest.remove(ready.unwrap_or(0));
        placed.insert(s.name.clone());
        out.push(s);
    }
    *services = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, deps: &[&str]) -> EnvService {
        EnvService {
            name: name.into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            ..EnvService::default()
        }
    }

    #[test]
    fn services_come_in_dependency_order() {
        let mut s = vec![
            svc("web", &["api"]),
            svc("api", &["postgres", "redis"]),
            svc("redis", &[]),
            svc("postgres", &[]),
        ];
        order_by_dependencies(&mut s);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["redis", "postgres", "api", "web"]);
        // A cycle still lists everything once.
        let mut c = vec![svc("a", &["b"]), svc("b", &["a"]), svc("c", &[])];
        order_by_dependencies(&mut c);
        let names: Vec<&str> = c.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
    }

    #[test]
    fn search_is_case_insensitive_and_needs_every_word() {
        let a = AppSummary {
            name: "feature-Login-api".into(),
            environment: "feature-login".into(),
            repo_url: "file:///git/api.git".into(),
            ..AppSummary::default()
        };
        let f = |words: &[&str]| AppFilter {
            search: words.iter().map(|w| w.to_lowercase()).collect(),
            ..AppFilter::default()
        };
        assert!(f(&["LOGIN"]).matches(&a));
        assert!(f(&["login", "api.git"]).matches(&a));
        assert!(!f(&["login", "web"]).matches(&a));
        assert!(contains_ignore_case("Zürich-app", "zürich"));
    }
}
