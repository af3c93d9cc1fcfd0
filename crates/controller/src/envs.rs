//! EnvironmentSets and Environments: every branch matching a set's filters in any of its services'
//! repositories gets an Environment (named by the namespace template, unique, stable) with one
//! Application per service: the branch where the service's repository has it, the default
//! revision elsewhere. Environments report phase, ready/total and per-service revisions; cleanup
//! deletes those whose branch is deleted, merged or inactive once that held for the grace period,
//! never on a failed fetch; deleting an Environment deletes its Applications (their delete hooks
//! and objects), then its namespace, and says what blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use crate::app::{Next, RESOURCES_FINALIZER};
use crate::error::{Error, Result};
use crate::run::{Controller, Key, now_rfc3339, parse_rfc3339, unix_now};
use crate::types::{
    ApplicationSource, Condition, ENVIRONMENT_LABEL, ENVIRONMENT_SET_LABEL, Environment,
    EnvironmentPhase, EnvironmentService, EnvironmentServiceStatus, EnvironmentSet,
    EnvironmentStatus, HealthStatusCode, SERVICE_LABEL, SyncStatusCode,
};

/// Annotation an Environment gets once its branch has had commits that the default revision
/// does not (what "merged" later needs).
pub const DIVERGED: &str = "trellis.dev/diverged";

/// The finalizer through which an Environment's deletion removes its Applications and namespace.
pub const ENVIRONMENT_FINALIZER: &str = "trellis.dev/environment-cleanup";

/// The field manager of the objects the controller creates.
const MANAGER: &str = "trellis-controller";

/// Why an environment's branch should go (deleted, merged, inactive), or `None`.
type Verdict = Option<String>;

/// What the set's repositories say about one branch.
struct BranchFacts {
    /// Per service index: the branch's tip there, if the repository has the branch.
    tips: Vec<Option<(String, i64)>>,
}

impl Controller {
    /// The snapshots of a set's repositories (fetching those never fetched); `None` for a
    /// repository whose state is unknown (never fetched successfully or its last fetch failed).
    async fn set_snapshots(
        &self,
        set: &EnvironmentSet,
        fetch: bool,
    ) -> (Vec<Option<source::Snapshot>>, Vec<String>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let mut fetched: BTreeMap<String, std::result::Result<source::Snapshot, String>> =
            BTreeMap::new();
        for svc in &set.spec.services {
            let url = &svc.source.repo_url;
            if !fetched.contains_key(url) {
                let r = if fetch || self.mirrors.snapshot(url).is_none() {
                    self.fetch_repo(url, svc.source.secret_ref.as_ref())
                        .await
                        .map_err(|e| e.to_string())
                } else if let Some(e) = self.mirrors.last_error(url) {
                    Err(e.to_string())
                } else {
                    self.mirrors
                        .snapshot(url)
                        .ok_or_else(|| format!("{url}: not fetched"))
                };
                if let Err(e) = &r {
                    errors.push(e.clone());
                }
                fetched.insert(url.clone(), r);
            }
            out.push(fetched.get(url).and_then(|r| r.as_ref().ok()).cloned());
        }
        (out, errors)
    }

