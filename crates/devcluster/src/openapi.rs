//! OpenAPI v3: the `/openapi/v3` index and one document per group-version, with full schemas
//! for the built-in kinds and for CRDs (their own `openAPIV3Schema`),
//! `x-kubernetes-group-version-kind`, strategic-merge keys (`x-kubernetes-patch-merge-key`,
//! list-map keys) and PATCH operations that advertise `fieldValidation` (how kubectl and Helm
//! decide to validate server-side). Also `unknown_fields`, used by field validation.
//!
//! The built-in schemas are built from data, once, on first use: their structure (every field,
//! its type and nesting, statuses and ObjectMeta included) from the protobuf descriptor
//! `proto_schema.txt`; the texts `kubectl explain` prints and required fields from
//! `openapi_docs.txt` (upstream's descriptions, `scripts/gen-openapi-docs.py`), which also gives
//! the apiextensions definitions (no protobuf); the merge keys from the small DSL below. Field
//! validation walks the structures without the texts. Free-form places (`RawExtension`,
//! `FieldsV1`, a CRD schema's `JSON` values) carry `x-kubernetes-preserve-unknown-fields`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo};

/// The schema DSL (now only for merge keys and list types, laid over the generated
/// structures; a field or definition they lack is added as written): `Name field:type ...`; types: s string, i int32, l int64, b bool, n number,
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
        "authorization.k8s.io" => "authorization",
        "authentication.k8s.io" => "authentication",
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

/// The upstream descriptions and required fields (see `scripts/gen-openapi-docs.py`).
const DOCS: &str = include_str!("openapi_docs.txt");

const REF: &str = "#/components/schemas/";

fn reference(def: &str) -> Value {
    json!({"allOf": [{"$ref": format!("{REF}{def}")}]})
}

/// Definitions that hold arbitrary JSON: never checked for unknown fields.
fn free_form(description: &str) -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "description": description})
}

