//! The custom resources Trellis owns, as Rust types, and the CRDs generated from them.
//!
//! Three kinds in group `trellis.dev`, version `v1alpha1`, all namespaced:
//!
//! - [`Application`]: one chart from git deployed to one namespace. Its `spec` keeps Argo CD's
//!   Application field names (`project`, `source {repoURL, path, targetRevision, helm}`,
//!   `destination`, `syncPolicy`, `ignoreDifferences`, `revisionHistoryLimit`), so an Argo CD user
//!   moves an Application over by changing its `apiVersion`. Trellis adds `dependsOn` and, on the
//!   source, `secretRef`. Argo CD fields Trellis does not implement (`sources`, `source.chart`,
//!   `helm.fileParameters`, `kustomize`, ...) are not in the schema, so the API server rejects or
//!   prunes them instead of Trellis silently ignoring them.
//! - [`EnvironmentSet`]: how branches become environments: which branches, which services, how the
//!   namespace is named, when environments are cleaned up.
//! - [`Environment`]: one per matching branch, created and owned by the controller in the
//!   controller's namespace; it owns the environment's namespace and Applications.
//!
//! Conventions:
//! - Fields are camelCase on the wire. Optional fields and empty lists are left out when
//!   serialising, so what Trellis writes back is what a person would write.
//! - Durations are Go duration strings (`72h`, `10m`, `1h30m`, `500ms`), read with
//!   [`parse_go_duration`], which also takes `d` for days (Go has no day unit).
//! - Timestamps in status are RFC 3339 strings (as the `sync` crate's operation state keeps them).
//! - Status values Argo CD defines as fixed sets (sync status, health, operation phase) are enums;
//!   an unknown value read from the cluster becomes `Unknown` instead of failing the whole object.
//!
//! Git credentials: a source may name a Secret with `secretRef: {name}`. The Secret lives in the
//! controller's namespace and holds either `token` (HTTPS, sent as the password with user
//! `x-access-token` unless `username` is also set), or `username` and `password` (HTTPS basic
//! auth), or `sshPrivateKey` (SSH, with an optional `knownHosts`). Argo CD keeps credentials in
//! repository Secrets matched by URL; Trellis names the Secret on the source instead, so which
//! credentials an Application uses is visible on it.
//!
//! [`crds`] returns the three CustomResourceDefinitions and [`crds_yaml`] prints them (what
//! `trellis crds` shows and `trellis serve` installs). Their schemas are structural, as the API
//! server requires (checked by this module's tests).

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every Trellis resource.
pub const GROUP: &str = "trellis.dev";
/// The API version of every Trellis resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every Trellis resource.
pub const API_VERSION: &str = "trellis.dev/v1alpha1";
/// Label on each Application (and namespace) of an environment, naming the Environment.
pub const ENVIRONMENT_LABEL: &str = "trellis.dev/environment";
/// Label on each Environment naming the EnvironmentSet it was made for.
pub const ENVIRONMENT_SET_LABEL: &str = "trellis.dev/environment-set";
/// Label naming the service of its EnvironmentSet an Application deploys (what `dependsOn` names).
pub const SERVICE_LABEL: &str = "trellis.dev/service";

// ---------------------------------------------------------------------------------------------
// Application
// ---------------------------------------------------------------------------------------------

/// The desired state of an Application: a chart from git, where it goes, and how it is synced.
// `printcolumn(type_ = "string")` repeats by design: clippy's duplicated-attribute check misreads it.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "trellis.dev",
    version = "v1alpha1",
    kind = "Application",
    plural = "applications",
    singular = "application",
    shortname = "tapp",
    category = "trellis",
    namespaced,
    status = "ApplicationStatus",
    derive = "PartialEq",
    doc = "A Helm chart from git deployed to one namespace, kept in sync with its source. Argo CD's Application shape.",
    printcolumn(
        name = "Sync Status",
        type_ = "string",
        json_path = ".status.sync.status"
    ),
    printcolumn(
        name = "Health Status",
        type_ = "string",
        json_path = ".status.health.status"
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.sync.revision"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Project the application belongs to (Argo CD's field; Trellis uses it to group applications
    /// and for per-project roles). Defaults to `default`.
    #[serde(default = "default_project")]
    pub project: String,
    /// Where the chart comes from.
    pub source: ApplicationSource,
    /// Where the rendered objects go.
    pub destination: ApplicationDestination,
    /// Applications of the same environment (same namespace and `trellis.dev/environment` label)
    /// that must be Healthy before this one syncs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// When and how to sync. Without `automated`, syncs only on request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// How many entries of `status.history` to keep (Argo CD's default is 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Differences between desired and live state to ignore when comparing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
}

fn default_project() -> String {
    "default".to_string()
}

/// A chart in a git repository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// Repository URL: `https://`, `http://`, `ssh://`, `git@host:org/repo` or `file://`.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Directory of the chart inside the repository; empty means the repository's root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Branch, tag or commit id. Without it: the repository's default branch (`HEAD`) for an
    /// Application; for an EnvironmentSet service, the environment's branch where the repository
    /// has it and `defaultRevision` elsewhere (setting it there pins the service to that revision
    /// in every environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// Helm options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<ApplicationSourceHelm>,
    /// A Secret in the controller's namespace with the repository's credentials: `token`, or
    /// `username` and `password`, or `sshPrivateKey` (and optionally `knownHosts`). Trellis's
    /// addition to Argo CD's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// A Secret by name, in the controller's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret.
    pub name: String,
}