    /// Whether an environment's branch should go, from the set's repositories' state; `Err` when
    /// that state is unknown (a failed fetch decides nothing).
    async fn verdict(
        &self,
        set: &EnvironmentSet,
        snaps: &[Option<source::Snapshot>],
        branch: &str,
        env: Option<&Environment>,
    ) -> std::result::Result<Verdict, String> {
        if snaps.iter().any(Option::is_none) {
            return Err("a repository's state is unknown (fetch failed)".into());
        }
        let facts = facts(snaps, branch);
        let policy = &set.spec.cleanup;
        if facts.tips.iter().all(Option::is_none) {
            return Ok(policy
                .when_branch_deleted
                .then(|| format!("branch {branch} was deleted")));
        }
        if policy.when_merged {
            // Merged: every tip of the branch is reachable from the default revision, and the
            // branch had commits of its own at some point (an Environment records that it
            // diverged; a branch without one yet must be strictly behind the default). A branch
            // just created from the default branch, with no commit yet, is not "merged".
            let mut reachable = true;
            let mut behind = false;
            for (i, tip) in facts.tips.iter().enumerate() {
                let Some((commit, _)) = tip else { continue };
                let url = &set.spec.services[i].source.repo_url;
                let default = &set.spec.default_revision;
                let default_tip = snaps[i]
                    .as_ref()
                    .and_then(|s| s.branch(default))
                    .map(|b| b.commit.clone());
                behind |= default_tip.as_deref() != Some(commit.as_str());
                match self.mirrors.is_ancestor(url, commit, default).await {
                    Ok(true) => {}
                    Ok(false) => {
                        reachable = false;
                        break;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            let diverged = match env {
                Some(e) => e.annotations().get(DIVERGED).is_some_and(|v| v == "true"),
                None => behind,
            };
            if reachable && diverged {
                return Ok(Some(format!(
                    "branch {branch} is merged into {}",
                    set.spec.default_revision
                )));
            }
        }
        if let Ok(Some(inactive)) = policy.inactive_after() {
            let last_commit = facts
                .tips
                .iter()
                .flatten()
                .map(|(_, t)| *t)
                .max()
                .unwrap_or(0);
            let created = env
                .and_then(|e| e.meta().creation_timestamp.as_ref())
                .map(|t| t.0.as_second())
                .unwrap_or(0);
            let last = last_commit.max(created);
            let last = u64::try_from(last).unwrap_or(0);
            if unix_now().saturating_sub(last) > inactive.as_secs() {
                return Ok(Some(format!(
                    "branch {branch} has been inactive for more than {}",
                    policy.when_inactive_for.clone().unwrap_or_default()
                )));
            }
        }
        Ok(None)
    }

    /// Whether the branch has commits the default revision lacks, in any repository that has it.
    async fn has_diverged(
        &self,
        set: &EnvironmentSet,
        snaps: &[Option<source::Snapshot>],
        branch: &str,
    ) -> bool {
        for (i, tip) in facts(snaps, branch).tips.iter().enumerate() {
            let Some((commit, _)) = tip else { continue };
            let url = &set.spec.services[i].source.repo_url;
            if let Ok(false) = self
                .mirrors
                .is_ancestor(url, commit, &set.spec.default_revision)
                .await
            {
                return true;
            }
        }
        false
    }

    /// Create and update the set's Environments and their Applications.
    pub(crate) async fn reconcile_set(self: &Arc<Self>, name: &str) -> Result<Next> {
        let Some(set) = self
            .sets
            .get(&ObjectRef::new(name).within(&self.cfg.namespace))
        else {
            return Ok(Next::Idle);
        };
        if set.meta().deletion_timestamp.is_some() {
            return Ok(Next::Idle);
        }
        let spec = &set.spec;
        let mut conditions = Vec::new();
        let include = regex::Regex::new(&spec.branches.include).map_err(|e| {
            Error::Invalid(format!("branches.include {:?}: {e}", spec.branches.include))
        });
        let exclude = spec
            .branches
            .exclude
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| Error::Invalid(format!("branches.exclude: {e}")));
        let (include, exclude) = match (include, exclude) {
            (Ok(i), Ok(e)) => (i, e),
            (Err(e), _) | (_, Err(e)) => {
                self.write_set_status(&set, vec![condition("InvalidSpec", &e.to_string())])
                    .await?;
                return Ok(Next::Idle);
            }
        };
        if let Err(e) = crate::naming::validate_namespace_template(&spec.namespace_template) {
            self.write_set_status(&set, vec![condition("InvalidSpec", &e.to_string())])
                .await?;
            return Ok(Next::Idle);
        }
        let (snaps, errors) = self.set_snapshots(&set, false).await;
        for e in &errors {
            conditions.push(condition("RepoUnreachable", e));
        }
        // Branches that match, in any service's repository; never the default branch.
        let mut branches: BTreeSet<String> = BTreeSet::new();
        for s in snaps.iter().flatten() {
            for b in &s.branches {
                if b.name != spec.default_revision
                    && include.is_match(&b.name)
                    && !exclude.as_ref().is_some_and(|x| x.is_match(&b.name))
                {
                    branches.insert(b.name.clone());
                }
            }
        }
        let all_envs = self.envs.state();
        let mine: Vec<Arc<Environment>> = all_envs
            .iter()
            .filter(|e| e.spec.environment_set == name)
            .cloned()
            .collect();
        let existing: BTreeMap<String, String> = mine
            .iter()
            .map(|e| (e.spec.branch.clone(), e.name_any()))
            .collect();
        let reserved: BTreeSet<String> = all_envs
            .iter()
            .filter(|e| e.spec.environment_set != name)
            .map(|e| e.name_any())
            .collect();
        // A branch whose environment was cleaned up as merged or inactive gets none again, until
        // a new commit is pushed to it.
        let retired = set
            .status
            .as_ref()
            .map(|s| s.retired.clone())
            .unwrap_or_default();
        let mut wanted = Vec::new();
        for b in &branches {
            let env = mine.iter().find(|e| &e.spec.branch == b);
            if env.is_none()
                && retired
                    .iter()
                    .any(|r| &r.branch == b && r.commits == tips_key(&snaps, b))
            {
                continue;
            }
            if env.is_none()
                && let Ok(Some(_)) = self.verdict(&set, &snaps, b, None).await
            {
                continue;
            }
            wanted.push(b.clone());
        }
        let names = crate::naming::assign_names(
            name,
            &spec.namespace_template,
            &existing,
            &reserved,
            &wanted,
        );
        for branch in &wanted {
            let Some(env_name) = names.get(branch) else {
                continue;
            };
            if let Some(e) = mine.iter().find(|e| &e.spec.branch == branch)
                && e.meta().deletion_timestamp.is_some()
            {
                continue;
            }
            let services: Vec<EnvironmentService> = spec
                .services
                .iter()
                .enumerate()
                .map(|(i, svc)| {
                    let has = snaps[i]
                        .as_ref()
                        .is_some_and(|s| s.branch(branch).is_some());
                    let revision = if has {
                        branch.clone()
                    } else {
                        svc.source
                            .target_revision
                            .clone()
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| spec.default_revision.clone())
                    };
                    EnvironmentService {
                        name: svc.name.clone(),
                        repo_url: svc.source.repo_url.clone(),
                        revision,
                        has_branch: has,
                    }
                })
                .collect();
            let marked = mine
                .iter()
                .find(|e| &e.spec.branch == branch)
                .is_some_and(|e| e.annotations().get(DIVERGED).is_some_and(|v| v == "true"));
            let diverged = marked || self.has_diverged(&set, &snaps, branch).await;
            self.apply_environment(&set, env_name, branch, &services, diverged)
                .await?;
        }
        self.write_set_status(&set, conditions).await?;
        Ok(Next::Idle)
    }

    /// Create or update an Environment and its Applications (server-side apply, idempotent).
    async fn apply_environment(
        &self,
        set: &EnvironmentSet,
        env_name: &str,
        branch: &str,
        services: &[EnvironmentService],
        diverged: bool,
    ) -> Result<()> {
        let ns = &self.cfg.namespace;
        let set_name = set.name_any();
        let pp = PatchParams::apply(MANAGER).force();
        let envs: Api<Environment> = Api::namespaced(self.client.clone(), ns);
        let set_owner = set
            .controller_owner_ref(&())
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
        let existing = self.envs.get(&ObjectRef::new(env_name).within(ns));
        // Every apply carries the finalizer: server-side apply would remove a field this manager
        // set before and leaves out now (and a deleting Environment is never applied).
        let mut env_meta = json!({"name": env_name, "namespace": ns,
            "labels": {ENVIRONMENT_SET_LABEL: set_name},
            "finalizers": [ENVIRONMENT_FINALIZER],
            "ownerReferences": set_owner.into_iter().collect::<Vec<_>>()});
        if diverged {
            env_meta["annotations"] = json!({DIVERGED: "true"});
        }
        let body = json!({"apiVersion": crate::types::API_VERSION, "kind": "Environment",
            "metadata": env_meta,
            "spec": {"environmentSet": set_name, "branch": branch, "namespace": env_name,
                     "services": services}});
        let unchanged = existing.as_ref().is_some_and(|e| {
            e.spec.branch == branch
                && e.spec.services == services
                && e.spec.namespace == env_name
                && e.finalizers().iter().any(|f| f == ENVIRONMENT_FINALIZER)
                && (!diverged || e.annotations().get(DIVERGED).is_some_and(|v| v == "true"))
        });
        let env = if unchanged {
            existing.map(|e| (*e).clone())
        } else {
            Some(
                envs.patch(env_name, &pp, &Patch::Apply(&body))
                    .await
                    .map_err(|e| Error::kube(format!("applying Environment {env_name}"), e))?,
            )
        };
        let Some(env) = env else { return Ok(()) };
        let env_owner = env
            .controller_owner_ref(&())
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
        let apps: Api<crate::types::Application> = Api::namespaced(self.client.clone(), ns);
        let policy = set.spec.sync_policy.clone();
        for (svc, es) in set.spec.services.iter().zip(services) {
            let app_name = app_name(env_name, &svc.name);
            let mut source: ApplicationSource = svc.source.clone();
            source.target_revision = Some(es.revision.clone());
            if let Some(h) = source.helm.as_mut()
                && h.release_name.is_none()
            {
                h.release_name = Some(svc.name.clone());
            }
            if source.helm.is_none() {
                source.helm = Some(crate::types::ApplicationSourceHelm {
                    release_name: Some(svc.name.clone()),
                    ..Default::default()
                });
            }
            let mut sync_policy = svc.sync_policy.clone().or_else(|| policy.clone());
            if let Some(p) = sync_policy.as_mut()
                && !p
                    .sync_options
                    .iter()
                    .any(|o| o.starts_with("CreateNamespace="))
            {
                p.sync_options.push("CreateNamespace=true".into());
            }
            let project = set
                .spec
                .project
                .clone()
                .unwrap_or_else(|| env_name.to_string());
            let body = json!({"apiVersion": crate::types::API_VERSION, "kind": "Application",
                "metadata": {"name": app_name, "namespace": ns,
                    "labels": {ENVIRONMENT_LABEL: env_name, ENVIRONMENT_SET_LABEL: set.name_any(),
                               SERVICE_LABEL: svc.name},
                    "ownerReferences": env_owner.iter().cloned().collect::<Vec<_>>()},
                "spec": {"project": project, "source": source,
                         "destination": {"namespace": env_name},
                         "dependsOn": svc.depends_on,
                         "syncPolicy": sync_policy,
                         "ignoreDifferences": svc.ignore_differences}});
            let current = self.apps.get(&ObjectRef::new(&app_name).within(ns));
            if let Some(c) = &current {
                if c.meta().deletion_timestamp.is_some() {
                    continue;
                }
                let desired: Value = body["spec"].clone();
                let have = serde_json::to_value(&c.spec).unwrap_or(Value::Null);
                if crate::run::json_subset(&desired, &have) {
                    continue;
                }
            }
            apps.patch(&app_name, &pp, &Patch::Apply(&body))
                .await
                .map_err(|e| Error::kube(format!("applying Application {app_name}"), e))?;
        }
        Ok(())
    }

    async fn write_set_status(
        &self,
        set: &EnvironmentSet,
        conditions: Vec<Condition>,
    ) -> Result<()> {
        let name = set.name_any();
        let envs: Vec<Value> = self
            .envs
            .state()
            .iter()
            .filter(|e| e.spec.environment_set == name)
            .map(|e| {
                json!({"name": e.name_any(), "branch": e.spec.branch,
                       "phase": e.status.as_ref().and_then(|s| s.phase)})
            })
            .collect();
        let mut status = json!({"environments": envs, "conditions": conditions,
                                "observedGeneration": set.meta().generation,
                                "retired": set.status.as_ref().map(|s| s.retired.clone()).unwrap_or_default()});
        let current =
            serde_json::to_value(set.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        // Keep the transition times of unchanged conditions.
        if let (Some(new), Some(old)) = (
            status["conditions"].as_array_mut(),
            current.get("conditions").and_then(Value::as_array),
        ) {
            for c in new.iter_mut() {
                if let Some(o) = old
                    .iter()
                    .find(|o| o["type"] == c["type"] && o["message"] == c["message"])
                {
                    c["lastTransitionTime"] = o["lastTransitionTime"].clone();
                }
            }
        }
        if crate::run::json_subset(&status, &current) && crate::run::json_subset(&current, &status)
        {
            return Ok(());
        }
        self.patch_status::<EnvironmentSet>(&name, &status).await
    }

    /// The cleanup check of a set: fetch its repositories, then mark (and after the grace period
    /// delete) the Environments whose branch is deleted, merged or inactive. A fetch that fails
    /// makes the check decide nothing.
    pub(crate) async fn cleanup_set(self: &Arc<Self>, name: &str) -> Result<Next> {
        let Some(set) = self
            .sets
            .get(&ObjectRef::new(name).within(&self.cfg.namespace))
        else {
            return Ok(Next::Idle);
        };
        let (snaps, errors) = self.set_snapshots(&set, true).await;
        let grace = set
            .spec
            .cleanup
            .grace_period()
            .unwrap_or(Duration::from_secs(600));
        let mut next = Next::Idle;
        for env in self.envs.state() {
            if env.spec.environment_set != name || env.meta().deletion_timestamp.is_some() {
                continue;
            }
            let verdict = if errors.is_empty() {
                self.verdict(&set, &snaps, &env.spec.branch, Some(&env))
                    .await
            } else {
                Err(errors.join("; "))
            };
            let mut status = env.status.clone().unwrap_or_default();
            let before = status.clone();
            match verdict {
                Err(why) => {
                    // Nothing is decided on an unknown state: the pending mark stays as it was.
                    tracing::info!(environment = %env.name_any(), reason = %why, "cleanup check skipped");
                }
                Ok(None) => status.conditions.retain(|c| c.type_ != "CleanupPending"),
                Ok(Some(reason)) => {
                    let since = match status
                        .conditions
                        .iter_mut()
                        .find(|c| c.type_ == "CleanupPending")
                    {
                        Some(c) => {
                            c.message = reason.clone();
                            c.last_transition_time.clone()
                        }
                        None => {
                            let now = now_rfc3339();
                            status.conditions.push(Condition {
                                type_: "CleanupPending".into(),
                                message: reason.clone(),
                                last_transition_time: Some(now.clone()),
                            });
                            Some(now)
                        }
                    };
                    let held = since
                        .as_deref()
                        .and_then(parse_rfc3339)
                        .map(|t| unix_now().saturating_sub(t))
                        .unwrap_or(0);
                    if held >= grace.as_secs() {
                        tracing::info!(environment = %env.name_any(), %reason, "deleting environment");
                        let key = tips_key(&snaps, &env.spec.branch);
                        if !key.is_empty() {
                            self.retire(&set, &env.spec.branch, &key, &reason).await?;
                        }
                        let api: Api<Environment> =
                            Api::namespaced(self.client.clone(), &self.cfg.namespace);
                        match api.delete(&env.name_any(), &DeleteParams::default()).await {
                            Ok(_) => {}
                            Err(kube::Error::Api(s)) if s.code == 404 => {}
                            Err(e) => {
                                return Err(Error::kube(
                                    format!("deleting Environment {}", env.name_any()),
                                    e,
                                ));
                            }
                        }
                        self.stats
                            .environments_cleaned
                            .fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let left = grace.as_secs() - held;
                    next = match next {
                        Next::After(d) if d.as_secs() <= left => next,
                        _ => Next::After(Duration::from_secs(left.max(1))),
                    };
                }
            }
            if status != before {
                self.patch_env_status(&env.name_any(), &before, &status)
                    .await?;
            }
        }
        Ok(next)
    }

    /// Aggregate an Environment's status from its Applications, or carry out its deletion.
    pub(crate) async fn reconcile_env(self: &Arc<Self>, name: &str) -> Result<Next> {
        let ns = self.cfg.namespace.clone();
        let Some(env) = self.envs.get(&ObjectRef::new(name).within(&ns)) else {
            return Ok(Next::Idle);
        };
        if env.meta().deletion_timestamp.is_some() {
            return self.delete_env(&env).await;
        }
        let mut services = Vec::new();
        let mut ready = 0;
        let mut degraded = false;
        let mut last_activity: u64 = env
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| u64::try_from(t.0.as_second()).unwrap_or(0))
            .unwrap_or(0);
        for svc in &env.spec.services {
            let app_name = app_name(name, &svc.name);
            let app = self.apps.get(&ObjectRef::new(&app_name).within(&ns));
            let st = app
                .as_ref()
                .and_then(|a| a.status.clone())
                .unwrap_or_default();
            let memo = self.memo.lock().expect("memo lock").get(&app_name).cloned();
            let health = memo
                .as_ref()
                .and_then(|m| m.health)
                .or(st.health.as_ref().map(|h| h.status));
            let sync = memo
                .as_ref()
                .and_then(|m| m.sync)
                .or(st.sync.as_ref().map(|s| s.status));
            if health == Some(HealthStatusCode::Healthy) && sync == Some(SyncStatusCode::Synced) {
                ready += 1;
            }
            degraded |= health == Some(HealthStatusCode::Degraded);
            if let Some(t) = memo
                .as_ref()
                .and_then(|m| m.last_sync.as_deref())
                .and_then(parse_rfc3339)
            {
                last_activity = last_activity.max(t);
            }
            if svc.has_branch
                && let Some(b) = self
                    .mirrors
                    .snapshot(&svc.repo_url)
                    .and_then(|s| s.branch(&env.spec.branch).cloned())
            {
                last_activity = last_activity.max(u64::try_from(b.commit_time).unwrap_or(0));
            }
            services.push(EnvironmentServiceStatus {
                name: svc.name.clone(),
                revision: memo
                    .as_ref()
                    .and_then(|m| m.revision.clone())
                    .or(st.sync.as_ref().and_then(|s| s.revision.clone())),
                sync,
                health,
                waiting_for: st.waiting_for.clone(),
            });
        }
        let total = env.spec.services.len();
        let mut status = env.status.clone().unwrap_or_default();
        let before = status.clone();
        status.ready = i32::try_from(ready).unwrap_or(i32::MAX);
        status.total = i32::try_from(total).unwrap_or(i32::MAX);
        status.phase = Some(if total > 0 && ready == total {
            EnvironmentPhase::Ready
        } else if degraded {
            EnvironmentPhase::Degraded
        } else {
            EnvironmentPhase::Creating
        });
        if status.phase == Some(EnvironmentPhase::Ready)
            && before.phase != Some(EnvironmentPhase::Ready)
        {
            // Push → Ready: from the newest commit or sync request, or from the environment's
            // creation when that is later (a new branch's tip may be an old commit).
            let created = env
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|t| u64::try_from(t.0.as_second()).unwrap_or(0))
                .unwrap_or(0);
            let since = last_activity.max(created);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            #[allow(clippy::cast_precision_loss)]
            let since = since as f64;
            if since > 0.0 && now >= since {
                self.metrics.environment_ready.observe(now - since);
            }
        }
        status.services = services;
        status.created_at = env
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| sync::state::rfc3339(u64::try_from(t.0.as_second()).unwrap_or(0)));
        status.last_activity = Some(sync::state::rfc3339(last_activity));
        status.observed_generation = env.meta().generation;
        status.deletion_blocked_by = None;
        // A repository that cannot be fetched: the environment keeps its last good commits and
        // says why.
        let unreachable: Vec<String> = env
            .spec
            .services
            .iter()
            .filter_map(|s| {
                self.mirrors
                    .last_error(&s.repo_url)
                    .map(|e| format!("{}: {e}; using the last fetched commit", s.name))
            })
            .collect();
        status.conditions.retain(|c| c.type_ != "RepoUnreachable");
        if !unreachable.is_empty() {
            let message = unreachable.join("; ");
            let since = before
                .conditions
                .iter()
                .find(|c| c.type_ == "RepoUnreachable" && c.message == message)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(now_rfc3339);
            status.conditions.push(Condition {
                type_: "RepoUnreachable".into(),
                message,
                last_transition_time: Some(since),
            });
        }
        if status != before {
            self.patch_env_status(name, &before, &status).await?;
        }
        Ok(Next::Idle)
    }