/// The schemas of Kubernetes' special types, whose JSON is not their message's fields.
fn special_schema(def: &str) -> Option<Value> {
    Some(match def {
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            json!({"type": "string", "x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]})
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            json!({"format": "int-or-string", "x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]})
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" => {
            json!({"type": "string", "format": "date-time"})
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            json!({"type": "string", "format": "date-time"})
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration" => json!({"type": "string"}),
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray" => {
            free_form("")
        }
        _ => return None,
    })
}

fn scalar_schema(ty: &str) -> Option<Value> {
    Some(match ty {
        "string" => json!({"type": "string"}),
        "bool" | "boolean" => json!({"type": "boolean"}),
        "int32" => json!({"type": "integer", "format": "int32"}),
        "int64" => json!({"type": "integer", "format": "int64"}),
        "integer" => json!({"type": "integer"}),
        "double" | "number" => json!({"type": "number", "format": "double"}),
        "bytes" => json!({"type": "string", "format": "byte"}),
        _ => return None,
    })
}

/// One upstream definition's texts, borrowed from [`DOCS`] (escaped).
#[derive(Default)]
struct DefDocs {
    description: &'static str,
    /// (name, required, description, type when only upstream knows it)
    fields: Vec<(&'static str, bool, &'static str, Option<&'static str>)>,
}

fn docs() -> &'static BTreeMap<&'static str, DefDocs> {
    static CELL: OnceLock<BTreeMap<&'static str, DefDocs>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut out: BTreeMap<&'static str, DefDocs> = BTreeMap::new();
        let mut cur: Option<&'static str> = None;
        for line in DOCS.lines() {
            if let Some(rest) = line.strip_prefix("D ") {
                let (name, desc) = rest.split_once('\t').unwrap_or((rest, ""));
                out.insert(
                    name,
                    DefDocs {
                        description: desc,
                        fields: Vec::new(),
                    },
                );
                cur = Some(name);
            } else if let Some(rest) = line.strip_prefix("F ") {
                let mut p = rest.splitn(3, '\t');
                let (Some(name), Some(req), desc) = (p.next(), p.next(), p.next()) else {
                    continue;
                };
                if let Some(d) = cur.and_then(|c| out.get_mut(c)) {
                    d.fields.push((name, req == "r", desc.unwrap_or(""), None));
                }
            } else if let Some(rest) = line.strip_prefix("T ") {
                let (name, ty) = rest.split_once('\t').unwrap_or((rest, ""));
                if let Some(f) = cur
                    .and_then(|c| out.get_mut(c))
                    .and_then(|d| d.fields.iter_mut().find(|f| f.0 == name))
                {
                    f.3 = Some(ty);
                }
            }
        }
        out
    })
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A property's schema from an upstream-only type (`string`, a definition, `[T`, `{T`).
fn upstream_type_schema(ty: &str) -> Value {
    if let Some(item) = ty.strip_prefix('[') {
        return json!({"type": "array", "items": upstream_type_schema(item)});
    }
    if let Some(item) = ty.strip_prefix('{') {
        return json!({"type": "object", "additionalProperties": upstream_type_schema(item)});
    }
    if ty.starts_with("io.k8s.") {
        return reference(ty);
    }
    scalar_schema(ty).unwrap_or_else(|| json!({}))
}

/// The structure of every built-in definition, without descriptions: from the protobuf
/// descriptor (every field, its type and nesting; inlined structs flattened), the upstream-only
/// definitions of `openapi_docs.txt` (apiextensions), then the DSL's list-merge extensions.
/// This is what field validation walks.
fn structures() -> &'static BTreeMap<String, Value> {
    static CELL: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    CELL.get_or_init(|| {
        // message name -> [(json name, label, type)]
        let mut messages: BTreeMap<&str, Vec<(&str, &str, &str)>> = BTreeMap::new();
        let mut cur = None;
        for line in crate::proto::SCHEMA.lines().filter(|l| !l.starts_with('#')) {
            if let Some(n) = line.strip_prefix("message ") {
                messages.insert(n, Vec::new());
                cur = Some(n);
                continue;
            }
            if let (Some(c), [_, json_name, label, ty]) =
                (cur, line.split_whitespace().collect::<Vec<_>>().as_slice())
                && let Some(m) = messages.get_mut(c)
            {
                m.push((json_name, label, ty));
            }
        }
        fn flatten<'a>(
            messages: &BTreeMap<&'a str, Vec<(&'a str, &'a str, &'a str)>>,
            name: &str,
            out: &mut Vec<(&'a str, &'a str, &'a str)>,
            depth: usize,
        ) {
            for f in messages.get(name).into_iter().flatten() {
                if f.0 == crate::proto::INLINE && depth < 8 {
                    flatten(messages, f.2, out, depth + 1);
                } else {
                    out.push(*f);
                }
            }
        }
        let docs = docs();
        // Upstream's definition names: the proto descriptor's come from Rust bindings, which
        // case acronyms differently (`HttpGetAction` for `HTTPGetAction`).
        let upstream: HashMap<String, &str> = docs.keys().map(|d| (d.to_lowercase(), *d)).collect();
        let def_name = |msg: &str| {
            let d = format!("io.k8s.{msg}");
            upstream
                .get(&d.to_lowercase())
                .map_or(d, |u| (*u).to_string())
        };
        let mut out = BTreeMap::new();
        for name in messages.keys() {
            let def = def_name(name);
            if let Some(s) = special_schema(&def) {
                out.insert(def, s);
                continue;
            }
            let mut fields = Vec::new();
            flatten(&messages, name, &mut fields, 0);
            let mut props = Map::new();
            if let Some(d) = docs.get(def.as_str()) {
                for (f, _, _, ty) in &d.fields {
                    if matches!(*f, "apiVersion" | "kind") {
                        props.insert(
                            (*f).to_string(),
                            upstream_type_schema(ty.unwrap_or("string")),
                        );
                    }
                }
            }
            for (json_name, label, ty) in fields {
                let item = scalar_schema(ty).unwrap_or_else(|| reference(&def_name(ty)));
                let s = match label {
                    "rep" => json!({"type": "array", "items": item}),
                    "map" => json!({"type": "object", "additionalProperties": item}),
                    _ => item,
                };
                props.insert(json_name.to_string(), s);
            }
            out.insert(def, json!({"type": "object", "properties": props}));
        }
        // Definitions only upstream's OpenAPI has (no protobuf): CustomResourceDefinition's.
        for (def, d) in docs {
            if out.contains_key(*def) {
                continue;
            }
            if let Some(s) = special_schema(def) {
                out.insert((*def).to_string(), s);
                continue;
            }
            let props: Map<String, Value> = d
                .fields
                .iter()
                .map(|(f, _, _, ty)| ((*f).to_string(), upstream_type_schema(ty.unwrap_or(""))))
                .collect();
            out.insert(
                (*def).to_string(),
                json!({"type": "object", "properties": props}),
            );
        }
        overlay_dsl(&mut out);
        out
    })
}

/// The DSL's list extensions (merge keys, list types) on the generated definitions; its
/// definitions and fields the generated ones lack are added as they are.
fn overlay_dsl(out: &mut BTreeMap<String, Value>) {
    for line in SCHEMAS.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split_whitespace();
        let Some(short) = parts.next() else { continue };
        let pkg = short.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
        let def = full_name(short);
        let target = out
            .entry(def)
            .or_insert_with(|| json!({"type": "object", "properties": {}}));
        for f in parts {
            let Some((name, ty)) = f.split_once(':') else {
                continue;
            };
            let name = name.trim_end_matches('!');
            let dsl = type_schema(ty, pkg);
            let Some(props) = target.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            match props.get_mut(name) {
                Some(existing) => {
                    if let (Some(e), Some(d)) = (existing.as_object_mut(), dsl.as_object()) {
                        for (k, v) in d.iter().filter(|(k, _)| {
                            k.starts_with("x-kubernetes-list")
                                || k.starts_with("x-kubernetes-patch")
                        }) {
                            e.insert(k.clone(), v.clone());
                        }
                    }
                }
                None => {
                    props.insert(name.to_string(), dsl);
                }
            }
        }
    }
}

