//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) for
//! the kinds typed clients write that way — Helm's release storage writes Secrets (or
//! ConfigMaps) with client-go's protobuf encoding. Responses are always JSON, which those
//! clients accept. Other kinds in protobuf get 415 (client-go then falls back to JSON).

use base64::Engine;
use serde_json::{Map, Value, json};

/// A protobuf decoding failure.
#[derive(Debug, thiserror::Error)]
#[error("protobuf: {0}")]
pub struct ProtoError(pub String);

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
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

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let f = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.pos += 8;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtoError("length overflow".into()))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or_else(|| ProtoError("truncated field".into()))?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Field::Bytes(b)
            }
            5 => {
                self.pos += 4;
                Field::Fixed
            }
            w => return Err(ProtoError(format!("unsupported wire type {w}"))),
        };
        if self.pos > self.buf.len() {
            return Err(ProtoError("truncated fixed field".into()));
        }
        Ok(Some((field, f)))
    }
}

fn string(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError("invalid UTF-8".into()))
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), ProtoError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((f, val)) = r.next()? {
        match (f, val) {
            (1, Field::Bytes(b)) => k = string(b)?,
            (2, Field::Bytes(b)) => {
                v = if bytes_value {
                    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
                } else {
                    Value::String(string(b)?)
                }
            }
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut secs: i64 = 0;
    while let Some((f, val)) = r.next()? {
        if let (1, Field::Varint(v)) = (f, val) {
            secs = v as i64;
        }
    }
    Ok(chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null))
}