    async fn patch_env_status(
        &self,
        name: &str,
        before: &EnvironmentStatus,
        status: &EnvironmentStatus,
    ) -> Result<()> {
        let patch = crate::run::clearing_patch(
            &serde_json::to_value(before).unwrap_or_default(),
            serde_json::to_value(status).unwrap_or_default(),
        );
        self.patch_status::<Environment>(name, &patch).await
    }

    /// Delete an Environment: its Applications (each runs its delete hooks and deletes its
    /// objects), then its namespace; report what blocks; then release the finalizer.
    async fn delete_env(self: &Arc<Self>, env: &Environment) -> Result<Next> {
        let name = env.name_any();
        if !env.finalizers().iter().any(|f| f == ENVIRONMENT_FINALIZER) {
            return Ok(Next::Idle);
        }
        let ns = self.cfg.namespace.clone();
        // Deleted by a person (`trellis env delete`, the API, kubectl) while its branch exists:
        // it stays deleted until a new commit is pushed, as after a cleanup (which retires the
        // branch itself before deleting); otherwise its set would recreate it at once.
        if let Some(set) = self
            .sets
            .get(&ObjectRef::new(&env.spec.environment_set).within(&ns))
            .filter(|s| s.meta().deletion_timestamp.is_none())
        {
            let (snaps, _) = self.set_snapshots(&set, false).await;
            let branch = &env.spec.branch;
            let key = tips_key(&snaps, branch);
            let retired = set.status.as_ref().is_some_and(|s| {
                s.retired
                    .iter()
                    .any(|r| &r.branch == branch && r.commits == key)
            });
            if !key.is_empty() && !retired {
                self.retire(&set, branch, &key, "deleted by request")
                    .await?;
            }
        }
        let mut status = env.status.clone().unwrap_or_default();
        status.phase = Some(EnvironmentPhase::Deleting);
        let apps: Api<crate::types::Application> = Api::namespaced(self.client.clone(), &ns);
        let remaining = self.index.apps_of_env(&name);
        if !remaining.is_empty() {
            for a in &remaining {
                let Some(app) = self.apps.get(&ObjectRef::new(a).within(&ns)) else {
                    continue;
                };
                if app.meta().deletion_timestamp.is_none() {
                    // The resources finalizer makes the deletion run the Application's delete
                    // hooks and remove its objects before the Application goes.
                    if !app.finalizers().iter().any(|f| f == RESOURCES_FINALIZER) {
                        let mut f = app.finalizers().to_vec();
                        f.push(RESOURCES_FINALIZER.into());
                        let _ = self
                            .set_finalizers::<crate::types::Application>(a, &f)
                            .await;
                    }
                    match apps.delete(a, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(Error::kube(format!("deleting Application {a}"), e)),
                    }
                }
            }
            status.deletion_blocked_by = Some(format!(
                "waiting for {} application(s) to be deleted: {}",
                remaining.len(),
                remaining.join(", ")
            ));
            if env.status.as_ref() != Some(&status) {
                let before = env.status.clone().unwrap_or_default();
                self.patch_env_status(&name, &before, &status).await?;
            }
            return Ok(Next::After(Duration::from_secs(2)));
        }
        let nss: Api<Namespace> = Api::all(self.client.clone());
        let target = env.spec.namespace.clone();
        match nss.get_opt(&target).await {
            Err(e) => return Err(Error::kube(format!("reading namespace {target}"), e)),
            Ok(Some(n)) => {
                if n.metadata.deletion_timestamp.is_none() {
                    match nss.delete(&target, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => {
                            return Err(Error::kube(format!("deleting namespace {target}"), e));
                        }
                    }
                }
                let blocked = n
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|c| c.status == "True")
                    .map(|c| c.message.clone().unwrap_or_default())
                    .filter(|m| !m.is_empty())
                    .collect::<Vec<_>>();
                status.deletion_blocked_by = Some(if blocked.is_empty() {
                    format!("namespace {target} is being deleted")
                } else {
                    format!("namespace {target}: {}", blocked.join("; "))
                });
                if env.status.as_ref() != Some(&status) {
                    let before = env.status.clone().unwrap_or_default();
                    self.patch_env_status(&name, &before, &status).await?;
                }
                return Ok(Next::After(Duration::from_secs(2)));
            }
            Ok(None) => {}
        }
        let rest: Vec<String> = env
            .finalizers()
            .iter()
            .filter(|f| *f != ENVIRONMENT_FINALIZER)
            .cloned()
            .collect();
        self.set_finalizers::<Environment>(&name, &rest).await?;
        if let Some(set) = env.labels().get(ENVIRONMENT_SET_LABEL) {
            self.queue.add(Key::Set(set.clone()), format!("set/{set}"));
        }
        Ok(Next::Idle)
    }
}