/// Helm options of a source (Argo CD's `source.helm`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSourceHelm {
    /// Release name (`.Release.Name`); defaults to the Application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Values files, relative to the chart directory, lowest precedence first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// `--set` style parameters, highest precedence. `$TRELLIS_APP_REVISION` and
    /// `$ARGOCD_APP_REVISION` in values are replaced by the commit id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// Inline values as a YAML string, above the values files and below the parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// Inline values as an object (takes precedence over `values`, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub values_object: Option<serde_json::Value>,
}

/// One Helm parameter (`--set name=value`, or `--set-string` with `forceString`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    /// Dotted path, as for `--set` (`global.image.tag`).
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
    /// Keep the value a string (`--set-string`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_string: bool,
}

/// Target cluster and namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDestination {
    /// API server URL (`https://kubernetes.default.svc` for the cluster Trellis runs in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Namespace of the application's namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Cluster by name, instead of `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// When and how to sync (Argo CD's `syncPolicy`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Sync automatically whenever desired and live state differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<SyncPolicyAutomated>,
    /// Argo CD's sync options (`CreateNamespace=true`, `Validate=false`, `PruneLast=true`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Retries of a failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
}

/// Automated sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyAutomated {
    /// Delete objects that are no longer rendered.
    #[serde(default)]
    pub prune: bool,
    /// Sync again when live state drifts from desired state without a new commit.
    #[serde(default)]
    pub self_heal: bool,
}

/// Retries of a failed sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryStrategy {
    /// Attempts after the first one (negative: without limit, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Delays between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Exponential backoff between retries.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First delay: a Go duration (`5s`, `2m`) or a number of seconds (`"5"`). Default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Factor the delay grows by after each attempt. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Largest delay, as `duration`. Default `3m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

impl Backoff {
    /// The first delay; `None` if `duration` is set but unreadable.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
            .as_deref()
            .map_or(Some(Duration::from_secs(5)), parse_backoff_duration)
    }

    /// The largest delay; `None` if `maxDuration` is set but unreadable.
    pub fn max_duration(&self) -> Option<Duration> {
        self.max_duration
            .as_deref()
            .map_or(Some(Duration::from_secs(180)), parse_backoff_duration)
    }

    /// The growth factor (at least 1; default 2).
    pub fn factor(&self) -> u32 {
        self.factor
            .map_or(2, |f| u32::try_from(f.max(1)).unwrap_or(u32::MAX))
    }
}

/// Differences to ignore for matching objects (Argo CD's `ignoreDifferences`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIgnoreDifferences {
    /// API group (empty or absent for the core group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind.
    pub kind: String,
    /// Only the object of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only objects in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// RFC 6901 JSON pointers to ignore (`/spec/replicas`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq path expressions to ignore (`.spec.template.spec.containers[].image`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    /// Ignore fields owned by these field managers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

/// What the controller last observed and did for an Application.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Whether live state matches the desired state of `revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    /// Aggregated health of the application's objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// The current or last sync operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// Every object the application renders or still tracks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Successful syncs, oldest first, at most `revisionHistoryLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
    /// Problems (render error, unreachable repository, dependency cycle...), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the controller last compared desired and live state (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// What the application waits for before syncing (`waiting for postgres: Progressing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
}

/// Comparison of desired and live state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: SyncStatusCode,
    /// Commit id the comparison was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Argo CD's sync status codes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum SyncStatusCode {
    /// Live state equals desired state.
    Synced,
    /// Live state differs from desired state.
    OutOfSync,
    /// Not compared (yet), or could not be.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Health with the reason shown to people.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// Health.
    pub status: HealthStatusCode,
    /// Why (absent when healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Argo CD's health status codes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum HealthStatusCode {
    /// Everything is as desired.
    Healthy,
    /// Still converging.
    Progressing,
    /// Failed.
    Degraded,
    /// Paused on purpose.
    Suspended,
    /// Expected but absent.
    Missing,
    /// Not assessed (yet), or could not be.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A sync operation's progress and result.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// Phase.
    pub phase: OperationPhase,
    /// Summary or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339), once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Per-object results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncOperationResult>,
    /// Retries made so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
}

/// Argo CD's operation phases.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum OperationPhase {
    /// In progress.
    #[default]
    Running,
    /// Being stopped.
    Terminating,
    /// Finished successfully.
    Succeeded,
    /// An object or hook failed.
    Failed,
    /// The operation could not be carried out (API server unreachable, render error...); read as
    /// well for values Trellis does not know.
    #[serde(other)]
    Error,
}

/// Result of a sync operation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResult {
    /// Commit id synced.
    pub revision: String,
    /// Per-object results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceResult>,
}

/// What a sync did to one object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Result: `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped` (Argo CD's), `Unchanged`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Server message or reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For hooks: `Running`, `Succeeded`, `Failed`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<String>,
    /// `PreSync`, `Sync`, `PostSync`, `SyncFail`, `PreDelete`, `PostDelete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<String>,
}

