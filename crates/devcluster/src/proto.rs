//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) for every built-in kind, driven by
//! data rather than per-kind code.
//!
//! `proto_schema.txt` lists the upstream messages (from the `generated.proto` files, as compiled
//! into the `k8s-pb` crate; regenerate with `scripts/gen-proto-schema.py`): for each message its
//! fields' numbers, JSON names, labels (`opt`, `rep`, `map`) and types. One codec walks that
//! table both ways between the wire format and the JSON the server stores. Kubernetes' special
//! types get their JSON forms: `Time`/`MicroTime` (RFC 3339), `Duration` (Go's `1h2m3s`),
//! `IntOrString`, `Quantity` (a string), `RawExtension`/`FieldsV1` (embedded JSON).
//!
//! Go structs embedded with `json:",inline"` (a Volume's source, an IngressRule's value, a
//! Probe's handler, ...) are fields in protobuf and flattened into their parent in JSON.
//!
//! A body is the envelope `k8s\0` + `runtime.Unknown{typeMeta{apiVersion, kind}, raw}`, `raw`
//! being the object's message (its `apiVersion`/`kind` live only in the envelope). Custom
//! resources have no messages, so they stay JSON-only (415), as in Kubernetes.
//!
//! Go writes non-pointer scalars even when zero, and its JSON omits them, so decoding drops `""`,
//! `false` and `0` — except for the pointer fields where a zero is a value (`replicas: 0`,
//! `backoffLimit: 0`, `automountServiceAccountToken: false`, ...), listed in [`KEEP_ZERO`].

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::{Map, Value, json};

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";
pub(crate) const SCHEMA: &str = include_str!("proto_schema.txt");
/// The JSON name of a field embedded with `json:",inline"`: its fields sit in the parent's JSON.
pub(crate) const INLINE: &str = "-";

/// A protobuf decoding failure.
#[derive(Debug, thiserror::Error)]
#[error("protobuf: {0}")]
pub struct ProtoError(pub String);

/// Pointer fields (`*int32`, `*bool`, ...) whose zero value means something, so a decoded `0` or
/// `false` is kept rather than read as Go's "unset".
pub const KEEP_ZERO: &[&str] = &[
    "replicas",
    "parallelism",
    "completions",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "activeDeadlineSeconds",
    "terminationGracePeriodSeconds",
    "gracePeriodSeconds",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "startingDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "defaultMode",
    "mode",
    "expirationSeconds",
    "priority",
    "minReplicas",
    "partition",
    "automountServiceAccountToken",
    "privileged",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "suspend",
    "enableServiceLinks",
    "immutable",
    "shareProcessNamespace",
    "hostUsers",
    "optional",
    "manualSelector",
    "allocateLoadBalancerNodePorts",
    "blockOwnerDeletion",
    "controller",
    "ready",
    "serving",
    "terminating",
    "allowed",
    "denied",
];

/// API groups whose kinds have messages, and the schema's module for each.
const GROUPS: &[(&str, &str)] = &[
    ("", "api.core"),
    ("apps", "api.apps"),
    ("batch", "api.batch"),
    ("networking.k8s.io", "api.networking"),
    ("rbac.authorization.k8s.io", "api.rbac"),
    ("policy", "api.policy"),
    ("autoscaling", "api.autoscaling"),
    ("coordination.k8s.io", "api.coordination"),
    ("admissionregistration.k8s.io", "api.admissionregistration"),
    ("scheduling.k8s.io", "api.scheduling"),
    ("storage.k8s.io", "api.storage"),
    ("events.k8s.io", "api.events"),
    ("discovery.k8s.io", "api.discovery"),
    ("authorization.k8s.io", "api.authorization"),
    ("authentication.k8s.io", "api.authentication"),
    ("meta.k8s.io", "apimachinery.pkg.apis.meta"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Opt,
    Rep,
    Map,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    String,
    Bool,
    Int32,
    Int64,
    Double,
    Bytes,
    Message(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Special {
    None,
    Time,
    MicroTime,
    Duration,
    IntOrString,
    Quantity,
    RawJson,
}

#[derive(Debug)]
struct FieldDef {
    number: u64,
    json: String,
    label: Label,
    ty: Ty,
}

#[derive(Debug)]
struct Message {
    fields: Vec<FieldDef>,
    special: Special,
}

struct Schema {
    messages: Vec<Message>,
    by_lower_name: HashMap<String, usize>,
}

fn special_of(name: &str) -> Special {
    match name {
        "apimachinery.pkg.apis.meta.v1.Time" => Special::Time,
        "apimachinery.pkg.apis.meta.v1.MicroTime" => Special::MicroTime,
        "apimachinery.pkg.apis.meta.v1.Duration" => Special::Duration,
        "apimachinery.pkg.util.intstr.IntOrString" => Special::IntOrString,
        "apimachinery.pkg.api.resource.Quantity" => Special::Quantity,
        "apimachinery.pkg.runtime.RawExtension" | "apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            Special::RawJson
        }
        _ => Special::None,
    }
}

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| parse_schema(SCHEMA))
}

