//! OpenAPI v3: the `/openapi/v3` index and one document per group-version, with schemas for
//! the built-in kinds (a compact hand-written set covering their main fields, in a small DSL
//! below) and for CRDs (their own `openAPIV3Schema`), `x-kubernetes-group-version-kind`,
//! strategic-merge keys (`x-kubernetes-patch-merge-key`, list-map keys) and PATCH operations
//! that advertise `fieldValidation` (how kubectl and Helm decide to validate server-side).
//! Also `unknown_fields`, used by field validation.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo};

/// The schema DSL: `Name field:type ...`; types: s string, i int32, l int64, b bool, n number,
/// q quantity, is int-or-string, t date-time, o free-form object, ms map of strings, mq map of
/// quantities, [T] list, [T@key] list-map merged by key, [s+] set. `!` after a name: required.
/// A type without a dot is in the same package; `meta.` is apimachinery meta/v1.
const SCHEMAS: &str = r#"
meta.ObjectMeta name:s generateName:s namespace:s selfLink:s uid:s resourceVersion:s generation:l creationTimestamp:t deletionTimestamp:t deletionGracePeriodSeconds:l labels:ms annotations:ms ownerReferences:[meta.OwnerReference@uid] finalizers:[s+] managedFields:[meta.ManagedFieldsEntry]
meta.OwnerReference apiVersion!:s kind!:s name!:s uid!:s controller:b blockOwnerDeletion:b
meta.ManagedFieldsEntry manager:s operation:s apiVersion:s time:t fieldsType:s fieldsV1:o subresource:s
meta.LabelSelector matchLabels:ms matchExpressions:[meta.LabelSelectorRequirement]
meta.LabelSelectorRequirement key!:s operator!:s values:[s]
meta.Condition type!:s status!:s observedGeneration:l lastTransitionTime!:t reason!:s message!:s
core.v1.Namespace spec:NamespaceSpec status:o
core.v1.NamespaceSpec finalizers:[s]
core.v1.ConfigMap data:ms binaryData:ms immutable:b
core.v1.Secret data:ms stringData:ms type:s immutable:b
core.v1.ServiceAccount secrets:[ObjectReference@name] imagePullSecrets:[LocalObjectReference@name] automountServiceAccountToken:b
core.v1.Service spec:ServiceSpec status:o
core.v1.ServiceSpec ports:[ServicePort@port] selector:ms clusterIP:s clusterIPs:[s] type:s externalIPs:[s] sessionAffinity:s loadBalancerIP:s loadBalancerSourceRanges:[s] externalName:s externalTrafficPolicy:s healthCheckNodePort:i publishNotReadyAddresses:b sessionAffinityConfig:o ipFamilies:[s] ipFamilyPolicy:s allocateLoadBalancerNodePorts:b loadBalancerClass:s internalTrafficPolicy:s trafficDistribution:s
core.v1.ServicePort name:s protocol:s appProtocol:s port!:i targetPort:is nodePort:i
core.v1.Endpoints subsets:[o]
discovery.v1.EndpointSlice addressType!:s endpoints:[o] ports:[o]
core.v1.Pod spec:PodSpec status:o
core.v1.PodTemplateSpec metadata:meta.ObjectMeta spec:PodSpec
core.v1.PodSpec volumes:[Volume@name] initContainers:[Container@name] containers!:[Container@name] ephemeralContainers:[o@name] restartPolicy:s terminationGracePeriodSeconds:l activeDeadlineSeconds:l dnsPolicy:s nodeSelector:ms serviceAccountName:s serviceAccount:s automountServiceAccountToken:b nodeName:s hostNetwork:b hostPID:b hostIPC:b shareProcessNamespace:b securityContext:o imagePullSecrets:[LocalObjectReference@name] hostname:s subdomain:s affinity:o schedulerName:s tolerations:[Toleration] hostAliases:[o@ip] priorityClassName:s priority:i dnsConfig:o readinessGates:[o] runtimeClassName:s enableServiceLinks:b preemptionPolicy:s overhead:mq topologySpreadConstraints:[o@topologyKey] setHostnameAsFQDN:b os:o hostUsers:b schedulingGates:[o@name] resourceClaims:[o@name] resources:ResourceRequirements
core.v1.Container name!:s image:s command:[s] args:[s] workingDir:s ports:[ContainerPort@containerPort] envFrom:[EnvFromSource] env:[EnvVar@name] resources:ResourceRequirements resizePolicy:[o] restartPolicy:s volumeMounts:[VolumeMount@mountPath] volumeDevices:[o@devicePath] livenessProbe:Probe readinessProbe:Probe startupProbe:Probe lifecycle:o terminationMessagePath:s terminationMessagePolicy:s imagePullPolicy:s securityContext:o stdin:b stdinOnce:b tty:b
core.v1.ContainerPort name:s hostPort:i containerPort!:i protocol:s hostIP:s
core.v1.EnvVar name!:s value:s valueFrom:o
core.v1.EnvFromSource prefix:s configMapRef:o secretRef:o
core.v1.VolumeMount name!:s readOnly:b recursiveReadOnly:s mountPath!:s subPath:s mountPropagation:s subPathExpr:s
core.v1.Volume name!:s hostPath:o emptyDir:o secret:o persistentVolumeClaim:o configMap:o projected:o downwardAPI:o csi:o ephemeral:o nfs:o image:o
core.v1.Probe exec:o httpGet:o tcpSocket:o grpc:o initialDelaySeconds:i timeoutSeconds:i periodSeconds:i successThreshold:i failureThreshold:i terminationGracePeriodSeconds:l
core.v1.ResourceRequirements limits:mq requests:mq claims:[o@name]
core.v1.Toleration key:s operator:s value:s effect:s tolerationSeconds:l
core.v1.LocalObjectReference name:s
core.v1.ObjectReference kind:s namespace:s name:s uid:s apiVersion:s resourceVersion:s fieldPath:s
core.v1.PersistentVolumeClaim spec:PersistentVolumeClaimSpec status:o
core.v1.PersistentVolumeClaimSpec accessModes:[s] selector:meta.LabelSelector resources:o volumeName:s storageClassName:s volumeMode:s dataSource:o dataSourceRef:o volumeAttributesClassName:s
core.v1.Event involvedObject!:ObjectReference reason:s message:s source:o firstTimestamp:t lastTimestamp:t count:i type:s eventTime:o series:o action:s related:ObjectReference reportingComponent:s reportingInstance:s
core.v1.Node spec:o status:o
core.v1.PersistentVolume spec:o status:o
core.v1.ReplicationController spec:o status:o
core.v1.LimitRange spec:o
core.v1.ResourceQuota spec:o status:o
apps.v1.Deployment spec:DeploymentSpec status:o
apps.v1.DeploymentSpec replicas:i selector!:meta.LabelSelector template!:core.v1.PodTemplateSpec strategy:DeploymentStrategy minReadySeconds:i revisionHistoryLimit:i paused:b progressDeadlineSeconds:i
apps.v1.DeploymentStrategy type:s rollingUpdate:RollingUpdateDeployment
apps.v1.RollingUpdateDeployment maxUnavailable:is maxSurge:is
apps.v1.StatefulSet spec:StatefulSetSpec status:o
apps.v1.StatefulSetSpec replicas:i selector!:meta.LabelSelector template!:core.v1.PodTemplateSpec volumeClaimTemplates:[core.v1.PersistentVolumeClaim] serviceName:s podManagementPolicy:s updateStrategy:o revisionHistoryLimit:i minReadySeconds:i persistentVolumeClaimRetentionPolicy:o ordinals:o
apps.v1.DaemonSet spec:DaemonSetSpec status:o
apps.v1.DaemonSetSpec selector!:meta.LabelSelector template!:core.v1.PodTemplateSpec updateStrategy:o minReadySeconds:i revisionHistoryLimit:i
apps.v1.ReplicaSet spec:ReplicaSetSpec status:o
apps.v1.ReplicaSetSpec replicas:i minReadySeconds:i selector!:meta.LabelSelector template:core.v1.PodTemplateSpec
apps.v1.ControllerRevision data:o revision!:l
batch.v1.Job spec:JobSpec status:o
batch.v1.JobSpec parallelism:i completions:i activeDeadlineSeconds:l podFailurePolicy:o successPolicy:o backoffLimit:i backoffLimitPerIndex:i maxFailedIndexes:i selector:meta.LabelSelector manualSelector:b template!:core.v1.PodTemplateSpec ttlSecondsAfterFinished:i completionMode:s suspend:b podReplacementPolicy:s managedBy:s
batch.v1.CronJob spec:CronJobSpec status:o
batch.v1.CronJobSpec schedule!:s timeZone:s startingDeadlineSeconds:l concurrencyPolicy:s suspend:b jobTemplate!:JobTemplateSpec successfulJobsHistoryLimit:i failedJobsHistoryLimit:i
batch.v1.JobTemplateSpec metadata:meta.ObjectMeta spec:JobSpec
networking.v1.Ingress spec:IngressSpec status:o
networking.v1.IngressSpec ingressClassName:s defaultBackend:IngressBackend tls:[IngressTLS] rules:[IngressRule]
networking.v1.IngressTLS hosts:[s] secretName:s
networking.v1.IngressRule host:s http:HTTPIngressRuleValue
networking.v1.HTTPIngressRuleValue paths!:[HTTPIngressPath]
networking.v1.HTTPIngressPath path:s pathType!:s backend!:IngressBackend
networking.v1.IngressBackend service:IngressServiceBackend resource:o
networking.v1.IngressServiceBackend name!:s port:ServiceBackendPort
networking.v1.ServiceBackendPort name:s number:i
networking.v1.NetworkPolicy spec:o
networking.v1.IngressClass spec:o
rbac.v1.Role rules:[PolicyRule]
rbac.v1.ClusterRole rules:[PolicyRule] aggregationRule:o
rbac.v1.PolicyRule verbs!:[s] apiGroups:[s] resources:[s] resourceNames:[s] nonResourceURLs:[s]
rbac.v1.RoleBinding subjects:[Subject] roleRef!:RoleRef
rbac.v1.ClusterRoleBinding subjects:[Subject] roleRef!:RoleRef
rbac.v1.Subject kind!:s apiGroup:s name!:s namespace:s
rbac.v1.RoleRef apiGroup!:s kind!:s name!:s
policy.v1.PodDisruptionBudget spec:PodDisruptionBudgetSpec status:o
policy.v1.PodDisruptionBudgetSpec minAvailable:is selector:meta.LabelSelector maxUnavailable:is unhealthyPodEvictionPolicy:s
autoscaling.v2.HorizontalPodAutoscaler spec:HorizontalPodAutoscalerSpec status:o
autoscaling.v2.HorizontalPodAutoscalerSpec scaleTargetRef!:CrossVersionObjectReference minReplicas:i maxReplicas!:i metrics:[o] behavior:o
autoscaling.v2.CrossVersionObjectReference kind!:s name!:s apiVersion:s
autoscaling.v1.HorizontalPodAutoscaler spec:o status:o
coordination.v1.Lease spec:LeaseSpec
coordination.v1.LeaseSpec holderIdentity:s leaseDurationSeconds:i acquireTime:o renewTime:o leaseTransitions:i strategy:s preferredHolder:s
admissionregistration.v1.MutatingWebhookConfiguration webhooks:[o@name]
admissionregistration.v1.ValidatingWebhookConfiguration webhooks:[o@name]
scheduling.v1.PriorityClass value!:i globalDefault:b description:s preemptionPolicy:s
storage.v1.StorageClass provisioner!:s parameters:ms reclaimPolicy:s mountOptions:[s] allowVolumeExpansion:b volumeBindingMode:s allowedTopologies:[o]
apiextensions.v1.CustomResourceDefinition spec:CustomResourceDefinitionSpec status:o
apiextensions.v1.CustomResourceDefinitionSpec group!:s names!:o scope!:s versions!:[o@name] conversion:o preserveUnknownFields:b
events.v1.Event eventTime!:o series:o reportingController:s reportingInstance:s action:s reason:s regarding:o related:o note:s type:s deprecatedSource:o deprecatedFirstTimestamp:t deprecatedLastTimestamp:t deprecatedCount:i
"#;