/// One object of an application and its state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Whether the live object matches the desired one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SyncStatusCode>,
    /// Health of the object, when assessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// Whether the object is a hook.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hook: bool,
    /// Tracked but no longer rendered: a sync with prune deletes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
}

/// One successful sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    /// Increasing id.
    pub id: i64,
    /// Commit id deployed.
    pub revision: String,
    /// When the sync finished (RFC 3339).
    pub deployed_at: String,
    /// When the sync started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<String>,
    /// The source as it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
}

/// A problem worth showing, in Argo CD's style: present while it lasts, removed when solved.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type (`ComparisonError`, `SyncError`, `RepositoryError`, `DependencyCycle`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// When the condition appeared (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// EnvironmentSet
// ---------------------------------------------------------------------------------------------

/// How branches become environments.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "trellis.dev",
    version = "v1alpha1",
    kind = "EnvironmentSet",
    plural = "environmentsets",
    singular = "environmentset",
    shortname = "tenvset",
    category = "trellis",
    namespaced,
    status = "EnvironmentSetStatus",
    derive = "PartialEq",
    doc = "Services and rules that turn every matching git branch into an Environment.",
    printcolumn(
        name = "Default Revision",
        type_ = "string",
        json_path = ".spec.defaultRevision"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSetSpec {
    /// The branch a service deploys where its repository has no branch of the environment's name,
    /// and the branch "merged" is measured against. It never gets an environment. Default `main`.
    #[serde(default = "default_revision")]
    pub default_revision: String,
    /// Which branches get an environment.
    #[serde(default)]
    pub branches: BranchFilter,
    /// Name of each environment and its namespace: `{{branch}}` (also `{{ branch }}` and
    /// `{{branch_slug}}`) and `{{set}}` (this EnvironmentSet's name) are replaced, then the result
    /// is made a DNS label of at most 63 characters; two branches that come out alike get distinct
    /// names. Default `{{branch}}`.
    #[serde(default = "default_namespace_template")]
    pub namespace_template: String,
    /// The services every environment deploys, one Application each.
    pub services: Vec<ServiceTemplate>,
    /// Sync policy of every service that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// When environments are removed.
    #[serde(default)]
    pub cleanup: CleanupPolicy,
    /// Project of the Applications; defaults to the environment's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

fn default_revision() -> String {
    "main".to_string()
}

fn default_namespace_template() -> String {
    "{{branch}}".to_string()
}

/// Branch selection by regular expressions (Rust `regex` syntax, unanchored unless `^`/`$`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BranchFilter {
    /// Branches matching this get an environment. Default `.*`.
    #[serde(default = "default_include")]
    pub include: String,
    /// ... unless they match this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
}

fn default_include() -> String {
    ".*".to_string()
}

impl Default for BranchFilter {
    fn default() -> Self {
        BranchFilter {
            include: default_include(),
            exclude: None,
        }
    }
}

/// One service of an EnvironmentSet: becomes one Application per environment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTemplate {
    /// Service name, unique in the set; the Application is named after it and the environment.
    pub name: String,
    /// The chart. `targetRevision` is normally left out (see its description).
    pub source: ApplicationSource,
    /// Services of the same set that must be Healthy before this one syncs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Overrides the set's `syncPolicy` for this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Differences to ignore for this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
}

/// When environments are deleted. A condition must hold for `gracePeriod` before the environment
/// goes, and nothing is deleted on a transient error (an unreachable repository proves nothing).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupPolicy {
    /// When the branch no longer exists in any of the services' repositories. Default true.
    #[serde(default = "default_true")]
    pub when_branch_deleted: bool,
    /// When the branch tip is reachable from `defaultRevision`. Default true.
    #[serde(default = "default_true")]
    pub when_merged: bool,
    /// When the branch had no new commit and no sync request for this long (Go duration,
    /// `72h`; `d` is accepted for days). Absent: never for inactivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_inactive_for: Option<String>,
    /// How long a condition must hold before the environment is deleted. Default `10m`.
    #[serde(default = "default_grace_period")]
    pub grace_period: String,
}

fn default_true() -> bool {
    true
}

fn default_grace_period() -> String {
    "10m".to_string()
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            when_branch_deleted: true,
            when_merged: true,
            when_inactive_for: None,
            grace_period: default_grace_period(),
        }
    }
}

impl CleanupPolicy {
    /// `gracePeriod` as a duration; `None` when it is not a valid duration.
    pub fn grace_period(&self) -> Option<Duration> {
        parse_go_duration(&self.grace_period)
    }

    /// `whenInactiveFor` as a duration: `Ok(None)` when absent, `Err` with the text when it is not
    /// a valid duration.
    pub fn inactive_after(&self) -> Result<Option<Duration>, String> {
        match &self.when_inactive_for {
            None => Ok(None),
            Some(s) => parse_go_duration(s).map(Some).ok_or_else(|| s.clone()),
        }
    }
}

/// What the controller observed for an EnvironmentSet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSetStatus {
    /// Its environments, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentSummary>,
    /// Problems (invalid regex or template, unreachable repository...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Branches whose environment cleanup removed while the branch still exists (merged or
    /// inactive), with the commits it was at: no environment is made for them again until a new
    /// commit is pushed to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredBranch>,
}