/// All built-in schemas by definition name (without GVK extensions), with upstream's
/// descriptions and required fields: what the OpenAPI documents serve.
fn builtin_schemas() -> &'static BTreeMap<String, Value> {
    static CELL: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    CELL.get_or_init(|| {
        let docs = docs();
        let mut out = structures().clone();
        for (def, schema) in &mut out {
            let Some(d) = docs.get(def.as_str()) else {
                continue;
            };
            if !d.description.is_empty() {
                schema["description"] = json!(unescape(d.description));
            }
            let mut required = Vec::new();
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for (f, req, desc, _) in &d.fields {
                    let Some(p) = props.get_mut(*f) else { continue };
                    if *req {
                        required.push(json!(f));
                    }
                    if !desc.is_empty() {
                        p["description"] = json!(unescape(desc));
                    }
                }
            }
            if !required.is_empty() {
                schema["required"] = Value::Array(required);
            }
        }
        out
    })
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
        // The built-in definitions are fixed for a binary (its data's fingerprint): the kinds
        // served and the custom resources' schemas are what can change a document (building
        // every one to hash it is costly).
        let mut fingerprint = builtin_fingerprint().as_bytes().to_vec();
        for ri in registry
            .all()
            .iter()
            .filter(|r| r.group == g && r.version == v)
        {
            fingerprint.extend_from_slice(definition_name(ri).as_bytes());
            if ri.custom {
                fingerprint.extend(serde_json::to_vec(&kind_schema(ri)).unwrap_or_default());
            }
        }
        let hash = hash_hex(&fingerprint);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// A hash of the data the built-in definitions come from, so a client's cached document (kept
/// by the `?hash=` URL) is not reused across devcluster versions whose schemas differ.
fn builtin_fingerprint() -> &'static str {
    static CELL: OnceLock<String> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut all = Vec::with_capacity(DOCS.len() + crate::proto::SCHEMA.len() + SCHEMAS.len());
        for part in [DOCS, crate::proto::SCHEMA, SCHEMAS] {
            all.extend_from_slice(part.as_bytes());
        }
        hash_hex(&all)
    })
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
    // The built-in definitions the kinds refer to, transitively.
    let mut todo: Vec<String> = Vec::new();
    for s in schemas.values() {
        refs_of(s, &mut todo);
    }
    while let Some(def) = todo.pop() {
        if schemas.contains_key(&def) {
            continue;
        }
        if let Some(s) = builtin_schemas().get(&def) {
            refs_of(s, &mut todo);
            schemas.insert(def, s.clone());
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The definitions a schema refers to (`$ref`s at any depth).
fn refs_of(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r.trim_start_matches(REF).to_string()),
                    _ => refs_of(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs_of(v, out)),
        _ => {}
    }
}

/// Fields of `obj` that the schema of `ri` doesn't know (dotted paths), for fieldValidation.
pub fn unknown_fields(ri: &ResourceInfo, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if ri.custom {
        if let Some(schema) = kind_schema(ri) {
            walk(&schema, obj, "", &mut out, 0);
        }
    } else if let Some(schema) = structures().get(&definition_name(ri)) {
        walk(schema, obj, "", &mut out, 0);
    }
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
        Some(r) => structures().get(r.trim_start_matches(REF)),
        None => Some(schema),
    }
}