/// The full definition name for a DSL short name.
fn full_name(short: &str) -> String {
    if let Some(rest) = short.strip_prefix("meta.") {
        return format!("io.k8s.apimachinery.pkg.apis.meta.v1.{rest}");
    }
    if let Some(rest) = short.strip_prefix("apiextensions.") {
        return format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{rest}");
    }
    format!("io.k8s.api.{short}")
}

/// The DSL package of a group and version.
fn package(group: &str, version: &str) -> String {
    let g = match group {
        "" => "core",
        "networking.k8s.io" => "networking",
        "rbac.authorization.k8s.io" => "rbac",
        "coordination.k8s.io" => "coordination",
        "admissionregistration.k8s.io" => "admissionregistration",
        "scheduling.k8s.io" => "scheduling",
        "storage.k8s.io" => "storage",
        "apiextensions.k8s.io" => "apiextensions",
        "events.k8s.io" => "events",
        "discovery.k8s.io" => "discovery",
        other => other,
    };
    format!("{g}.{version}")
}

/// The definition name of a resource's kind.
pub fn definition_name(ri: &ResourceInfo) -> String {
    if ri.custom {
        let rev: Vec<&str> = ri.group.split('.').rev().collect();
        return format!("{}.{}.{}", rev.join("."), ri.version, ri.kind);
    }
    full_name(&format!("{}.{}", package(&ri.group, &ri.version), ri.kind))
}

