//! The JSON shapes of `/api/v1`: what the web UI, the CLI and scripts read and send. The OpenAPI
//! document (`/api/v1/openapi.json`) is generated from these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One Application as lists show it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    /// Name (unique in the controller's namespace).
    pub name: String,
    /// Namespace of the Application resource.
    pub namespace: String,
    /// Environment it belongs to (label `trellis.dev/environment`); empty for standalone ones.
    pub environment: String,
    /// Service it deploys in its environment (label `trellis.dev/service`).
    pub service: String,
    /// Project (`spec.project`).
    pub project: String,
    /// Repository URL.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Chart path in the repository.
    pub path: String,
    /// Branch, tag or commit asked for.
    pub target_revision: String,
    /// Namespace the objects go to.
    pub destination_namespace: String,
    /// Commit id compared and deployed (empty until resolved).
    pub revision: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync_status: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub health_status: String,
    /// Why it is not healthy.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health_message: String,
    /// Phase of the current or last operation (`Running`, `Succeeded`, `Failed`, `Error`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation_phase: String,
    /// What it waits for (`waiting for postgres: Progressing`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub waiting_for: String,
    /// Applications of its environment it depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Its problems, `Type: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// Whether it syncs by itself.
    pub automated: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last comparison (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reconciled_at: String,
}

/// A page of Applications.
#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppList {
    /// The page, ordered by environment then name.
    pub items: Vec<AppSummary>,
    /// How many match the filters in all.
    pub total: usize,
    /// Pass as `continue=` for the next page; absent on the last one.
    #[serde(rename = "continue", default, skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
}

/// One node of an Application's resource tree.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TreeNode {
    /// API group (empty for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Health (`Healthy`, `Progressing`, ...), when assessed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health: String,
    /// Why, when not healthy.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health_message: String,
    /// `Synced` or `OutOfSync` for objects the Application renders; empty for children the
    /// cluster made (ReplicaSets, Pods).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sync: String,
    /// Whether it is a hook.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hook: bool,
    /// For hooks: `PreSync`, `Sync`, `PostSync`, `SyncFail`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sync_phase: String,
    /// For hooks: `Running`, `Succeeded`, `Failed`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hook_phase: String,
    /// Tracked, no longer rendered: a sync with prune deletes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_pruning: bool,
    /// Whether the object exists in the cluster.
    pub live: bool,
    /// Short facts (`replicas: 2/2`, `phase: Running`, container images).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<String>,
    /// Objects it owns (Deployment → ReplicaSet → Pod; Job → Pod).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<TreeNode>,
}

/// One Application with its spec, status and live resource tree.
#[derive(Serialize, Deserialize, Clone, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppDetail {
    /// As in lists.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// `spec` of the Application resource.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// `status` of the Application resource (Argo CD's shape).
    #[schema(value_type = Object)]
    pub status: serde_json::Value,
    /// Its objects, with what the cluster made from them.
    pub tree: Vec<TreeNode>,
}

/// One object's difference between desired and live state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `Synced`, `OutOfSync`, `Missing` (not in the cluster) or `Extra` (no longer rendered).
    pub status: String,
    /// Unified diff, live → desired; Secret values masked.
    pub diff: String,
    /// Why it could not be compared, when so.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The diff of an Application.
#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppDiff {
    /// Commit compared.
    pub revision: String,
    /// Every rendered or tracked object (in-sync ones with an empty diff).
    pub objects: Vec<ObjectDiff>,
}

/// One deployment of an Application.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Id (pass it to `/rollback`).
    pub id: i64,
    /// Commit id deployed.
    pub revision: String,
    /// When the sync finished (RFC 3339).
    pub deployed_at: String,
    /// When it started (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deploy_started_at: String,
}

/// A Kubernetes event about one of an Application's objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventItem {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Reason (`Scheduled`, `BackOff`, `ScalingReplicaSet`, ...).
    pub reason: String,
    /// Message.
    pub message: String,
    /// `Kind/name` of the object it is about.
    pub object: String,
    /// How many times it happened.
    pub count: i32,
    /// First time (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub first_timestamp: String,
    /// Last time (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_timestamp: String,
}

/// One service in an environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvService {
    /// Service name.
    pub name: String,
    /// Its Application's name.
    pub application: String,
    /// Repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch or revision it deploys.
    pub target_revision: String,
    /// Whether the repository has the environment's branch.
    pub has_branch: bool,
    /// Commit id deployed.
    pub revision: String,
    /// Sync status.
    pub sync_status: String,
    /// Health.
    pub health_status: String,
    /// What it waits for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub waiting_for: String,
    /// Services it depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// One branch's environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvSummary {
    /// Name (also the name of its namespace).
    pub name: String,
    /// EnvironmentSet it belongs to.
    pub environment_set: String,
    /// Git branch.
    pub branch: String,
    /// Namespace it deploys to.
    pub namespace: String,
    /// `Creating`, `Ready`, `Degraded` or `Deleting`.
    pub phase: String,
    /// Applications Synced and Healthy.
    pub ready: i32,
    /// Applications.
    pub total: i32,
    /// Applications by health status.
    pub health: BTreeMap<String, usize>,
    /// Applications by sync status.
    pub sync: BTreeMap<String, usize>,
    /// Services in dependency order (dependencies first).
    pub services: Vec<EnvService>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last new commit or sync (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_activity: String,
    /// Problems, `Type: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

/// Environments.
#[derive(Serialize, Deserialize, Clone, Debug, Default, ToSchema)]
pub struct EnvList {
    /// Ordered by name.
    pub items: Vec<EnvSummary>,
}

/// `POST /api/v1/applications/{name}/sync`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    /// Delete tracked objects that are no longer rendered.
    #[serde(default)]
    pub prune: bool,
    /// Sync this branch, tag or commit instead of `targetRevision` (refused while automated
    /// sync is on, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Only these objects (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceRef>>,
}

/// An object named in a request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRef {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (empty: the Application's destination).
    #[serde(default)]
    pub namespace: String,
}

/// `POST /api/v1/applications/{name}/rollback`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// History entry to deploy again.
    pub id: i64,
}

/// What an action did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
pub struct ActionResponse {
    /// What was asked of the controller.
    pub message: String,
}

/// Any error: what is wrong.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
pub struct ApiError {
    /// For people.
    pub error: String,
}

/// Who the token is (`GET /api/v1/whoami`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, ToSchema)]
pub struct WhoAmI {
    /// `admin`, `readonly`, `project:<name>` or `anonymous`.
    pub role: String,
}

/// One message of `GET /api/v1/stream` (the SSE event name is `kind`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamMessage {
    /// `application` or `environment`.
    pub kind: String,
    /// `upsert` or `delete`.
    pub action: String,
    /// Its name.
    pub name: String,
    /// Its environment (for an environment, its own name).
    pub environment: String,
    /// The new state (absent on delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<AppSummary>,
    /// The new state (absent on delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvSummary>,
}