/// The first value of `obj` whose JSON type its built-in kind's field can't hold, as Go's
/// decoder reports it (`json: cannot unmarshal string into Go struct field
/// ContainerPort.spec.template.spec.containers.ports.containerPort of type int32`). A real
/// server refuses such a body whatever the fieldValidation. Scalars and nested structs are
/// checked; custom resources (their CRD schema decides) and free-form places are not.
pub fn type_error(ri: &ResourceInfo, obj: &Value) -> Option<String> {
    if ri.custom {
        return None;
    }
    let def = definition_name(ri);
    let schema = structures().get(&def)?;
    check_types(schema, short_name(&def), obj, "", 0)
}

fn short_name(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

/// The JSON type of a value as Go's decoder names it.
fn json_kind(v: &Value) -> String {
    match v {
        Value::String(_) => "string".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "number".into(),
        Value::Number(n) => format!("number {n}"),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
        Value::Null => "null".into(),
    }
}

fn check_types(schema: &Value, owner: &str, v: &Value, path: &str, depth: usize) -> Option<String> {
    if depth > 64 || v.is_null() {
        return None;
    }
    let def = schema
        .get("allOf")
        .and_then(|a| a.get(0))
        .and_then(|x| x.get("$ref"))
        .and_then(Value::as_str)
        .map(|r| r.trim_start_matches(REF));
    let resolved = resolve(schema)?;
    if resolved.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
        || resolved.get("anyOf").is_some()
        || resolved.get("format").and_then(Value::as_str) == Some("date-time")
    {
        return None;
    }
    let mismatch = |go_type: &str| {
        let field = if path.is_empty() {
            format!("Go value of type {go_type}")
        } else {
            format!("Go struct field {owner}.{path} of type {go_type}")
        };
        Some(format!(
            "json: cannot unmarshal {} into {field}",
            json_kind(v)
        ))
    };
    let ty = resolved
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match ty {
        "string" => (!v.is_string()).then(|| mismatch("string")).flatten(),
        "boolean" => (!v.is_boolean()).then(|| mismatch("bool")).flatten(),
        "integer" => {
            let go = match resolved.get("format").and_then(Value::as_str) {
                Some("int64") => "int64",
                _ => "int32",
            };
            (!(v.is_i64() || v.is_u64()))
                .then(|| mismatch(go))
                .flatten()
        }
        "number" => (!v.is_number()).then(|| mismatch("float64")).flatten(),
        "array" => {
            let items = resolved.get("items")?;
            v.as_array()?
                .iter()
                .find_map(|item| check_types(items, owner, item, path, depth + 1))
        }
        "object" => {
            if let Some(ap) = resolved
                .get("additionalProperties")
                .filter(|a| a.is_object())
            {
                return v
                    .as_object()?
                    .values()
                    .find_map(|item| check_types(ap, owner, item, path, depth + 1));
            }
            let props = resolved.get("properties").and_then(Value::as_object)?;
            let Some(m) = v.as_object() else {
                let pkg = def.and_then(|d| d.rsplit('.').nth(1)).unwrap_or("v1");
                return mismatch(&format!("{pkg}.{}", def.map(short_name).unwrap_or(owner)));
            };
            let owner = def.map(short_name).unwrap_or(owner);
            m.iter().find_map(|(k, child)| {
                let s = props.get(k)?;
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                check_types(s, owner, child, &p, depth + 1)
            })
        }
        _ => None,
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

    #[test]
    fn type_errors_read_as_gos() {
        let reg = Registry::with_builtins();
        let ri = reg.find("apps", "v1", "deployments").expect("built-in");
        let dep = |container: Value| {
            json!({"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                "template": {"spec": {"containers": [container]}}}})
        };
        let ok = dep(
            json!({"name": "c", "image": "i", "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}, "livenessProbe": {"httpGet": {"port": "http"}}}),
        );
        assert_eq!(type_error(&ri, &ok), None);
        let bad = dep(json!({"name": "c", "env": [{"name": "A", "value": 1}]}));
        assert_eq!(
            type_error(&ri, &bad).as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string"
            )
        );
        let bad = dep(json!({"name": "c", "ports": [{"containerPort": "80"}]}));
        assert_eq!(
            type_error(&ri, &bad).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"
            )
        );
        let mut bad = ok.clone();
        bad["spec"]["template"] = json!("x");
        assert_eq!(
            type_error(&ri, &bad).as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.template of type v1.PodTemplateSpec"
            )
        );
    }

    #[test]
    fn every_builtin_kind_has_a_full_schema() {
        let start = std::time::Instant::now();
        let _ = structures();
        eprintln!("structures built in {:?}", start.elapsed());
        let reg = Registry::with_builtins();
        for ri in reg.all().iter() {
            let s = structures()
                .get(&definition_name(ri))
                .unwrap_or_else(|| panic!("no schema for {}", definition_name(ri)));
            for f in ["apiVersion", "kind", "metadata"] {
                assert!(
                    s["properties"].get(f).is_some() || ri.kind.ends_with("Review"),
                    "{} lacks {f}",
                    ri.kind
                );
            }
        }
        let start = std::time::Instant::now();
        let doc = document(&reg, "", "v1").expect("core/v1 is served");
        eprintln!("core/v1 document built in {:?}", start.elapsed());
        let probe = &doc["components"]["schemas"]["io.k8s.api.core.v1.Probe"];
        assert!(
            probe["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Probe describes a health check")),
            "{probe}"
        );
        assert!(probe["properties"]["httpGet"]["description"].is_string());
        let spec = &doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"];
        assert_eq!(spec["required"], json!(["containers"]));
        assert_eq!(
            spec["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
    }

    #[test]
    fn unknown_fields_are_found_at_any_depth() {
        let reg = Registry::with_builtins();
        let ri = reg.find("apps", "v1", "deployments").expect("built-in");
        let ok = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "d", "uid": "u", "resourceVersion": "1", "generation": 2,
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"a": "b"}, "annotations": {"x": "y"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "n", "uid": "u", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": [{"manager": "m", "operation": "Apply", "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                    "securityContext": {"runAsNonRoot": true, "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}},
                        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {"topologyKey": "t", "labelSelector": {"matchLabels": {"a": "b"}}}}]}},
                    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"a": "b"}}}],
                    "volumes": [{"name": "c", "configMap": {"name": "cm", "items": [{"key": "k", "path": "p", "mode": 420}], "defaultMode": 420}},
                        {"name": "s", "secret": {"secretName": "s", "optional": true}},
                        {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}, {"downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
                        {"name": "e", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}],
                    "containers": [{"name": "c", "image": "i",
                        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": 0.5}},
                        "livenessProbe": {"httpGet": {"path": "/", "port": "http", "scheme": "HTTP", "httpHeaders": [{"name": "h", "value": "v"}]}, "periodSeconds": 5},
                        "readinessProbe": {"exec": {"command": ["true"]}}, "startupProbe": {"tcpSocket": {"port": 80}, "failureThreshold": 30},
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}, "postStart": {"exec": {"command": ["x"]}}},
                        "securityContext": {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true},
                        "volumeMounts": [{"name": "c", "mountPath": "/c", "readOnly": true}],
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]}]}}},
            "status": {"replicas": 1, "readyReplicas": 1, "observedGeneration": 2,
                "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "r", "message": "m"}]}});
        assert_eq!(unknown_fields(&ri, &ok), Vec::<String>::new());
        let mut bad = ok.clone();
        bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["bogus"] =
            json!(1);
        bad["spec"]["template"]["spec"]["volumes"][2]["projected"]["sources"][0]["serviceAccountToken"]
            ["nope"] = json!(1);
        bad["status"]["conditions"][0]["extra"] = json!(1);
        bad["metadata"]["ownerReferences"][0]["x"] = json!(1);
        bad["metadata"]["bogus"] = json!(1);
        assert_eq!(
            unknown_fields(&ri, &bad),
            vec![
                "metadata.ownerReferences[0].x",
                "metadata.bogus",
                "spec.template.spec.volumes[2].projected.sources[0].serviceAccountToken.nope",
                "spec.template.spec.containers[0].livenessProbe.httpGet.bogus",
                "status.conditions[0].extra",
            ]
        );
        // Free-form places: a ControllerRevision's data (RawExtension), a CRD's schema.
        let cr = reg
            .find("apps", "v1", "controllerrevisions")
            .expect("built-in");
        let obj = json!({"metadata": {"name": "r"}, "revision": 1, "data": {"spec": {"anything": {"goes": 1}}}});
        assert_eq!(unknown_fields(&cr, &obj), Vec::<String>::new());
        let crd = reg
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .expect("built-in");
        let obj = json!({"metadata": {"name": "ws.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "ws", "kind": "W", "shortNames": ["w"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "A", "type": "string", "jsonPath": ".spec.a"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true, "default": {"a": {"b": 1}},
                    "properties": {"a": {"type": "string", "enum": ["x"], "example": {"any": 1}}},
                    "additionalProperties": {"type": "string"}}}}}}]}});
        assert_eq!(unknown_fields(&crd, &obj), Vec::<String>::new());
        let mut bad = obj.clone();
        bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["tpye"] =
            json!("x");
        assert_eq!(
            unknown_fields(&crd, &bad),
            vec!["spec.versions[0].schema.openAPIV3Schema.properties.spec.tpye"]
        );
    }
}