fn type_schema(ty: &str, pkg: &str) -> Value {
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        if let Some(item) = inner.strip_suffix('+') {
            return json!({"type": "array", "items": type_schema(item, pkg), "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"});
        }
        if let Some((item, key)) = inner.split_once('@') {
            return json!({
                "type": "array", "items": type_schema(item, pkg),
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key],
                "x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": "merge",
            });
        }
        return json!({"type": "array", "items": type_schema(inner, pkg), "x-kubernetes-list-type": "atomic"});
    }
    match ty {
        "s" => json!({"type": "string", "default": ""}),
        "i" => json!({"type": "integer", "format": "int32"}),
        "l" => json!({"type": "integer", "format": "int64"}),
        "b" => json!({"type": "boolean"}),
        "n" => json!({"type": "number", "format": "double"}),
        "q" => {
            json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"})
        }
        "is" => {
            json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"})
        }
        "t" => json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time"}),
        "o" => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        "ms" => {
            json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}})
        }
        "mq" => {
            json!({"type": "object", "additionalProperties": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}})
        }
        other => {
            let short = if other.contains('.') {
                other.to_string()
            } else {
                format!("{pkg}.{other}")
            };
            json!({"allOf": [{"$ref": format!("#/components/schemas/{}", full_name(&short))}], "default": {}})
        }
    }
}