fn owner_ref(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut o = Map::new();
    while let Some((f, val)) = r.next()? {
        match (f, val) {
            (1, Field::Bytes(b)) => {
                o.insert("kind".into(), json!(string(b)?));
            }
            (3, Field::Bytes(b)) => {
                o.insert("name".into(), json!(string(b)?));
            }
            (4, Field::Bytes(b)) => {
                o.insert("uid".into(), json!(string(b)?));
            }
            (5, Field::Bytes(b)) => {
                o.insert("apiVersion".into(), json!(string(b)?));
            }
            (6, Field::Varint(v)) => {
                o.insert("controller".into(), json!(v != 0));
            }
            (7, Field::Varint(v)) => {
                o.insert("blockOwnerDeletion".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    Ok(Value::Object(o))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut owners = Vec::new();
    let mut finalizers = Vec::new();
    while let Some((f, val)) = r.next()? {
        match (f, val) {
            (1, Field::Bytes(b)) => {
                m.insert("name".into(), json!(string(b)?));
            }
            (2, Field::Bytes(b)) => {
                m.insert("generateName".into(), json!(string(b)?));
            }
            (3, Field::Bytes(b)) => {
                m.insert("namespace".into(), json!(string(b)?));
            }
            (5, Field::Bytes(b)) => {
                m.insert("uid".into(), json!(string(b)?));
            }
            (6, Field::Bytes(b)) => {
                m.insert("resourceVersion".into(), json!(string(b)?));
            }
            (7, Field::Varint(v)) => {
                m.insert("generation".into(), json!(v as i64));
            }
            (8, Field::Bytes(b)) => {
                m.insert("creationTimestamp".into(), time(b)?);
            }
            (11, Field::Bytes(b)) => {
                let (k, v) = map_entry(b, false)?;
                labels.insert(k, v);
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = map_entry(b, false)?;
                annotations.insert(k, v);
            }
            (13, Field::Bytes(b)) => owners.push(owner_ref(b)?),
            (14, Field::Bytes(b)) => finalizers.push(json!(string(b)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

/// Decode a `k8s\0`-prefixed protobuf body into JSON, for the kinds supported.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let raw = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| ProtoError("missing k8s magic prefix".into()))?;
    let mut r = Reader::new(raw);
    let (mut api_version, mut kind, mut inner) = (String::new(), String::new(), &[][..]);
    while let Some((f, val)) = r.next()? {
        match (f, val) {
            (1, Field::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((tf, tv)) = t.next()? {
                    match (tf, tv) {
                        (1, Field::Bytes(b)) => api_version = string(b)?,
                        (2, Field::Bytes(b)) => kind = string(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => inner = b,
            _ => {}
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let mut r = Reader::new(inner);
    let mut data = Map::new();
    let mut binary = Map::new();
    let mut string_data = Map::new();
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => {
            while let Some((f, val)) = r.next()? {
                match (f, val) {
                    (1, Field::Bytes(b)) => {
                        obj.insert("metadata".into(), object_meta(b)?);
                    }
                    (2, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b, true)?;
                        data.insert(k, v);
                    }
                    (3, Field::Bytes(b)) => {
                        obj.insert("type".into(), json!(string(b)?));
                    }
                    (4, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b, false)?;
                        string_data.insert(k, v);
                    }
                    (5, Field::Varint(v)) => {
                        obj.insert("immutable".into(), json!(v != 0));
                    }
                    _ => {}
                }
            }
            if !string_data.is_empty() {
                obj.insert("stringData".into(), Value::Object(string_data));
            }
        }
        ("v1", "ConfigMap") => {
            while let Some((f, val)) = r.next()? {
                match (f, val) {
                    (1, Field::Bytes(b)) => {
                        obj.insert("metadata".into(), object_meta(b)?);
                    }
                    (2, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b, false)?;
                        data.insert(k, v);
                    }
                    (3, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b, true)?;
                        binary.insert(k, v);
                    }
                    (4, Field::Varint(v)) => {
                        obj.insert("immutable".into(), json!(v != 0));
                    }
                    _ => {}
                }
            }
            if !binary.is_empty() {
                obj.insert("binaryData".into(), Value::Object(binary));
            }
        }
        _ => {
            return Err(ProtoError(format!(
                "protobuf bodies are not supported for {api_version}/{kind}"
            )));
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !obj.contains_key("metadata") {
        obj.insert("metadata".into(), json!({}));
    }
    Ok(Value::Object(obj))
}

/// Decode a protobuf `DeleteOptions` body (client-go's typed Delete) into its JSON form.
pub fn decode_delete_options(body: &[u8]) -> Result<Value, ProtoError> {
    let raw = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| ProtoError("missing k8s magic prefix".into()))?;
    let mut r = Reader::new(raw);
    let mut inner = &[][..];
    while let Some((f, val)) = r.next()? {
        if let (2, Field::Bytes(b)) = (f, val) {
            inner = b;
        }
    }
    let mut o = Map::new();
    let mut dry = Vec::new();
    let mut r = Reader::new(inner);
    while let Some((f, val)) = r.next()? {
        match (f, val) {
            (1, Field::Varint(v)) => {
                o.insert("gracePeriodSeconds".into(), json!(v as i64));
            }
            (2, Field::Bytes(b)) => {
                let mut p = Reader::new(b);
                let mut pre = Map::new();
                while let Some((pf, pv)) = p.next()? {
                    match (pf, pv) {
                        (1, Field::Bytes(x)) => {
                            pre.insert("uid".into(), json!(string(x)?));
                        }
                        (2, Field::Bytes(x)) => {
                            pre.insert("resourceVersion".into(), json!(string(x)?));
                        }
                        _ => {}
                    }
                }
                o.insert("preconditions".into(), Value::Object(pre));
            }
            (3, Field::Varint(v)) => {
                o.insert("orphanDependents".into(), json!(v != 0));
            }
            (4, Field::Bytes(b)) => {
                o.insert("propagationPolicy".into(), json!(string(b)?));
            }
            (5, Field::Bytes(b)) => dry.push(json!(string(b)?)),
            _ => {}
        }
    }
    if !dry.is_empty() {
        o.insert("dryRun".into(), Value::Array(dry));
    }
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
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
        let v = decode(&body).unwrap();
        assert_eq!(v["metadata"]["name"], "rel");
        assert_eq!(v["metadata"]["labels"]["owner"], "helm");
        assert_eq!(v["data"]["release"], "AQI=");
        assert_eq!(v["type"], "helm.sh/release.v1");
    }
}