/// A branch cleanup retired (see [`EnvironmentSetStatus::retired`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetiredBranch {
    /// The branch.
    pub branch: String,
    /// Its tip commits (one per repository that has it, sorted, comma-separated) when retired.
    pub commits: String,
    /// Why.
    pub reason: String,
}

/// One environment of a set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSummary {
    /// Environment (and namespace) name.
    pub name: String,
    /// Branch.
    pub branch: String,
    /// Phase, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<EnvironmentPhase>,
}

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

/// One branch's environment. Created by the controller, in the controller's namespace.
// `printcolumn(type_ = ...)` repeats by design: clippy's duplicated-attribute check misreads it.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "trellis.dev",
    version = "v1alpha1",
    kind = "Environment",
    plural = "environments",
    singular = "environment",
    shortname = "tenv",
    category = "trellis",
    namespaced,
    status = "EnvironmentStatus",
    derive = "PartialEq",
    doc = "One git branch deployed: a namespace and one Application per service of its EnvironmentSet.",
    printcolumn(name = "Branch", type_ = "string", json_path = ".spec.branch"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.ready"),
    printcolumn(name = "Total", type_ = "integer", json_path = ".status.total"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// The EnvironmentSet it was made for (same namespace).
    pub environment_set: String,
    /// Git branch.
    pub branch: String,
    /// Namespace it deploys to (and owns).
    pub namespace: String,
    /// What each service deploys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<EnvironmentService>,
}

/// The revision one service deploys in an environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentService {
    /// Service name.
    pub name: String,
    /// Repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch (or pinned revision) deployed.
    pub revision: String,
    /// Whether the repository has the environment's branch (otherwise `revision` is the set's
    /// `defaultRevision`).
    #[serde(default)]
    pub has_branch: bool,
}

/// What the controller observed for an Environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    /// Phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<EnvironmentPhase>,
    /// Applications Synced and Healthy.
    #[serde(default)]
    pub ready: i32,
    /// Applications.
    #[serde(default)]
    pub total: i32,
    /// Per service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<EnvironmentServiceStatus>,
    /// When the environment was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last new commit or sync request on the branch (RFC 3339); `whenInactiveFor` counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    /// Where to open the environment, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Problems, and the reason a cleanup is pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// While deleting: what blocks it (an object's finalizer, a failing PreDelete hook...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_blocked_by: Option<String>,
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Lifecycle of an environment.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum EnvironmentPhase {
    /// Applications are being created or have not all been Synced and Healthy yet.
    Creating,
    /// Every Application is Synced and Healthy.
    Ready,
    /// Being removed.
    Deleting,
    /// Was Ready, and an Application is no longer Synced and Healthy (or failed to sync); read as
    /// well for values Trellis does not know.
    #[serde(other)]
    Degraded,
}

/// One service's state in an environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentServiceStatus {
    /// Service name.
    pub name: String,
    /// Commit id deployed (or being deployed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Sync status of its Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatusCode>,
    /// Health of its Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatusCode>,
    /// What its Application waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Schemas, CRDs, durations
// ---------------------------------------------------------------------------------------------

/// Schema of a free-form object (Helm values): any keys, kept as they are by the API server.
fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// The CustomResourceDefinitions of Application, EnvironmentSet and Environment, in that order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Application::crd(),
        EnvironmentSet::crd(),
        Environment::crd(),
    ]
}

/// [`crds`] as one multi-document YAML stream (documents separated by `---`), ready for
/// `kubectl apply -f`. The output is deterministic.
pub fn crds_yaml() -> String {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        // A CRD is plain data (strings, maps, lists, JSON values): serialising it cannot fail.
        let doc = serde_saphyr::to_string(&crd).expect("a CustomResourceDefinition serialises");
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Parse a Go duration (`time.ParseDuration`): a sequence of decimal numbers, each with an
/// optional fraction and a unit, such as `72h`, `10m`, `1h30m`, `1.5s`, `500ms`. Units: `ns`,
/// `us` (`µs`), `ms`, `s`, `m`, `h`, and, beyond Go, `d` for 24 hours. `0` alone is zero.
/// Negative durations, a missing unit, an empty string and overflow give `None`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|&(_, c)| c.is_ascii_digit() || c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            _ => return None,
        };
        // At most 30 digits per part, so the arithmetic below fits in u128.
        if int_part.len() > 30 {
            return None;
        }
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut nanos = whole.checked_mul(nanos_per_unit)?;
        let mut scale = nanos_per_unit;
        for digit in frac_part.bytes().take(30) {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
        }
        total = total.checked_add(nanos)?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    let nanos = u32::try_from(total % 1_000_000_000).ok()?;
    Some(Duration::new(secs, nanos))
}