/// All built-in schemas by definition name (without GVK extensions).
fn builtin_schemas() -> &'static BTreeMap<String, Value> {
    static CELL: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut out = BTreeMap::new();
        let kinds: Vec<String> = Registry::with_builtins().all().iter().map(definition_name).collect();
        out.insert(
            "io.k8s.apimachinery.pkg.api.resource.Quantity".to_string(),
            json!({"type": "string", "description": "Quantity is a fixed-point representation of a number.", "x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
        );
        out.insert(
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".to_string(),
            json!({"description": "IntOrString is a type that can hold an int32 or a string.", "format": "int-or-string", "x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
        );
        out.insert(
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time".to_string(),
            json!({"type": "string", "format": "date-time", "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON."}),
        );
        for line in SCHEMAS.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.split_whitespace();
            let Some(short) = parts.next() else { continue };
            let pkg = short.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
            let kind = short.rsplit('.').next().unwrap_or(short);
            let mut props = Map::new();
            let mut required = Vec::new();
            let is_kind = kinds.contains(&full_name(short));
            if is_kind {
                props.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
                props.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
                props.insert("metadata".into(), json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "default": {}, "description": "Standard object's metadata."}));
            }
            for f in parts {
                let Some((name, ty)) = f.split_once(':') else { continue };
                let (name, req) = match name.strip_suffix('!') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                if req {
                    required.push(json!(name));
                }
                let mut s = type_schema(ty, pkg);
                s["description"] = json!(describe(kind, name));
                props.insert(name.to_string(), s);
            }
            let mut schema = json!({"type": "object", "description": describe_type(kind), "properties": props});
            if !required.is_empty() {
                schema["required"] = Value::Array(required);
            }
            out.insert(full_name(short), schema);
        }
        out
    })
}

