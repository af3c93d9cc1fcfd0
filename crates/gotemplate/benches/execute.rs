//! Parse and execute a realistic chart-shaped template set: a `_helpers.tpl` with the usual
//! name/fullname/labels helpers and a Deployment manifest using them (written for this
//! benchmark, modelled on common charts). Helm/Sprig functions the templates use
//! (`include`, `default`, `trunc`, `trimSuffix`, `contains`, `quote`, `replace`, `toYaml`,
//! `nindent`) are registered as simple stand-ins here, so the numbers measure the engine.
//!
//! Run: cargo bench -p gotemplate --bench execute

use std::sync::Arc;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use gotemplate::{ExecOptions, FuncMap, Function, Map, Param, TemplateSet, Value, gofmt};

const HELPERS: &str = r#"{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name: release name plus chart name unless one contains the other. */}}
{{- define "app.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "app.labels" -}}
helm.sh/chart: {{ include "app.chart" . }}
{{ include "app.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "app.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- with .Values.podAnnotations }}
      annotations:
        {{- range $k, $v := . }}
        {{ $k }}: {{ $v | quote }}
        {{- end }}
      {{- end }}
      labels:
        {{- include "app.selectorLabels" . | nindent 8 }}
    spec:
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          {{- if .Values.command }}
          command:
            {{- range .Values.command }}
            - {{ . | quote }}
            {{- end }}
          {{- end }}
          env:
          {{- range $name, $value := .Values.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
          {{- end }}
          ports:
            {{- range .Values.ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: {{ .protocol | default "TCP" }}
            {{- end }}
          {{- if .Values.probes.enabled }}
          livenessProbe:
            httpGet:
              path: {{ .Values.probes.path }}
              port: http
            initialDelaySeconds: {{ .Values.probes.delay }}
          readinessProbe:
            httpGet:
              path: {{ .Values.probes.path }}
              port: http
          {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if and .Values.tolerations (gt (len .Values.tolerations) 0) }}
      tolerations:
        {{- toYaml .Values.tolerations | nindent 8 }}
      {{- end }}
"#;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Nil => String::new(),
        v => gofmt::sprint(v),
    }
}

/// Minimal stand-ins for the Helm/Sprig functions the templates call.
fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "include",
        Function::new(&[Param::String, Param::Any], None, |ctx, a| {
            Ok(Value::string_from_bytes(
                ctx.execute_template(a[0].as_str().unwrap_or(""), &a[1])?,
            ))
        }),
    );
    m.insert(
        "default",
        Function::new(&[Param::Any], Some(Param::Any), |_, a| {
            let given = a.get(1).cloned().unwrap_or(Value::Nil);
            Ok(if gotemplate::value_truth(&given) {
                given
            } else {
                a[0].clone()
            })
        }),
    );
    m.insert(
        "trunc",
        Function::new(&[Param::Int, Param::String], None, |_, a| {
            let n = match a[0] {
                Value::Int(n, _) => n as usize,
                _ => 0,
            };
            Ok(Value::str(
                a[1].as_str()
                    .unwrap_or("")
                    .chars()
                    .take(n)
                    .collect::<String>(),
            ))
        }),
    );
    m.insert(
        "trimSuffix",
        Function::new(&[Param::String, Param::String], None, |_, a| {
            let (suf, x) = (a[0].as_str().unwrap_or(""), a[1].as_str().unwrap_or(""));
            Ok(Value::str(x.strip_suffix(suf).unwrap_or(x)))
        }),
    );
    m.insert(
        "contains",
        Function::new(&[Param::String, Param::String], None, |_, a| {
            Ok(Value::Bool(
                a[1].as_str()
                    .unwrap_or("")
                    .contains(a[0].as_str().unwrap_or("")),
            ))
        }),
    );
    m.insert(
        "replace",
        Function::new(
            &[Param::String, Param::String, Param::String],
            None,
            |_, a| {
                Ok(Value::str(a[2].as_str().unwrap_or("").replace(
                    a[0].as_str().unwrap_or(""),
                    a[1].as_str().unwrap_or(""),
                )))
            },
        ),
    );
    m.insert(
        "quote",
        Function::new(&[], Some(Param::Any), |_, a| {
            Ok(Value::str(
                a.iter()
                    .map(|x| gofmt::quote(&s(x)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }),
    );
    m.insert(
        "toYaml",
        Function::new(&[Param::Any], None, |_, a| {
            Ok(Value::str(match &a[0] {
                Value::Map(m, _) => m
                    .read()
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", s(v)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Value::List(l, _) => l
                    .iter()
                    .map(|v| format!("- {}", s(v)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                v => s(v),
            }))
        }),
    );
    m.insert(
        "nindent",
        Function::new(&[Param::Int, Param::String], None, |_, a| {
            let n = match a[0] {
                Value::Int(n, _) => n as usize,
                _ => 0,
            };
            let pad = " ".repeat(n);
            let body = a[1]
                .as_str()
                .unwrap_or("")
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Value::str(format!("\n{body}")))
        }),
    );
    m
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::map(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map>(),
    )
}

fn data() -> Value {
    let f = Value::Float;
    let st = |x: &str| Value::str(x);
    let values = map(vec![
        ("replicaCount", f(2.0)),
        ("nameOverride", st("")),
        ("autoscaling", map(vec![("enabled", Value::Bool(false))])),
        (
            "image",
            map(vec![
                ("repository", st("ghcr.io/example/app")),
                ("tag", st("")),
                ("pullPolicy", st("IfNotPresent")),
            ]),
        ),
        (
            "podAnnotations",
            map(vec![
                ("prometheus.io/scrape", st("true")),
                ("prometheus.io/port", st("9898")),
            ]),
        ),
        ("imagePullSecrets", Value::list(vec![])),
        (
            "command",
            Value::list(vec![st("./app"), st("--port=9898"), st("--level=info")]),
        ),
        (
            "env",
            map(vec![
                ("LOG_LEVEL", st("info")),
                ("MODE", st("prod")),
                ("WORKERS", f(4.0)),
            ]),
        ),
        (
            "ports",
            Value::list(vec![
                map(vec![
                    ("name", st("http")),
                    ("port", f(9898.0)),
                    ("protocol", st("TCP")),
                ]),
                map(vec![("name", st("grpc")), ("port", f(9999.0))]),
            ]),
        ),
        (
            "probes",
            map(vec![
                ("enabled", Value::Bool(true)),
                ("path", st("/healthz")),
                ("delay", f(5.0)),
            ]),
        ),
        (
            "resources",
            map(vec![
                ("limits", map(vec![("cpu", st("500m"))])),
                (
                    "requests",
                    map(vec![("cpu", st("100m")), ("memory", st("64Mi"))]),
                ),
            ]),
        ),
        ("nodeSelector", map(vec![("kubernetes.io/os", st("linux"))])),
        ("tolerations", Value::list(vec![])),
    ]);
    map(vec![
        ("Values", values),
        (
            "Release",
            map(vec![
                ("Name", st("demo")),
                ("Namespace", st("default")),
                ("Service", st("Helm")),
            ]),
        ),
        (
            "Chart",
            map(vec![
                ("Name", st("app")),
                ("Version", st("1.2.3+build")),
                ("AppVersion", st("6.5.0")),
            ]),
        ),
    ])
}

fn build() -> TemplateSet {
    let mut set = TemplateSet::new(funcs());
    set.parse("app/templates/_helpers.tpl", HELPERS)
        .expect("helpers parse");
    set.parse("app/templates/deployment.yaml", DEPLOYMENT)
        .expect("deployment parses");
    set
}

fn bench(c: &mut Criterion) {
    let set = Arc::new(build());
    let data = data();
    let opts = ExecOptions::default();
    let out = set
        .execute("app/templates/deployment.yaml", &data, &opts)
        .expect("renders");
    assert!(
        out.contains("name: demo-app") && out.contains("containerPort: 9898"),
        "{out}"
    );
    c.bench_function("parse helpers+deployment", |b| {
        b.iter(|| black_box(build()))
    });
    c.bench_function("execute deployment", |b| {
        b.iter(|| {
            black_box(
                set.execute("app/templates/deployment.yaml", black_box(&data), &opts)
                    .expect("renders"),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
