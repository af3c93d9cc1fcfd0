//! `kubectl get` tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) with the
//! columns a real API server prints for each built-in kind.
//!
//! [`COLUMNS`] is data written down from the Kubernetes sources (the column definitions of
//! `pkg/printers/internalversion`, as served by 1.32): per kind, each column's name, type and
//! priority (1 = shown only with `-o wide`). [`cells`] fills a row for them. Kinds without a
//! printer there get the server's default table: NAME and CREATED AT.

use serde_json::{Value, json};

/// A column: name, type, priority.
type Col = (&'static str, &'static str, u8);

const CONTAINERS: Col = ("Containers", "string", 1);
const IMAGES: Col = ("Images", "string", 1);
const SELECTOR: Col = ("Selector", "string", 1);
const AGE: Col = ("Age", "string", 0);

/// Columns after NAME, by (group, kind).
pub const COLUMNS: &[(&str, &str, &[Col])] = &[
    (
        "",
        "Pod",
        &[
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
    ),
    (
        "policy",
        "PodDisruptionBudget",
        &[
            ("Min Available", "string", 0),
            ("Max Unavailable", "string", 0),
            ("Allowed Disruptions", "integer", 0),
            AGE,
        ],
    ),
    (
        "apps",
        "ReplicaSet",
        &[
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
    ),
    (
        "",
        "ReplicationController",
        &[
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
    ),
    (
        "apps",
        "DaemonSet",
        &[
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
    ),
    (
        "batch",
        "Job",
        &[
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
    ),
    (
        "batch",
        "CronJob",
        &[
            ("Schedule", "string", 0),
            ("Timezone", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
    ),
    (
        "",
        "Service",
        &[
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            SELECTOR,
        ],
    ),
    (
        "networking.k8s.io",
        "Ingress",
        &[
            ("Class", "string", 0),
            ("Hosts", "string", 0),
            ("Address", "string", 0),
            ("Ports", "string", 0),
            AGE,
        ],
    ),
    (
        "networking.k8s.io",
        "IngressClass",
        &[
            ("Controller", "string", 0),
            ("Parameters", "string", 0),
            AGE,
        ],
    ),
    (
        "apps",
        "StatefulSet",
        &[("Ready", "string", 0), AGE, CONTAINERS, IMAGES],
    ),
    ("", "Endpoints", &[("Endpoints", "string", 0), AGE]),
    (
        "discovery.k8s.io",
        "EndpointSlice",
        &[
            ("AddressType", "string", 0),
            ("Ports", "string", 0),
            ("Endpoints", "string", 0),
            AGE,
        ],
    ),
    (
        "",
        "Node",
        &[
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
    ),
    ("", "Namespace", &[("Status", "string", 0), AGE]),
    (
        "",
        "Secret",
        &[("Type", "string", 0), ("Data", "string", 0), AGE],
    ),
    ("", "ServiceAccount", &[("Secrets", "string", 0), AGE]),
    (
        "",
        "PersistentVolume",
        &[
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Reason", "string", 0),
            AGE,
            ("VolumeMode", "string", 1),
        ],
    ),
    (
        "",
        "PersistentVolumeClaim",
        &[
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            AGE,
            ("VolumeMode", "string", 1),
        ],
    ),
    (
        "apps",
        "Deployment",
        &[
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
    ),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        &[
            ("Reference", "string", 0),
            ("Targets", "string", 0),
            ("MinPods", "string", 0),
            ("MaxPods", "string", 0),
            ("Replicas", "string", 0),
            AGE,
        ],
    ),
    ("", "ConfigMap", &[("Data", "string", 0), AGE]),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        &[("Pod-Selector", "string", 0), AGE],
    ),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        &[
            ("Role", "string", 0),
            AGE,
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        &[
            ("Role", "string", 0),
            AGE,
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
    ),
    (
        "coordination.k8s.io",
        "Lease",
        &[("Holder", "string", 0), AGE],
    ),
    (
        "storage.k8s.io",
        "StorageClass",
        &[
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "string", 0),
            AGE,
        ],
    ),
    (
        "apps",
        "ControllerRevision",
        &[("Controller", "string", 0), ("Revision", "string", 0), AGE],
    ),
    (
        "",
        "ResourceQuota",
        &[AGE, ("Request", "string", 0), ("Limit", "string", 0)],
    ),
    (
        "scheduling.k8s.io",
        "PriorityClass",
        &[
            ("Value", "integer", 0),
            ("Global-Default", "boolean", 0),
            AGE,
            ("PreemptionPolicy", "string", 0),
        ],
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        &[("Webhooks", "integer", 0), AGE],
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        &[("Webhooks", "integer", 0), AGE],
    ),
];

/// The server's default table, for kinds without a printer (Role, ClusterRole, LimitRange,
/// CustomResourceDefinition, custom resources without printer columns).
const DEFAULT: &[Col] = &[("Created At", "date", 0)];

fn columns_of(group: &str, kind: &str) -> &'static [Col] {
    COLUMNS
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, c)| *c)
        .unwrap_or(DEFAULT)
}

/// The column definitions (NAME first) of a kind.
pub fn column_definitions(group: &str, kind: &str) -> Vec<Value> {
    let mut out = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for (name, ty, priority) in columns_of(group, kind) {
        let format = if *ty == "date" { "date-time" } else { "" };
        out.push(
            json!({"name": name, "type": ty, "format": format, "description": name, "priority": priority}),
        );
    }
    out
}

/// Go's `duration.HumanDuration`, as `kubectl get` prints ages.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 600 && s % 60 != 0 => format!("{}m{}s", m, s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ if d < 365 * 2 => format!("{d}d"),
        _ if d < 365 * 8 && d % 365 != 0 => format!("{}y{}d", d / 365, d % 365),
        _ => format!("{}y", d / 365),
    }
}

fn parse(ts: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The age of a timestamp as `kubectl get` prints it (`<unknown>` when absent).
pub fn age(ts: &str) -> String {
    match parse(ts) {
        Some(t) => human_duration((chrono::Utc::now() - t).num_seconds()),
        None => "<unknown>".into(),
    }
}

fn s<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn i(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

fn len(o: &Value, p: &str) -> usize {
    match o.pointer(p) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    }
}

/// `key=value,...` of a label map.
fn labels(m: Option<&Value>) -> String {
    m.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A LabelSelector as `metav1.FormatLabelSelector` prints it.
fn selector(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key = s(e, "/key");
            parts.push(match s(e, "/operator") {
                "In" => format!("{key} in ({})", vals.join(",")),
                "NotIn" => format!("{key} notin ({})", vals.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                other => format!("{key} {other}"),
            });
        }
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn containers_and_images(template_spec: &Value) -> (String, String) {
    let cs = template_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn int_or_string(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn service_ports(o: &Value) -> String {
    let ports = o["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let list: Vec<String> = ports
        .iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64().filter(|n| *n > 0) {
                Some(np) => format!("{}:{np}/{proto}", i(p, "/port")),
                None => format!("{}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    or_none(list.join(","))
}

fn external_ip(o: &Value) -> String {
    let ty = s(o, "/spec/type");
    let mut ips: Vec<String> = o["spec"]["externalIPs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    match ty {
        "LoadBalancer" => {
            let lb: Vec<String> = o["status"]["loadBalancer"]["ingress"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            x["ip"]
                                .as_str()
                                .or(x["hostname"].as_str())
                                .unwrap_or_default()
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            ips.extend(lb);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => or_none(ips.join(",")),
    }
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let statuses = o["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = len(o, "/spec/containers");
    let mut reason = o["status"]["reason"]
        .as_str()
        .or(o["status"]["phase"].as_str())
        .unwrap_or("Pending")
        .to_string();
    let mut ready = 0;
    let mut restarts = 0;
    let mut running = false;
    for c in statuses.iter().rev() {
        restarts += i(c, "/restartCount");
        if let Some(r) = c["state"]["waiting"]["reason"].as_str() {
            reason = r.to_string();
        } else if let Some(t) = c["state"].get("terminated") {
            reason = t["reason"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("ExitCode:{}", i(t, "/exitCode")));
        } else if c["ready"] == json!(true) && c["state"].get("running").is_some() {
            running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && running {
        reason = "Running".into();
    }
    if o["metadata"].get("deletionTimestamp").is_some()
        && !matches!(s(o, "/status/phase"), "Succeeded" | "Failed")
    {
        reason = "Terminating".into();
    }
    vec![
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(s(o, "/metadata/creationTimestamp"))),
        json!(or_none(s(o, "/status/podIP").to_string())),
        json!(or_none(s(o, "/spec/nodeName").to_string())),
        json!(or_none(s(o, "/status/nominatedNodeName").to_string())),
        json!("<none>"),
    ]
}

fn job_cells(o: &Value) -> Vec<Value> {
    let succeeded = i(o, "/status/succeeded");
    let completions = match o["spec"]["completions"].as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => match i(o, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse(s(o, "/status/startTime"));
    let duration = match (start, parse(s(o, "/status/completionTime"))) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration((chrono::Utc::now() - st).num_seconds()),
        (Some(st), Some(end)) => human_duration((end - st).num_seconds()),
    };
    let cond = |t: &str| {
        o["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == json!(t) && c["status"] == json!("True"))
        })
    };
    let status = if cond("Complete") {
        "Complete"
    } else if cond("Failed") {
        "Failed"
    } else if o["metadata"].get("deletionTimestamp").is_some() {
        "Terminating"
    } else if cond("Suspended") {
        "Suspended"
    } else if cond("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(&o["spec"]["template"]["spec"]);
    vec![
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(s(o, "/metadata/creationTimestamp"))),
        json!(names),
        json!(images),
        json!(selector(&o["spec"]["selector"])),
    ]
}

fn subjects(o: &Value, kind: &str) -> String {
    o["subjects"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["kind"] == json!(kind))
                .map(|x| {
                    if kind == "ServiceAccount" {
                        format!("{}/{}", s(x, "/namespace"), s(x, "/name"))
                    } else {
                        s(x, "/name").to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The cells after NAME of one object's row, in the order of [`column_definitions`].
pub fn cells(group: &str, kind: &str, o: &Value) -> Vec<Value> {
    let created = s(o, "/metadata/creationTimestamp");
    let a = json!(age(created));
    let tmpl = |p: &str| containers_and_images(o.pointer(p).unwrap_or(&Value::Null));
    match (group, kind) {
        ("", "Pod") => pod_cells(o),
        ("policy", "PodDisruptionBudget") => {
            let f = |p: &str| {
                o.pointer(p)
                    .map(int_or_string)
                    .unwrap_or_else(|| "N/A".into())
            };
            vec![
                json!(f("/spec/minAvailable")),
                json!(f("/spec/maxUnavailable")),
                json!(i(o, "/status/disruptionsAllowed")),
                a,
            ]
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let (n, im) = tmpl("/spec/template/spec");
            let sel = if kind == "ReplicaSet" {
                selector(&o["spec"]["selector"])
            } else {
                or_none(labels(o["spec"].get("selector")))
            };
            vec![
                json!(i(o, "/spec/replicas")),
                json!(i(o, "/status/replicas")),
                json!(i(o, "/status/readyReplicas")),
                a,
                json!(n),
                json!(im),
                json!(sel),
            ]
        }
        ("apps", "DaemonSet") => {
            let (n, im) = tmpl("/spec/template/spec");
            vec![
                json!(i(o, "/status/desiredNumberScheduled")),
                json!(i(o, "/status/currentNumberScheduled")),
                json!(i(o, "/status/numberReady")),
                json!(i(o, "/status/updatedNumberScheduled")),
                json!(i(o, "/status/numberAvailable")),
                json!(or_none(labels(
                    o.pointer("/spec/template/spec/nodeSelector")
                ))),
                a,
                json!(n),
                json!(im),
                json!(selector(&o["spec"]["selector"])),
            ]
        }
        ("batch", "Job") => job_cells(o),
        ("batch", "CronJob") => {
            let (n, im) = tmpl("/spec/jobTemplate/spec/template/spec");
            let last = match s(o, "/status/lastScheduleTime") {
                "" => "<none>".to_string(),
                t => age(t),
            };
            vec![
                json!(s(o, "/spec/schedule")),
                json!(or_none(s(o, "/spec/timeZone").to_string())),
                // printBoolPtr: a string, "True"/"False" ("<unset>" when absent).
                json!(match o["spec"]["suspend"].as_bool() {
                    Some(true) => "True",
                    Some(false) => "False",
                    None => "<unset>",
                }),
                json!(len(o, "/status/active")),
                json!(last),
                a,
                json!(n),
                json!(im),
                json!(selector(
                    o.pointer("/spec/jobTemplate/spec/selector")
                        .unwrap_or(&Value::Null)
                )),
            ]
        }
        ("", "Service") => vec![
            json!(match s(o, "/spec/type") {
                "" => "ClusterIP",
                t => t,
            }),
            json!(or_none(s(o, "/spec/clusterIP").to_string())),
            json!(external_ip(o)),
            json!(service_ports(o)),
            a,
            json!(or_none(labels(o["spec"].get("selector")))),
        ],
        ("networking.k8s.io", "Ingress") => {
            let hosts: Vec<String> = o["spec"]["rules"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|x| x["host"].as_str().unwrap_or("*").to_string())
                        .collect()
                })
                .unwrap_or_default();
            let addrs: Vec<String> = o["status"]["loadBalancer"]["ingress"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            x["ip"]
                                .as_str()
                                .or(x["hostname"].as_str())
                                .unwrap_or_default()
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ports = if len(o, "/spec/tls") > 0 {
                "80, 443"
            } else {
                "80"
            };
            vec![
                json!(or_none(s(o, "/spec/ingressClassName").to_string())),
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                }),
                json!(addrs.join(",")),
                json!(ports),
                a,
            ]
        }
        ("networking.k8s.io", "IngressClass") => {
            let params = match o["spec"].get("parameters") {
                Some(p) => format!("{}/{}", s(p, "/kind"), s(p, "/name")),
                None => "<none>".into(),
            };
            vec![json!(s(o, "/spec/controller")), json!(params), a]
        }
        ("apps", "StatefulSet") => {
            let (n, im) = tmpl("/spec/template/spec");
            vec![
                json!(format!(
                    "{}/{}",
                    i(o, "/status/readyReplicas"),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                a,
                json!(n),
                json!(im),
            ]
        }
        ("", "Endpoints") => {
            let mut list = Vec::new();
            for ss in o["subsets"].as_array().cloned().unwrap_or_default() {
                let addrs = ss["addresses"].as_array().cloned().unwrap_or_default();
                let ports = ss["ports"].as_array().cloned().unwrap_or_default();
                for p in &ports {
                    for ad in &addrs {
                        list.push(format!("{}:{}", s(ad, "/ip"), i(p, "/port")));
                    }
                }
                if ports.is_empty() {
                    list.extend(addrs.iter().map(|ad| s(ad, "/ip").to_string()));
                }
            }
            let text = match list.len() {
                0 => "<none>".to_string(),
                n if n > 3 => format!("{} + {} more...", list[..3].join(","), n - 3),
                _ => list.join(","),
            };
            vec![json!(text), a]
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            let ports: Vec<String> = o["ports"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
                            (Some(n), _) => n.to_string(),
                            (None, Some(n)) => n.to_string(),
                            _ => "*".into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let addrs: Vec<String> = o["endpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .flat_map(|e| {
                            e["addresses"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let more = |list: &[String]| match list.len() {
                0 => "<unset>".to_string(),
                n if n > 3 => format!("{} + {} more...", list[..3].join(","), n - 3),
                _ => list.join(","),
            };
            vec![
                json!(s(o, "/addressType")),
                json!(more(&ports)),
                json!(more(&addrs)),
                a,
            ]
        }
        ("", "Node") => {
            let ready = o["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == json!("Ready") && c["status"] == json!("True"))
            });
            let roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let addr = |t: &str| {
                o["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == json!(t)))
                    .map(|x| s(x, "/address").to_string())
                    .unwrap_or_else(|| "<none>".into())
            };
            vec![
                json!(if ready { "Ready" } else { "NotReady" }),
                json!(or_none(roles.join(","))),
                a,
                json!(s(o, "/status/nodeInfo/kubeletVersion")),
                json!(addr("InternalIP")),
                json!(addr("ExternalIP")),
                json!(s(o, "/status/nodeInfo/osImage")),
                json!(s(o, "/status/nodeInfo/kernelVersion")),
                json!(s(o, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        }
        ("", "Namespace") => vec![
            json!(match s(o, "/status/phase") {
                "" => "Active",
                p => p,
            }),
            a,
        ],
        ("", "Secret") => vec![json!(s(o, "/type")), json!(len(o, "/data").to_string()), a],
        ("", "ServiceAccount") => vec![json!(len(o, "/secrets").to_string()), a],
        ("", "PersistentVolume") => {
            let claim = match o["spec"].get("claimRef") {
                Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
                None => String::new(),
            };
            vec![
                json!(s(o, "/spec/capacity/storage")),
                json!(access_modes(&o["spec"]["accessModes"])),
                json!(s(o, "/spec/persistentVolumeReclaimPolicy")),
                json!(s(o, "/status/phase")),
                json!(claim),
                json!(s(o, "/spec/storageClassName")),
                json!(or_unset(s(o, "/spec/volumeAttributesClassName"))),
                json!(s(o, "/status/reason")),
                a,
                json!(or_none(s(o, "/spec/volumeMode").to_string())),
            ]
        }
        ("", "PersistentVolumeClaim") => vec![
            json!(s(o, "/status/phase")),
            json!(s(o, "/spec/volumeName")),
            json!(s(o, "/status/capacity/storage")),
            json!(access_modes(&o["status"]["accessModes"])),
            json!(s(o, "/spec/storageClassName")),
            json!(or_unset(s(o, "/spec/volumeAttributesClassName"))),
            a,
            json!(or_none(s(o, "/spec/volumeMode").to_string())),
        ],
        ("apps", "Deployment") => {
            let (n, im) = tmpl("/spec/template/spec");
            vec![
                json!(format!(
                    "{}/{}",
                    i(o, "/status/readyReplicas"),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                json!(i(o, "/status/updatedReplicas").to_string()),
                json!(i(o, "/status/availableReplicas").to_string()),
                a,
                json!(n),
                json!(im),
                json!(selector(&o["spec"]["selector"])),
            ]
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let r = &o["spec"]["scaleTargetRef"];
            let min = o["spec"]["minReplicas"]
                .as_i64()
                .map(|m| m.to_string())
                .unwrap_or_else(|| "<unset>".into());
            vec![
                json!(format!("{}/{}", s(r, "/kind"), s(r, "/name"))),
                json!(if len(o, "/spec/metrics") > 0
                    || o["spec"].get("targetCPUUtilizationPercentage").is_some()
                {
                    "<unknown>"
                } else {
                    "<none>"
                }),
                json!(min),
                json!(i(o, "/spec/maxReplicas").to_string()),
                json!(i(o, "/status/currentReplicas").to_string()),
                a,
            ]
        }
        ("", "ConfigMap") => vec![
            json!((len(o, "/data") + len(o, "/binaryData")).to_string()),
            a,
        ],
        ("networking.k8s.io", "NetworkPolicy") => {
            let sel = selector(&o["spec"]["podSelector"]);
            vec![
                json!(if sel == "<none>" {
                    "<none>".into()
                } else {
                    sel
                }),
                a,
            ]
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            json!(format!(
                "{}/{}",
                s(o, "/roleRef/kind"),
                s(o, "/roleRef/name")
            )),
            a,
            json!(subjects(o, "User")),
            json!(subjects(o, "Group")),
            json!(subjects(o, "ServiceAccount")),
        ],
        ("coordination.k8s.io", "Lease") => {
            vec![json!(s(o, "/spec/holderIdentity")), a]
        }
        ("storage.k8s.io", "StorageClass") => vec![
            json!(s(o, "/provisioner")),
            json!(match s(o, "/reclaimPolicy") {
                "" => "Delete",
                p => p,
            }),
            json!(match s(o, "/volumeBindingMode") {
                "" => "Immediate",
                m => m,
            }),
            json!(
                o["allowVolumeExpansion"]
                    .as_bool()
                    .unwrap_or(false)
                    .to_string()
            ),
            a,
        ],
        ("apps", "ControllerRevision") => {
            let controller = o["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|r| r.iter().find(|x| x["controller"] == json!(true)))
                .map(|x| {
                    let g = s(x, "/apiVersion").split('/').next().unwrap_or_default();
                    format!("{}.{g}/{}", s(x, "/kind").to_lowercase(), s(x, "/name"))
                })
                .unwrap_or_else(|| "<none>".into());
            vec![json!(controller), json!(i(o, "/revision").to_string()), a]
        }
        ("", "ResourceQuota") => {
            let pick = |prefix: &str| {
                let hard = o["status"]["hard"]
                    .as_object()
                    .or(o["spec"]["hard"].as_object())
                    .cloned()
                    .unwrap_or_default();
                let used = o["status"]["used"].as_object().cloned().unwrap_or_default();
                hard.iter()
                    .filter(|(k, _)| {
                        let limit = k.starts_with("limits.");
                        if prefix == "limits." { limit } else { !limit }
                    })
                    .map(|(k, v)| {
                        format!(
                            "{k}: {}/{}",
                            used.get(k).and_then(Value::as_str).unwrap_or("0"),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![a, json!(pick("")), json!(pick("limits."))]
        }
        ("scheduling.k8s.io", "PriorityClass") => vec![
            json!(i(o, "/value")),
            json!(o["globalDefault"].as_bool().unwrap_or(false)),
            a,
            json!(match s(o, "/preemptionPolicy") {
                "" => "PreemptLowerPriority",
                p => p,
            }),
        ],
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => vec![json!(len(o, "/webhooks")), a],
        _ => vec![json!(created)],
    }
}

fn access_modes(v: &Value) -> String {
    let modes: Vec<&str> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect()
        })
        .unwrap_or_default();
    modes.join(",")
}

fn or_unset(v: &str) -> String {
    if v.is_empty() {
        "<unset>".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_as_many_cells_as_columns() {
        for (g, k, cols) in COLUMNS {
            assert_eq!(cells(g, k, &json!({})).len(), cols.len(), "{g} {k}");
        }
        assert_eq!(
            cells("rbac.authorization.k8s.io", "Role", &json!({})).len(),
            1
        );
    }

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        for (secs, text) in [
            (5, "5s"),
            (130, "2m10s"),
            (600, "10m"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
        ] {
            assert_eq!(human_duration(secs), text);
        }
    }
}