fn describe_type(kind: &str) -> String {
    match kind {
        "Deployment" => "Deployment enables declarative updates for Pods and ReplicaSets.".into(),
        "DeploymentSpec" => {
            "DeploymentSpec is the specification of the desired behavior of the Deployment.".into()
        }
        "Pod" => "Pod is a collection of containers that can run on a host.".into(),
        "ObjectMeta" => "ObjectMeta is metadata that all persisted resources must have.".into(),
        _ => format!("{kind} (devcluster schema: main fields only)."),
    }
}

fn describe(kind: &str, field: &str) -> String {
    match (kind, field) {
        (_, "replicas") => "Number of desired pods. Defaults to 1.".into(),
        (_, "selector") => {
            "Label selector for pods. It must match the pod template's labels.".into()
        }
        (_, "template") => "Template describes the pods that will be created.".into(),
        (_, "strategy") => {
            "The deployment strategy to use to replace existing pods with new ones.".into()
        }
        (_, "spec") => format!("Specification of the desired behavior of the {kind}."),
        (_, "status") => format!("Most recently observed status of the {kind}."),
        _ => format!("{field} of the {kind}."),
    }
}

fn gvk(ri: &ResourceInfo) -> Value {
    json!([{"group": ri.group, "version": ri.version, "kind": ri.kind}])
}

/// The schema of a resource's kind, if known.
pub fn kind_schema(ri: &ResourceInfo) -> Option<Value> {
    if ri.custom {
        let mut s = ri.crd_schema.clone().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        if !s.is_object() {
            s = json!({"type": "object"});
        }
        if !s.get("properties").is_some_and(Value::is_object) {
            s["properties"] = json!({});
        }
        let props = s["properties"].as_object_mut().expect("just ensured");
        props.insert("apiVersion".into(), json!({"type": "string"}));
        props.insert("kind".into(), json!({"type": "string"}));
        props.insert("metadata".into(), json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}));
        s["x-kubernetes-group-version-kind"] = gvk(ri);
        return Some(s);
    }
    builtin_schemas()
        .get(&definition_name(ri))
        .cloned()
        .map(|mut s| {
            s["x-kubernetes-group-version-kind"] = gvk(ri);
            s
        })
}