impl Controller {
    /// Record a branch whose environment cleanup removed while the branch still exists.
    async fn retire(
        &self,
        set: &EnvironmentSet,
        branch: &str,
        commits: &str,
        reason: &str,
    ) -> Result<()> {
        let name = set.name_any();
        let api: Api<EnvironmentSet> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
        // Read the list afresh: an earlier retire of this reconcile is not in `set` yet.
        let current = api
            .get_opt(&name)
            .await
            .map_err(|e| Error::kube(format!("reading EnvironmentSet {name}"), e))?;
        let mut retired: Vec<crate::types::RetiredBranch> = current
            .as_ref()
            .unwrap_or(set)
            .status
            .as_ref()
            .map(|s| s.retired.clone())
            .unwrap_or_default();
        retired.retain(|r| r.branch != branch);
        retired.push(crate::types::RetiredBranch {
            branch: branch.into(),
            commits: commits.into(),
            reason: reason.into(),
        });
        // Keep the list bounded: the oldest entries go first.
        let excess = retired.len().saturating_sub(1000);
        retired.drain(..excess);
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"retired": retired}})),
        )
        .await
        .map_err(|e| Error::kube(format!("recording retired branch {branch} of {name}"), e))?;
        Ok(())
    }
}

/// The tips of a branch across a set's repositories, as one comparable string.
fn tips_key(snaps: &[Option<source::Snapshot>], branch: &str) -> String {
    let mut tips: Vec<String> = facts(snaps, branch)
        .tips
        .into_iter()
        .flatten()
        .map(|(c, _)| c)
        .collect();
    tips.sort();
    tips.dedup();
    tips.join(",")
}

/// The Application of a service in an environment.
pub fn app_name(env: &str, service: &str) -> String {
    format!("{env}-{service}")
}

fn condition(type_: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        message: message.into(),
        last_transition_time: Some(now_rfc3339()),
    }
}

fn facts(snaps: &[Option<source::Snapshot>], branch: &str) -> BranchFacts {
    BranchFacts {
        tips: snaps
            .iter()
            .map(|s| {
                s.as_ref()
                    .and_then(|s| s.branch(branch))
                    .map(|b| (b.commit.clone(), b.commit_time))
            })
            .collect(),
    }
}