fn parse_schema(text: &str) -> Schema {
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut index = HashMap::new();
    let mut names = Vec::new();
    for l in &lines {
        if let Some(n) = l.strip_prefix("message ") {
            index.insert(n.to_string(), names.len());
            names.push(n.to_string());
        }
    }
    let mut messages: Vec<Message> = Vec::with_capacity(names.len());
    for l in &lines {
        if let Some(n) = l.strip_prefix("message ") {
            messages.push(Message {
                fields: Vec::new(),
                special: special_of(n),
            });
            continue;
        }
        let parts: Vec<&str> = l.split_whitespace().collect();
        let (Some(msg), [number, json_name, label, ty]) = (messages.last_mut(), parts.as_slice())
        else {
            continue;
        };
        let ty = match *ty {
            "string" => Ty::String,
            "bool" => Ty::Bool,
            "int32" => Ty::Int32,
            "int64" => Ty::Int64,
            "double" => Ty::Double,
            "bytes" => Ty::Bytes,
            other => match index.get(other) {
                Some(i) => Ty::Message(*i),
                None => continue,
            },
        };
        msg.fields.push(FieldDef {
            number: number.parse().unwrap_or(0),
            json: json_name.to_string(),
            label: match *label {
                "rep" => Label::Rep,
                "map" => Label::Map,
                _ => Label::Opt,
            },
            ty,
        });
    }
    let by_lower_name = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_lowercase(), i))
        .collect();
    Schema {
        messages,
        by_lower_name,
    }
}

/// The message of a kind, when it is a built-in one.
fn message_for(api_version: &str, kind: &str) -> Option<usize> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let s = schema();
    let module = GROUPS.iter().find(|(g, _)| *g == group).map(|(_, m)| *m)?;
    let found = s
        .by_lower_name
        .get(&format!("{module}.{version}.{kind}").to_lowercase())
        .copied();
    found.or_else(|| {
        // Status, DeleteOptions, List and WatchEvent travel under any group.
        s.by_lower_name
            .get(&format!("apimachinery.pkg.apis.meta.v1.{kind}").to_lowercase())
            .copied()
            .filter(|_| matches!(kind, "Status" | "DeleteOptions" | "List" | "WatchEvent"))
    })
}

/// Whether a kind can travel as protobuf (built-in kinds; not custom resources).
pub fn supports(api_version: &str, kind: &str) -> bool {
    message_for(api_version, kind).is_some()
}

/// Whether an `Accept` header asks for protobuf first, as client-go's typed clients do.
pub fn wants_protobuf(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .map(|first| first.split(';').next().unwrap_or_default().trim())
        .is_some_and(|t| t == MEDIA_TYPE)
}

// ---------------------------------------------------------------------------------------------
// The wire format.

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| ProtoError("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError("varint too long".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| ProtoError("truncated field".into()))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let w = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Wire::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtoError("length overflow".into()))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            w => return Err(ProtoError(format!("unsupported wire type {w}"))),
        };
        Ok(Some((key >> 3, w)))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, number: u64, wire: u64) {
    put_varint(out, (number << 3) | wire);
}