/// The `/openapi/v3` index.
pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = Vec::new();
    for r in registry.all().iter() {
        let gv = (r.group.clone(), r.version.clone());
        if !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    for (g, v) in gvs {
        let path = gv_path(&g, &v);
        let doc = document(registry, &g, &v).unwrap_or_default();
        let hash = hash_hex(&serde_json::to_vec(&doc).unwrap_or_default());
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn params(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| json!({"name": n, "in": "query", "description": n, "schema": {"type": "string", "uniqueItems": true}})).collect()
}

/// The OpenAPI v3 document of one group-version (None when it isn't served).
pub fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<ResourceInfo> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .cloned()
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    for (k, v) in builtin_schemas() {
        schemas.insert(k.clone(), v.clone());
    }
    let mut paths = Map::new();
    let base = format!("/{}", gv_path(group, version));
    for ri in &resources {
        let def = definition_name(ri);
        if let Some(s) = kind_schema(ri) {
            schemas.insert(def.clone(), s);
        } else {
            schemas.insert(def.clone(), json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": gvk(ri)}));
        }
        let ext = json!({"group": ri.group, "version": ri.version, "kind": ri.kind});
        let reference = json!({"$ref": format!("#/components/schemas/{def}")});
        let ok = |desc: &str| json!({"200": {"description": desc, "content": {"application/json": {"schema": reference.clone()}}}});
        let body = json!({"content": {"*/*": {"schema": reference.clone()}}, "required": true});
        let patch_body = json!({"content": {
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/strategic-merge-patch+json": {"schema": {"type": "object"}},
        }, "required": true});
        let write_params = params(&["dryRun", "fieldManager", "fieldValidation", "pretty"]);
        let mut patch_params = write_params.clone();
        patch_params.extend(params(&["force"]));
        let op = |action: &str, p: Vec<Value>, extra: Option<(&str, Value)>, resp: Value| {
            let mut o = json!({
                "operationId": format!("{action}{}", ri.kind),
                "parameters": p,
                "responses": resp,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": ext.clone(),
            });
            if let Some((k, v)) = extra {
                o[k] = v;
            }
            o
        };
        let item = json!({
            "get": op("get", params(&["pretty"]), None, ok("OK")),
            "put": op("put", write_params.clone(), Some(("requestBody", body.clone())), ok("OK")),
            "patch": op("patch", patch_params.clone(), Some(("requestBody", patch_body.clone())), ok("OK")),
            "delete": op("delete", params(&["dryRun", "gracePeriodSeconds", "propagationPolicy"]), None, ok("OK")),
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}],
        });
        let coll = json!({
            "get": op("list", params(&["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]), None, json!({"200": {"description": "OK"}})),
            "post": op("post", write_params.clone(), Some(("requestBody", body.clone())), ok("OK")),
            "delete": op("deletecollection", params(&["labelSelector", "fieldSelector", "dryRun"]), None, json!({"200": {"description": "OK"}})),
        });
        let prefix = if ri.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", ri.plural)
        } else {
            format!("{base}/{}", ri.plural)
        };
        paths.insert(format!("{prefix}/{{name}}"), item);
        paths.insert(prefix.clone(), coll);
        if ri.has_status {
            paths.insert(
                format!("{prefix}/{{name}}/status"),
                json!({"get": op("get", vec![], None, ok("OK")), "patch": op("patch", patch_params.clone(), Some(("requestBody", patch_body.clone())), ok("OK")), "put": op("put", write_params.clone(), Some(("requestBody", body.clone())), ok("OK"))}),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// Fields of `obj` that the schema of `ri` doesn't know (dotted paths), for fieldValidation.
pub fn unknown_fields(ri: &ResourceInfo, obj: &Value) -> Vec<String> {
    let Some(schema) = kind_schema(ri) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&schema, obj, "", &mut out, 0);
    out
}

fn resolve(schema: &Value) -> Option<&Value> {
    let r = schema
        .get("$ref")
        .or_else(|| {
            schema
                .get("allOf")
                .and_then(|a| a.get(0))
                .and_then(|x| x.get("$ref"))
        })
        .and_then(Value::as_str);
    match r {
        Some(r) => builtin_schemas().get(r.trim_start_matches("#/components/schemas/")),
        None => Some(schema),
    }
}

fn walk(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    let Some(schema) = resolve(schema) else {
        return;
    };
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, child) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match props.get(k) {
                        Some(s) => walk(s, child, &p, out, depth + 1),
                        None => {
                            if schema.get("additionalProperties").is_none() {
                                out.push(p);
                            }
                        }
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, child) in m {
                    walk(ap, child, &format!("{path}.{k}"), out, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_schema_knows_its_fields() {
        let reg = Registry::with_builtins();
        let ri = reg.find("apps", "v1", "deployments").unwrap();
        let ok = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}});
        assert!(
            unknown_fields(&ri, &ok).is_empty(),
            "{:?}",
            unknown_fields(&ri, &ok)
        );
        let bad = json!({"spec": {"replicas": 1, "bogus": 2, "template": {"spec": {"containers": [{"name": "c", "imag": "i"}]}}}});
        assert_eq!(
            unknown_fields(&ri, &bad),
            vec!["spec.bogus", "spec.template.spec.containers[0].imag"]
        );
        let doc = document(&reg, "apps", "v1").unwrap();
        assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"].is_array());
    }
}
