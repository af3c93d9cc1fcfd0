//! Dictionary functions: `dict`, `get`, `set`, `unset`, `hasKey`, `pluck`, `dig`, `keys`,
//! `values`, `pick`, `omit`, `merge`/`mergeOverwrite` (mergo semantics) and `deepCopy`.
//!
//! Go maps are references, and so is [`MapRef`]: `set`, `unset`, `merge` and
//! `mergeOverwrite` change the destination map in place (visible through every
//! variable and field sharing it) and return that same map, like Sprig. `dict`,
//! `pick`, `omit` and `deepCopy` build fresh maps.

use gotemplate::{FuncError, FuncMap, Map, MapRef, Param, Value};

use std::borrow::Cow;

use gotemplate::value::{key_from_bytes, key_value, map_key};

use crate::conv::{empty, list_any, reg, regb, strval, strval_bytes};

use Param::{Any, Map as PMap, String as Str};

/// A `string` argument as a map key: any bytes (see `gotemplate::value::key_from_bytes`).
fn key(v: &Value) -> Cow<'_, str> {
    map_key(v).unwrap_or_default()
}

fn map_of(v: &Value) -> Map {
    v.as_map().map(MapRef::snapshot).unwrap_or_default()
}

fn vmap(m: Map) -> Value {
    Value::map(m)
}

/// mergo's `Merge` (and `WithOverride`) of `src` into `dst` for `map[string]interface{}`,
/// in place. `src` is read from a snapshot, so `merge $d $d` cannot deadlock.
pub(crate) fn merge_into(dst: &MapRef, src: &MapRef, overwrite: bool) {
    merge_at(dst, src, overwrite, 0);
}

fn merge_at(dst: &MapRef, src: &MapRef, overwrite: bool, depth: usize) {
    if depth > gotemplate::MAX_DEPTH {
        return;
    }
    for (k, sv) in src.snapshot() {
        if sv.is_nil() {
            if overwrite {
                dst.insert(k, Value::Nil);
            }
            continue;
        }
        let dv = dst.get(&k);
        if let (Some(Value::Map(dm, _)), Value::Map(sm, _)) = (&dv, &sv) {
            // mergo merges into the nested destination map in place (every other
            // reference to it sees the change) and keeps it.
            merge_at(dm, sm, overwrite, depth + 1);
            continue;
        }
        if overwrite || dv.as_ref().is_none_or(empty) {
            dst.insert(k, sv);
        }
    }
}

fn dig(a: &[Value]) -> Result<Value, FuncError> {
    if a.len() < 3 {
        return Err(FuncError("dig needs at least three arguments".into()));
    }
    let n = a.len();
    let mut cur = match &a[n - 1] {
        Value::Map(m, k) if k.is_any() => m.clone(),
        other => return Err(conv_panic(other, "map[string]interface {}")),
    };
    let def = &a[n - 2];
    let mut keys = Vec::new();
    for k in &a[..n - 2] {
        match map_key(k) {
            Some(s) => keys.push(s),
            None => return Err(conv_panic(k, "string")),
        }
    }
    for (idx, k) in keys.iter().enumerate() {
        let Some(step) = cur.get(k.as_ref()) else {
            return Ok(def.clone());
        };
        if idx == keys.len() - 1 {
            return Ok(step);
        }
        cur = match step {
            Value::Map(m, k) if k.is_any() => m,
            other => return Err(conv_panic(&other, "map[string]interface {}")),
        };
    }
    Ok(def.clone())
}