fn put_bytes(out: &mut Vec<u8>, number: u64, b: &[u8]) {
    put_key(out, number, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn utf8(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError("invalid UTF-8".into()))
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/// Decode a `k8s\0`-prefixed body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let (api_version, kind, raw) = envelope(body)?;
    let idx = message_for(&api_version, &kind).ok_or_else(|| {
        ProtoError(format!(
            "protobuf bodies are not supported for {api_version}/{kind}"
        ))
    })?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    if let Value::Object(fields) = decode_message(raw, idx)? {
        obj.extend(fields);
    }
    Ok(Value::Object(obj))
}

/// Decode a protobuf `DeleteOptions` body (client-go's typed Delete) into its JSON form.
pub fn decode_delete_options(body: &[u8]) -> Result<Value, ProtoError> {
    decode(body)
}

fn envelope(body: &[u8]) -> Result<(String, String, &[u8]), ProtoError> {
    let raw = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ProtoError("missing k8s magic prefix".into()))?;
    let mut r = Reader::new(raw);
    let (mut api_version, mut kind, mut inner) = (String::new(), String::new(), &[][..]);
    while let Some((f, w)) = r.next()? {
        match (f, w) {
            (1, Wire::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((tf, tw)) = t.next()? {
                    match (tf, tw) {
                        (1, Wire::Bytes(b)) => api_version = utf8(b)?,
                        (2, Wire::Bytes(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => inner = b,
            (3, Wire::Bytes(b)) if !b.is_empty() => {
                return Err(ProtoError(format!(
                    "content encoding {:?} is not supported",
                    String::from_utf8_lossy(b)
                )));
            }
            _ => {}
        }
    }
    Ok((api_version, kind, inner))
}

fn go_time(secs: i64, nanos: i64, micro: bool) -> Value {
    match chrono::DateTime::from_timestamp(secs, u32::try_from(nanos).unwrap_or(0)) {
        Some(t) if micro => json!(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        Some(t) => json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `150ms`, `0s`.
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut s = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        s.push_str(&trim_fraction(u, div));
        s.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let rest = u % 60_000_000_000;
        if h > 0 {
            s.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            s.push_str(&format!("{m}m"));
        }
        s.push_str(&trim_fraction(rest, 1_000_000_000));
        s.push('s');
    }
    if neg { format!("-{s}") } else { s }
}

fn trim_fraction(v: u64, div: u64) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[u_end..];
    }
    let v = total.round() as i64;
    Some(if neg { -v } else { v })
}

fn scalar(ty: Ty, w: &Wire<'_>) -> Result<Value, ProtoError> {
    Ok(match (ty, w) {
        (Ty::String, Wire::Bytes(b)) => json!(utf8(b)?),
        (Ty::Bytes, Wire::Bytes(b)) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        (Ty::Bool, Wire::Varint(v)) => json!(*v != 0),
        (Ty::Int32, Wire::Varint(v)) => json!(*v as i64 as i32),
        (Ty::Int64, Wire::Varint(v)) => json!(*v as i64),
        (Ty::Double, Wire::Fixed64(v)) => json!(f64::from_bits(*v)),
        (Ty::Message(i), Wire::Bytes(b)) => decode_message(b, i)?,
        _ => return Err(ProtoError(format!("wire type does not match {ty:?}"))),
    })
}

fn is_go_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => false,
    }
}

fn decode_special(special: Special, b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut ints: [i64; 3] = [0; 3];
    let mut strs: [Option<String>; 4] = Default::default();
    let mut raw: Option<&[u8]> = None;
    while let Some((f, w)) = r.next()? {
        match w {
            Wire::Varint(v) if (1..=3).contains(&f) => ints[f as usize - 1] = v as i64,
            Wire::Bytes(x) if (1..=3).contains(&f) => {
                raw = Some(x);
                strs[f as usize] = String::from_utf8(x.to_vec()).ok();
            }
            _ => {}
        }
    }
    Ok(match special {
        Special::Time | Special::MicroTime => {
            if ints[0] == 0 && ints[1] == 0 {
                Value::Null
            } else {
                go_time(ints[0], ints[1], special == Special::MicroTime)
            }
        }
        Special::Duration => json!(go_duration(ints[0])),
        Special::IntOrString => {
            if ints[0] == 1 {
                json!(strs[3].clone().unwrap_or_default())
            } else {
                json!(ints[1] as i32)
            }
        }
        Special::Quantity => json!(strs[1].clone().unwrap_or_default()),
        Special::RawJson => match raw {
            None => Value::Null,
            Some(x) if x.starts_with(MAGIC) => decode(x)?,
            Some(x) => serde_json::from_slice(x)
                .map_err(|e| ProtoError(format!("embedded object is not JSON: {e}")))?,
        },
        Special::None => Value::Null,
    })
}

fn decode_message(b: &[u8], idx: usize) -> Result<Value, ProtoError> {
    let msg = &schema().messages[idx];
    if msg.special != Special::None {
        return decode_special(msg.special, b);
    }
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((number, w)) = r.next()? {
        let Some(f) = msg.fields.iter().find(|f| f.number == number) else {
            continue;
        };
        match f.label {
            Label::Opt if f.json == INLINE => {
                if let Value::Object(m) = scalar(f.ty, &w)? {
                    out.extend(m);
                }
            }
            Label::Opt => {
                let v = scalar(f.ty, &w)?;
                out.insert(f.json.clone(), v);
            }
            Label::Rep => {
                let list = out
                    .entry(f.json.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else { continue };
                match (&w, f.ty) {
                    // Packed repeated numbers.
                    (Wire::Bytes(p), Ty::Int32 | Ty::Int64 | Ty::Bool) => {
                        let mut pr = Reader::new(p);
                        while pr.pos < p.len() {
                            let v = pr.varint()?;
                            list.push(scalar(f.ty, &Wire::Varint(v))?);
                        }
                    }
                    _ => list.push(scalar(f.ty, &w)?),
                }
            }
            Label::Map => {
                let Wire::Bytes(entry) = w else { continue };
                let mut er = Reader::new(entry);
                let (mut k, mut v) = (String::new(), None);
                while let Some((ef, ew)) = er.next()? {
                    match (ef, ew) {
                        (1, Wire::Bytes(kb)) => k = utf8(kb)?,
                        (2, ew) => v = Some(scalar(f.ty, &ew)?),
                        _ => {}
                    }
                }
                let v = v.unwrap_or_else(|| match f.ty {
                    Ty::String | Ty::Bytes => json!(""),
                    Ty::Message(_) => json!({}),
                    _ => json!(0),
                });
                if let Value::Object(m) = out
                    .entry(f.json.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    m.insert(k, v);
                }
            }
        }
    }
    // Go's zero values stand for "unset" except on the pointer fields listed.
    out.retain(|k, v| !(v.is_null() || (is_go_zero(v) && !KEEP_ZERO.contains(&k.as_str()))));
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------------------------
// Encoding.

/// Encode a JSON object of a built-in kind (or a list of them, or a Status) as a protobuf body;
/// `None` for kinds without a message (custom resources).
pub fn encode(v: &Value) -> Option<Vec<u8>> {
    let api_version = v.get("apiVersion").and_then(Value::as_str)?;
    let kind = v.get("kind").and_then(Value::as_str)?;
    let idx = message_for(api_version, kind)?;
    let raw = encode_message(v, idx);
    let mut tm = Vec::new();
    put_bytes(&mut tm, 1, api_version.as_bytes());
    put_bytes(&mut tm, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    put_bytes(&mut out, 1, &tm);
    put_bytes(&mut out, 2, &raw);
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    Some(out)
}

fn parse_time(s: &str) -> Option<(i64, i64)> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some((t.timestamp(), i64::from(t.timestamp_subsec_nanos())))
}

fn encode_special(special: Special, v: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match special {
        Special::Time | Special::MicroTime => {
            let (secs, nanos) = parse_time(v.as_str()?)?;
            put_key(&mut out, 1, 0);
            put_varint(&mut out, secs as u64);
            if special == Special::MicroTime && nanos != 0 {
                put_key(&mut out, 2, 0);
                put_varint(&mut out, nanos as u64);
            }
        }
        Special::Duration => {
            let ns = parse_go_duration(v.as_str()?)?;
            put_key(&mut out, 1, 0);
            put_varint(&mut out, ns as u64);
        }
        Special::IntOrString => match v {
            Value::String(s) => {
                put_key(&mut out, 1, 0);
                put_varint(&mut out, 1);
                put_bytes(&mut out, 3, s.as_bytes());
            }
            Value::Number(n) => {
                put_key(&mut out, 1, 0);
                put_varint(&mut out, 0);
                put_key(&mut out, 2, 0);
                put_varint(&mut out, n.as_i64().unwrap_or(0) as u64);
            }
            _ => return None,
        },
        Special::Quantity => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            put_bytes(&mut out, 1, s.as_bytes());
        }
        Special::RawJson => {
            if v.is_null() {
                return None;
            }
            put_bytes(&mut out, 1, &serde_json::to_vec(v).unwrap_or_default());
        }
        Special::None => return None,
    }
    Some(out)
}

fn put_scalar(out: &mut Vec<u8>, number: u64, ty: Ty, v: &Value) {
    match ty {
        Ty::String => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => return,
                other => other.to_string(),
            };
            put_bytes(out, number, s.as_bytes());
        }
        Ty::Bytes => {
            if let Some(b) = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            {
                put_bytes(out, number, &b);
            }
        }
        Ty::Bool => {
            if let Some(b) = v.as_bool() {
                put_key(out, number, 0);
                put_varint(out, u64::from(b));
            }
        }
        Ty::Int32 | Ty::Int64 => {
            if let Some(n) = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)) {
                put_key(out, number, 0);
                put_varint(out, n as u64);
            }
        }
        Ty::Double => {
            if let Some(f) = v.as_f64() {
                put_key(out, number, 1);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
        Ty::Message(i) => {
            if let Some(b) = encode_value(v, i) {
                put_bytes(out, number, &b);
            }
        }
    }
}

fn encode_value(v: &Value, idx: usize) -> Option<Vec<u8>> {
    let special = schema().messages[idx].special;
    if special != Special::None {
        return encode_special(special, v);
    }
    v.is_object().then(|| encode_message(v, idx))
}

fn encode_message(v: &Value, idx: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(obj) = v.as_object() else {
        return out;
    };
    let mut fields: Vec<&FieldDef> = schema().messages[idx].fields.iter().collect();
    fields.sort_by_key(|f| f.number);
    for f in fields {
        if f.json == INLINE {
            put_scalar(&mut out, f.number, f.ty, v);
            continue;
        }
        let Some(x) = obj.get(&f.json) else { continue };
        match (f.label, x) {
            (Label::Rep, Value::Array(items)) => {
                for item in items {
                    put_scalar(&mut out, f.number, f.ty, item);
                }
            }
            (Label::Map, Value::Object(m)) => {
                for (k, val) in m {
                    let mut entry = Vec::new();
                    put_bytes(&mut entry, 1, k.as_bytes());
                    put_scalar(&mut entry, 2, f.ty, val);
                    put_bytes(&mut out, f.number, &entry);
                }
            }
            (Label::Opt, x) => put_scalar(&mut out, f.number, f.ty, x),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, n, bytes);
        out
    }

    #[test]
    fn decodes_a_secret() {
        let meta = [
            field(1, b"rel"),
            field(11, &[field(1, b"owner"), field(2, b"helm")].concat()),
        ]
        .concat();
        let secret = [
            field(1, &meta),
            field(2, &[field(1, b"release"), field(2, b"\x01\x02")].concat()),
            field(3, b"helm.sh/release.v1"),
        ]
        .concat();
        let tm = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &secret)].concat();
        let v = decode(&body).expect("a Secret decodes");
        assert_eq!(v["metadata"]["name"], "rel");
        assert_eq!(v["metadata"]["labels"]["owner"], "helm");
        assert_eq!(v["data"]["release"], "AQI=");
        assert_eq!(v["type"], "helm.sh/release.v1");
    }

    #[test]
    fn every_served_builtin_kind_has_a_message_and_crds_do_not() {
        for ri in crate::registry::Registry::with_builtins().all().iter() {
            let custom_group = ri.group == "apiextensions.k8s.io";
            assert_eq!(
                supports(&ri.api_version(), &ri.kind),
                !custom_group,
                "{} {}",
                ri.api_version(),
                ri.kind
            );
            if !custom_group && !crate::introspect::is_review(ri) {
                assert!(supports(&ri.api_version(), &format!("{}List", ri.kind)));
            }
        }
        assert!(!supports("example.com/v1", "Widget"));
        assert!(!supports("apps.example.com/v1", "Deployment"));
    }

    #[test]
    fn a_deployment_round_trips_with_special_types() {
        let d = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "operation": "Update",
                    "apiVersion": "apps/v1", "time": "2026-01-02T03:04:05Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "automountServiceAccountToken": false,
                        "containers": [{
                            "name": "nginx", "image": "nginx",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}
                        }]
                    }
                }
            }
        });
        let body = encode(&d).expect("Deployments have a message");
        assert!(body.starts_with(MAGIC));
        let back = decode(&body).expect("it decodes");
        assert_eq!(back, d);
    }

    #[test]
    fn durations_read_and_print_as_go_does() {
        for (s, ns) in [
            ("0s", 0),
            ("1h2m3s", 3_723_000_000_000),
            ("1.5s", 1_500_000_000),
            ("150ms", 150_000_000),
            ("2m0s", 120_000_000_000),
        ] {
            assert_eq!(parse_go_duration(s), Some(ns), "{s}");
            assert_eq!(go_duration(ns), s);
        }
    }

    #[test]
    fn accept_header_negotiation() {
        assert!(wants_protobuf(
            "application/vnd.kubernetes.protobuf, application/json"
        ));
        assert!(!wants_protobuf(
            "application/json, application/vnd.kubernetes.protobuf"
        ));
        assert!(!wants_protobuf("*/*"));
    }
}