/// A retry backoff duration as Argo CD reads it: a Go duration, or a bare number of seconds.
pub fn parse_backoff_duration(s: &str) -> Option<Duration> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok().map(Duration::from_secs);
    }
    parse_go_duration(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const APPLICATION_YAML: &str = r#"
apiVersion: trellis.dev/v1alpha1
kind: Application
metadata: {name: pdf-feat-login, namespace: trellis, labels: {trellis.dev/environment: feat-login}}
spec:
  project: feat-login
  source:
    repoURL: https://git.example.com/acme/pdf.git
    path: charts
    targetRevision: feat-login          # branch, tag or commit
    helm:
      releaseName: pdf
      valueFiles: [default.yaml, staging.yaml]
      parameters: [{name: global.image.tag, value: $TRELLIS_APP_REVISION}]
      values: |                          # inline values, highest precedence after parameters
        replicas: 1
  destination: {server: https://kubernetes.default.svc, namespace: feat-login}
  dependsOn: [postgres, auth]            # Applications of the same environment that must be Healthy first
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [Validate=true, CreateNamespace=true]
    retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
  revisionHistoryLimit: 1
"#;

    const ENVIRONMENT_SET_YAML: &str = r#"
apiVersion: trellis.dev/v1alpha1
kind: EnvironmentSet
metadata: {name: previews, namespace: trellis}
spec:
  defaultRevision: master                # what a service deploys when it has no such branch
  branches: {include: ".*", exclude: "^(master|main|release/.*)$"}
  namespaceTemplate: "{{branch}}"        # slugged to a DNS label, unique, at most 63 chars
  services:
    - name: postgres
      source: {repoURL: https://git.example.com/acme/infra.git, path: charts/postgres}
    - name: pdf
      source: {repoURL: https://git.example.com/acme/pdf.git, path: charts,
               helm: {valueFiles: [default.yaml, staging.yaml],
                      parameters: [{name: global.image.tag, value: $TRELLIS_APP_REVISION}]}}
      dependsOn: [postgres]
  syncPolicy: {automated: {prune: true, selfHeal: true}}
  cleanup:                               # checked every 10 minutes by default
    whenBranchDeleted: true
    whenMerged: true                     # branch tip reachable from defaultRevision
    whenInactiveFor: 72h                 # no new commit and no sync request for that long
    gracePeriod: 10m                     # a branch must be gone this long before deletion
"#;

    fn yaml_to_json(text: &str) -> Value {
        serde_saphyr::from_str(text).expect("valid YAML")
    }

    #[test]
    fn application_example_round_trips() {
        let app: Application = serde_saphyr::from_str(APPLICATION_YAML).expect("parses");
        assert_eq!(app.metadata.name.as_deref(), Some("pdf-feat-login"));
        assert_eq!(
            app.spec.source.repo_url,
            "https://git.example.com/acme/pdf.git"
        );
        assert_eq!(
            app.spec.source.target_revision.as_deref(),
            Some("feat-login")
        );
        let helm = app.spec.source.helm.as_ref().expect("helm");
        assert_eq!(helm.release_name.as_deref(), Some("pdf"));
        assert_eq!(helm.values.as_deref(), Some("replicas: 1\n"));
        assert_eq!(helm.parameters[0].value, "$TRELLIS_APP_REVISION");
        assert_eq!(app.spec.depends_on, ["postgres", "auth"]);
        let policy = app.spec.sync_policy.as_ref().expect("syncPolicy");
        assert_eq!(
            policy.automated,
            Some(SyncPolicyAutomated {
                prune: true,
                self_heal: true
            })
        );
        let backoff = policy
            .retry
            .as_ref()
            .and_then(|r| r.backoff.as_ref())
            .expect("backoff");
        assert_eq!(backoff.duration(), Some(Duration::from_secs(5)));
        assert_eq!(backoff.max_duration(), Some(Duration::from_secs(180)));
        assert_eq!(backoff.factor(), 2);
        assert_eq!(app.spec.revision_history_limit, Some(1));
        assert!(app.status.is_none());

        // Back to JSON: exactly the document we read (nothing added, nothing lost).
        let back = serde_json::to_value(&app).expect("serialises");
        assert_eq!(back, yaml_to_json(APPLICATION_YAML));
        // And through YAML text again.
        let text = serde_saphyr::to_string(&app).expect("serialises");
        let again: Application = serde_saphyr::from_str(&text).expect("parses");
        assert_eq!(again, app);
    }

    #[test]
    fn environment_set_example_round_trips() {
        let set: EnvironmentSet = serde_saphyr::from_str(ENVIRONMENT_SET_YAML).expect("parses");
        assert_eq!(set.spec.default_revision, "master");
        assert_eq!(
            set.spec.branches.exclude.as_deref(),
            Some("^(master|main|release/.*)$")
        );
        assert_eq!(set.spec.services.len(), 2);
        assert_eq!(set.spec.services[1].depends_on, ["postgres"]);
        assert_eq!(set.spec.services[0].source.path, "charts/postgres");
        assert_eq!(set.spec.services[0].source.target_revision, None);
        assert_eq!(
            set.spec.cleanup.inactive_after(),
            Ok(Some(Duration::from_secs(72 * 3600)))
        );
        assert_eq!(
            set.spec.cleanup.grace_period(),
            Some(Duration::from_secs(600))
        );

        let back = serde_json::to_value(&set).expect("serialises");
        assert_eq!(back, yaml_to_json(ENVIRONMENT_SET_YAML));
        let text = serde_saphyr::to_string(&set).expect("serialises");
        let again: EnvironmentSet = serde_saphyr::from_str(&text).expect("parses");
        assert_eq!(again, set);
    }

    #[test]
    fn environment_set_defaults() {
        let set: EnvironmentSet = serde_json::from_value(json!({
            "apiVersion": API_VERSION, "kind": "EnvironmentSet",
            "metadata": {"name": "s"},
            "spec": {"services": []}
        }))
        .expect("parses");
        assert_eq!(set.spec.default_revision, "main");
        assert_eq!(set.spec.namespace_template, "{{branch}}");
        assert_eq!(set.spec.branches, BranchFilter::default());
        assert_eq!(set.spec.branches.include, ".*");
        assert_eq!(set.spec.cleanup, CleanupPolicy::default());
        assert!(set.spec.cleanup.when_branch_deleted && set.spec.cleanup.when_merged);
        assert_eq!(set.spec.cleanup.inactive_after(), Ok(None));
        assert_eq!(
            set.spec.cleanup.grace_period(),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn source_secret_ref_and_values_object() {
        let src: ApplicationSource = serde_json::from_value(json!({
            "repoURL": "git@git.example.com:acme/pdf.git",
            "secretRef": {"name": "pdf-deploy-key"},
            "helm": {"valuesObject": {"replicas": 2, "nested": {"a": [1, "x"]}}}
        }))
        .expect("parses");
        assert_eq!(
            src.secret_ref.as_ref().map(|s| s.name.as_str()),
            Some("pdf-deploy-key")
        );
        assert_eq!(src.path, "");
        let helm = src.helm.as_ref().expect("helm");
        assert_eq!(
            helm.values_object,
            Some(json!({"replicas": 2, "nested": {"a": [1, "x"]}}))
        );
        let back = serde_json::to_value(&src).expect("serialises");
        assert_eq!(back["helm"]["valuesObject"]["nested"]["a"][1], "x");
        assert!(back.get("path").is_none());
        assert!(back.get("targetRevision").is_none());
    }

    #[test]
    fn status_round_trips_and_unknown_codes_are_tolerated() {
        let status = ApplicationStatus {
            sync: Some(SyncStatus {
                status: SyncStatusCode::OutOfSync,
                revision: Some("abc".into()),
            }),
            health: Some(HealthStatus {
                status: HealthStatusCode::Progressing,
                message: Some("waiting for rollout".into()),
            }),
            operation_state: Some(OperationState {
                phase: OperationPhase::Succeeded,
                message: None,
                started_at: "2026-11-02T10:00:00Z".into(),
                finished_at: Some("2026-11-02T10:00:03Z".into()),
                sync_result: Some(SyncOperationResult {
                    revision: "abc".into(),
                    resources: vec![ResourceResult {
                        group: "batch".into(),
                        kind: "Job".into(),
                        namespace: "feat-login".into(),
                        name: "seed".into(),
                        status: Some("Synced".into()),
                        message: None,
                        hook_phase: Some("Succeeded".into()),
                        sync_phase: Some("PreSync".into()),
                    }],
                }),
                retry_count: Some(0),
            }),
            resources: vec![ResourceStatus {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: "feat-login".into(),
                name: "pdf".into(),
                status: Some(SyncStatusCode::Synced),
                health: Some(HealthStatus::default()),
                hook: false,
                requires_pruning: false,
            }],
            history: vec![RevisionHistory {
                id: 1,
                revision: "abc".into(),
                deployed_at: "2026-11-02T10:00:03Z".into(),
                deploy_started_at: None,
                source: None,
            }],
            conditions: vec![Condition {
                type_: "SyncError".into(),
                message: "boom".into(),
                last_transition_time: None,
            }],
            reconciled_at: Some("2026-11-02T10:00:03Z".into()),
            observed_generation: Some(3),
            waiting_for: Some("waiting for postgres: Progressing".into()),
        };
        let v = serde_json::to_value(&status).expect("serialises");
        assert_eq!(v["sync"]["status"], "OutOfSync");
        assert_eq!(
            v["operationState"]["syncResult"]["resources"][0]["hookPhase"],
            "Succeeded"
        );
        assert_eq!(v["conditions"][0]["type"], "SyncError");
        assert_eq!(v["waitingFor"], "waiting for postgres: Progressing");
        assert!(v["resources"][0].get("hook").is_none());
        let back: ApplicationStatus = serde_json::from_value(v).expect("parses");
        assert_eq!(back, status);

        let odd: ApplicationStatus = serde_json::from_value(json!({
            "sync": {"status": "SomethingNew"},
            "health": {"status": "Weird"},
            "operationState": {"phase": "Paused", "startedAt": "x"}
        }))
        .expect("unknown codes are read");
        assert_eq!(odd.sync.map(|s| s.status), Some(SyncStatusCode::Unknown));
        assert_eq!(
            odd.health.map(|h| h.status),
            Some(HealthStatusCode::Unknown)
        );
        assert_eq!(
            odd.operation_state.map(|o| o.phase),
            Some(OperationPhase::Error)
        );
        let env: EnvironmentStatus =
            serde_json::from_value(json!({"phase": "Hibernating"})).expect("parses");
        assert_eq!(env.phase, Some(EnvironmentPhase::Degraded));
        // An empty status serialises to an empty object.
        assert_eq!(
            serde_json::to_value(ApplicationStatus::default()).ok(),
            Some(json!({}))
        );
    }

    #[test]
    fn environment_round_trips() {
        let env: Environment = serde_json::from_value(json!({
            "apiVersion": API_VERSION, "kind": "Environment",
            "metadata": {"name": "feat-login", "namespace": "trellis"},
            "spec": {
                "environmentSet": "previews", "branch": "feat/login", "namespace": "feat-login",
                "services": [{"name": "pdf", "repoURL": "https://h/acme/pdf.git",
                              "revision": "feat/login", "hasBranch": true}]
            },
            "status": {"phase": "Ready", "ready": 2, "total": 2, "createdAt": "2026-11-02T10:00:00Z",
                       "services": [{"name": "pdf", "revision": "abc", "sync": "Synced",
                                     "health": "Healthy"}],
                       "deletionBlockedBy": "finalizer example.com/x on ConfigMap feat-login/a"}
        }))
        .expect("parses");
        assert_eq!(env.spec.services[0].repo_url, "https://h/acme/pdf.git");
        let status = env.status.as_ref().expect("status");
        assert_eq!(status.phase, Some(EnvironmentPhase::Ready));
        assert_eq!(status.services[0].health, Some(HealthStatusCode::Healthy));
        let back: Environment =
            serde_json::from_value(serde_json::to_value(&env).expect("serialises"))
                .expect("parses");
        assert_eq!(back, env);
    }

    #[test]
    fn crd_names_scope_and_subresources() {
        let crds = crds();
        let expect = [
            (
                "applications.trellis.dev",
                "Application",
                "applications",
                "tapp",
            ),
            (
                "environmentsets.trellis.dev",
                "EnvironmentSet",
                "environmentsets",
                "tenvset",
            ),
            (
                "environments.trellis.dev",
                "Environment",
                "environments",
                "tenv",
            ),
        ];
        assert_eq!(crds.len(), expect.len());
        for (crd, (name, kind, plural, short)) in crds.iter().zip(expect) {
            assert_eq!(crd.metadata.name.as_deref(), Some(name));
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(crd.spec.names.kind, kind);
            assert_eq!(crd.spec.names.plural, plural);
            assert_eq!(
                crd.spec.names.short_names.as_deref(),
                Some(&[short.to_string()][..])
            );
            assert_eq!(
                crd.spec.names.categories.as_deref(),
                Some(&["trellis".to_string()][..])
            );
            assert_eq!(crd.spec.versions.len(), 1);
            let v = &crd.spec.versions[0];
            assert_eq!(v.name, VERSION);
            assert!(v.served && v.storage);
            let sub = v.subresources.as_ref().expect("subresources");
            assert!(sub.status.is_some(), "{name}: status subresource");
            assert!(
                v.additional_printer_columns
                    .as_ref()
                    .is_some_and(|c| !c.is_empty())
            );
        }
        let app_cols: Vec<_> = crds[0].spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            app_cols,
            [
                ("Sync Status", ".status.sync.status"),
                ("Health Status", ".status.health.status"),
                ("Revision", ".status.sync.revision"),
                ("Age", ".metadata.creationTimestamp"),
            ]
        );
    }

    fn schema_of(crd: &CustomResourceDefinition) -> Value {
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        serde_json::to_value(schema).expect("schema serialises")
    }

    /// Checks Kubernetes' structural schema rules at `node` (reached by `path`), recursively.
    fn check_structural(node: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(obj) = node.as_object() else {
            problems.push(format!("{path}: not an object schema"));
            return;
        };
        for forbidden in ["$ref", "$schema", "definitions", "$defs", "uniqueItems"] {
            if obj.contains_key(forbidden) {
                problems.push(format!("{path}: has {forbidden}"));
            }
        }
        let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&json!(true));
        match obj.get("type").and_then(Value::as_str) {
            Some("object" | "array" | "string" | "integer" | "number" | "boolean") => {}
            Some(t) => problems.push(format!("{path}: unknown type {t}")),
            None if preserve || int_or_string => {}
            None => problems.push(format!("{path}: no type")),
        }
        if obj.get("type").is_some_and(|t| !t.is_string()) {
            problems.push(format!("{path}: type is not a single string"));
        }
        if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
            problems.push(format!("{path}: properties and additionalProperties"));
        }
        if let Some(items) = obj.get("items") {
            if items.is_object() {
                check_structural(items, &format!("{path}[]"), problems);
            } else {
                problems.push(format!("{path}: items is not one schema"));
            }
        } else if obj.get("type") == Some(&json!("array")) {
            problems.push(format!("{path}: array without items"));
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                check_structural(v, &format!("{path}.{k}"), problems);
            }
        }
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            let props = obj.get("properties").and_then(Value::as_object);
            for r in required {
                if !props.is_some_and(|p| r.as_str().is_some_and(|r| p.contains_key(r))) {
                    problems.push(format!("{path}: required {r} is not a property"));
                }
            }
        }
        if let Some(ap) = obj.get("additionalProperties") {
            if ap.is_object() {
                check_structural(ap, &format!("{path}{{*}}"), problems);
            } else if ap != &json!(true) && ap != &json!(false) {
                problems.push(format!("{path}: odd additionalProperties"));
            }
        }
        for junction in ["allOf", "anyOf", "oneOf", "not"] {
            let subs: Vec<&Value> = match obj.get(junction) {
                None => continue,
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v) => vec![v],
            };
            for sub in subs {
                let Some(sub) = sub.as_object() else { continue };
                for key in [
                    "type",
                    "description",
                    "default",
                    "nullable",
                    "additionalProperties",
                    "x-kubernetes-preserve-unknown-fields",
                ] {
                    if sub.contains_key(key) && !int_or_string {
                        problems.push(format!("{path}: {junction} branch has {key}"));
                    }
                }
            }
        }
        if let Some(enum_values) = obj.get("enum").and_then(Value::as_array) {
            let ty = obj.get("type").and_then(Value::as_str);
            for e in enum_values {
                if ty == Some("string") && !e.is_string() {
                    problems.push(format!("{path}: enum value {e} is not a string"));
                }
            }
        }
        if let Some(default) = obj.get("default") {
            let ok = match obj.get("type").and_then(Value::as_str) {
                Some("string") => default.is_string(),
                Some("boolean") => default.is_boolean(),
                Some("integer") => default.is_i64() || default.is_u64(),
                Some("object") => default.is_object(),
                Some("array") => default.is_array(),
                _ => true,
            };
            if !ok {
                problems.push(format!("{path}: default {default} does not match the type"));
            }
        }
    }

    #[test]
    fn crd_schemas_are_structural() {
        for crd in crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let schema = schema_of(&crd);
            let mut problems = Vec::new();
            check_structural(&schema, &name, &mut problems);
            assert!(
                problems.is_empty(),
                "{name} is not structural:\n{}",
                problems.join("\n")
            );
            assert_eq!(schema["type"], "object");
            for key in ["spec", "status"] {
                assert!(schema["properties"].get(key).is_some(), "{name}: no {key}");
            }
            // The API server owns metadata's schema: it may only be restricted to `type: object`.
            if let Some(meta) = schema["properties"].get("metadata") {
                let meta = meta.as_object().expect("metadata schema");
                assert!(
                    meta.keys().all(|k| k == "type" || k == "description"),
                    "{meta:?}"
                );
            }
        }
    }

    #[test]
    fn crd_schema_details() {
        let app = schema_of(&Application::crd());
        let spec = &app["properties"]["spec"];
        let source = &spec["properties"]["source"];
        assert!(source["properties"].get("repoURL").is_some());
        assert!(spec["properties"].get("dependsOn").is_some());
        let helm = &source["properties"]["helm"]["properties"];
        assert_eq!(
            helm["valuesObject"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(helm["valuesObject"]["type"], "object");
        let required: Vec<&str> = spec["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["destination", "source"]);
        let status = &app["properties"]["status"]["properties"];
        assert_eq!(
            status["sync"]["properties"]["status"]["enum"],
            json!(["Synced", "OutOfSync", "Unknown"])
        );
        assert_eq!(status["waitingFor"]["type"], "string");

        let set = schema_of(&EnvironmentSet::crd());
        let set_spec = &set["properties"]["spec"]["properties"];
        assert_eq!(set_spec["defaultRevision"]["default"], "main");
        assert_eq!(set_spec["namespaceTemplate"]["default"], "{{branch}}");
        assert_eq!(
            set_spec["cleanup"]["properties"]["whenBranchDeleted"]["default"],
            true
        );
        assert_eq!(
            set_spec["cleanup"]["properties"]["gracePeriod"]["default"],
            "10m"
        );
        let env = schema_of(&Environment::crd());
        assert_eq!(
            env["properties"]["status"]["properties"]["phase"]["enum"],
            json!(["Creating", "Ready", "Deleting", "Degraded"])
        );
    }

    #[test]
    fn crds_yaml_is_deterministic_and_parses_back() {
        let yaml = crds_yaml();
        assert_eq!(yaml, crds_yaml());
        assert!(yaml.starts_with("---\n"));
        assert_eq!(yaml.matches("\n---\n").count() + 1, 3);
        let docs: Vec<CustomResourceDefinition> =
            serde_saphyr::from_multiple(&yaml).expect("parses back");
        assert_eq!(docs, crds());
        assert!(yaml.contains("name: applications.trellis.dev"));
    }

    #[test]
    fn go_durations() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("72h", Some(Duration::from_secs(72 * 3600))),
            ("10m", Some(Duration::from_secs(600))),
            ("1h30m", Some(Duration::from_secs(5400))),
            ("500ms", Some(Duration::from_millis(500))),
            ("1.5s", Some(Duration::from_millis(1500))),
            (".5m", Some(Duration::from_secs(30))),
            ("3d", Some(Duration::from_secs(3 * 86400))),
            ("1d12h", Some(Duration::from_secs(36 * 3600))),
            ("2us", Some(Duration::from_micros(2))),
            ("2µs", Some(Duration::from_micros(2))),
            ("7ns", Some(Duration::from_nanos(7))),
            ("0", Some(Duration::ZERO)),
            ("0s", Some(Duration::ZERO)),
            ("+5s", Some(Duration::from_secs(5))),
            (" 5s ", Some(Duration::from_secs(5))),
            ("", None),
            ("5", None),
            ("-5s", None),
            ("5x", None),
            ("h", None),
            (".s", None),
            ("1.2.3s", None),
            ("99999999999999999999999999999999h", None),
            ("9999999999999999999h", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), *want, "{text:?}");
        }
        assert_eq!(parse_backoff_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_backoff_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_backoff_duration("x"), None);
    }
}