/// Go's failed type assertion panic text.
fn conv_panic(v: &Value, want: &str) -> FuncError {
    if v.is_nil() {
        FuncError(format!(
            "interface conversion: interface {{}} is nil, not {want}"
        ))
    } else {
        FuncError(format!(
            "interface conversion: interface {{}} is {}, not {want}",
            v.type_name()
        ))
    }
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "dict", &[], Some(Any), |a| {
        let mut d = Map::new();
        for pair in a.chunks(2) {
            // Sprig's `strval` of the key: a string or `[]byte` keeps its bytes.
            let key = match &pair[0] {
                Value::String(s) => s.to_string(),
                v @ (Value::ByteStr(_) | Value::Bytes(_)) => {
                    key_from_bytes(&strval_bytes(v)).into_owned()
                }
                other => strval(other),
            };
            d.insert(key, pair.get(1).cloned().unwrap_or_else(|| Value::str("")));
        }
        Ok(vmap(d))
    });
    // The key functions take a `string` of any bytes, as Go's map keys are.
    regb(m, "get", &[PMap, Str], None, |a| {
        Ok(a[0]
            .as_map()
            .and_then(|d| d.get(&key(&a[1])))
            .unwrap_or_else(|| Value::str("")))
    });
    // The argument conversion gives a fresh map for nil, as Go's nil map would be
    // (Go then panics writing to it; the fresh map is the closest non-crashing stand-in).
    regb(m, "set", &[PMap, Str, Any], None, |a| {
        if let Some(d) = a[0].as_map() {
            d.insert(key(&a[1]), a[2].clone());
        }
        Ok(a[0].clone())
    });
    regb(m, "unset", &[PMap, Str], None, |a| {
        if let Some(d) = a[0].as_map() {
            d.remove(&key(&a[1]));
        }
        Ok(a[0].clone())
    });
    regb(m, "hasKey", &[PMap, Str], None, |a| {
        Ok(Value::Bool(
            a[0].as_map().is_some_and(|d| d.contains_key(&key(&a[1]))),
        ))
    });
    regb(m, "pluck", &[Str], Some(PMap), |a| {
        let k = key(&a[0]);
        Ok(list_any(
            a[1..]
                .iter()
                .filter_map(|d| d.as_map().and_then(|d| d.get(&k)))
                .collect(),
        ))
    });
    reg(m, "keys", &[], Some(PMap), |a| {
        Ok(Value::string_list(
            a.iter()
                .flat_map(|d| d.as_map().map(MapRef::keys).unwrap_or_default())
                .map(|k| key_value(&k))
                .collect(),
        ))
    });
    reg(m, "values", &[PMap], None, |a| {
        Ok(list_any(
            a[0].as_map()
                .map(|d| d.read().values().cloned().collect())
                .unwrap_or_default(),
        ))
    });
    regb(m, "pick", &[PMap], Some(Str), |a| {
        let d = map_of(&a[0]);
        let mut out = Map::new();
        for k in &a[1..] {
            let k = key(k);
            if let Some(v) = d.get(k.as_ref()) {
                out.insert(k.into_owned(), v.clone());
            }
        }
        Ok(vmap(out))
    });
    regb(m, "omit", &[PMap], Some(Str), |a| {
        let mut d = map_of(&a[0]);
        for k in &a[1..] {
            d.remove(key(k).as_ref());
        }
        Ok(vmap(d))
    });
    reg(m, "dig", &[], Some(Any), dig);
    for (name, ow) in [
        ("merge", false),
        ("mustMerge", false),
        ("mergeOverwrite", true),
        ("mustMergeOverwrite", true),
    ] {
        reg(m, name, &[PMap], Some(PMap), move |a| {
            if let Some(d) = a[0].as_map() {
                for src in a[1..].iter().filter_map(Value::as_map) {
                    merge_into(d, src, ow);
                }
            }
            Ok(a[0].clone())
        });
    }
    let copy = |a: &[Value]| {
        if a[0].is_nil() {
            return Err(FuncError(
                "reflect: call of reflect.Value.Type on zero Value".into(),
            ));
        }
        Ok(a[0].deep_copy())
    };
    reg(m, "deepCopy", &[Any], None, copy);
    reg(m, "mustDeepCopy", &[Any], None, copy);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(pairs: Vec<(&str, Value)>) -> Map {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    // helm-template, `{{ merge/mergeOverwrite (dict "a" "x" "b" "" "n" (dict "k" 1) "l" (list 1))
    //   (dict "a" ... "b" "z" "n" (dict "k" 2 "j" 3) "l" (list 2) "m" nil) | toJson }}`:
    // merge → {"a":"x","b":"z","l":[1],"n":{"j":3,"k":1}}
    // mergeOverwrite (a "") → {"a":"","b":"z","l":[2],"m":null,"n":{"j":3,"k":2}}
    #[test]
    fn merge_follows_mergo() {
        let dst = d(vec![
            ("a", Value::str("x")),
            ("b", Value::str("")),
            ("n", vmap(d(vec![("k", Value::int(1))]))),
            ("l", list_any(vec![Value::int(1)])),
        ]);
        let src = |a: &str| {
            d(vec![
                ("a", Value::str(a)),
                ("b", Value::str("z")),
                (
                    "n",
                    vmap(d(vec![("k", Value::int(2)), ("j", Value::int(3))])),
                ),
                ("l", list_any(vec![Value::int(2)])),
                ("m", Value::Nil),
            ])
        };
        let m1 = MapRef::new(dst.clone());
        merge_into(&m1, &MapRef::new(src("y")), false);
        let j = crate::json::marshal(
            &Value::Map(m1, gotemplate::MapKind::Any),
            crate::json::MARSHAL,
        )
        .unwrap();
        assert_eq!(j, r#"{"a":"x","b":"z","l":[1],"n":{"j":3,"k":1}}"#);
        let m2 = MapRef::new(dst);
        merge_into(&m2, &MapRef::new(src("")), true);
        let j = crate::json::marshal(
            &Value::Map(m2, gotemplate::MapKind::Any),
            crate::json::MARSHAL,
        )
        .unwrap();
        assert_eq!(j, r#"{"a":"","b":"z","l":[2],"m":null,"n":{"j":3,"k":2}}"#);
    }
}
