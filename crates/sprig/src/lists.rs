//! List functions (`list`, `first`, `rest`, `append`, `uniq`, `slice`, `chunk`, ...) with
//! their `must*` variants, integer sequences (`until`, `untilStep`, `seq`) and `sortAlpha`.
//! Like Sprig they accept any Go slice through reflection and build `[]interface{}`.

use std::sync::Arc;

use gotemplate::{FuncError, FuncMap, Param, Value};

use crate::conv::{
    check_size, deep_equal, empty, i, kind, list_any, nil_kind_panic, nil_list, reg, slice_elems,
    strslice, to_int64, vstrings,
};

use Param::{Any, Int};

/// Elements of a slice argument, or Sprig's error naming the Go kind.
fn elems(v: &Value, what: &str) -> Result<Vec<Value>, FuncError> {
    if v.is_nil() {
        return Err(nil_kind_panic());
    }
    slice_elems(v).ok_or_else(|| FuncError(format!("{what} {}", kind(v))))
}

pub(crate) fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, FuncError> {
    let span = (stop as i128 - start as i128).unsigned_abs();
    let count = if step == 0 {
        0
    } else {
        span / step.unsigned_abs() as u128
    };
    if (stop < start && step < 0) || (stop > start && step > 0) {
        check_size("untilStep", count)?;
    }
    Ok(until_step_unchecked(start, stop, step))
}

fn until_step_unchecked(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return v;
        }
        let mut x = start;
        while x > stop {
            v.push(x);
            let Some(n) = x.checked_add(step) else { break };
            x = n;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    let mut x = start;
    while x < stop {
        v.push(x);
        let Some(n) = x.checked_add(step) else { break };
        x = n;
    }
    v
}

fn ints(v: Vec<i64>) -> Value {
    // Go returns []int; the value model has no []int, so an []interface{} of ints.
    list_any(v.into_iter().map(Value::int).collect())
}

fn seq(p: &[i64]) -> Result<String, FuncError> {
    let join = |v: Vec<i64>| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match p.len() {
        1 => {
            let (start, end) = (1, p[0]);
            let inc = if end < start { -1 } else { 1 };
            Ok(join(until_step(start, end.wrapping_add(inc), inc)?))
        }
        2 => {
            let (start, end) = (p[0], p[1]);
            let step = if end < start { -1 } else { 1 };
            Ok(join(until_step(start, end.wrapping_add(step), step)?))
        }
        3 => {
            let (start, step, end) = (p[0], p[1], p[2]);
            let mut inc = 1;
            if end < start {
                inc = -1;
                if step > 0 {
                    return Ok(String::new());
                }
            }
            Ok(join(until_step(start, end.wrapping_add(inc), step)?))
        }
        _ => Ok(String::new()),
    }
}

fn chunk(size: i64, list: &Value) -> Result<Value, FuncError> {
    let l = elems(list, "Cannot chunk type")?;
    let n = l.len() as i64;
    let makeslice = || FuncError("runtime error: makeslice: len out of range".into());
    let csf = ((n - 1) as f64 / size as f64).floor() + 1.0;
    if !csf.is_finite() {
        return Err(makeslice());
    }
    let cs = csf as i64;
    let mut out = Vec::new();
    for c in 0..cs.max(0) {
        let mut clen = size;
        if c == cs - 1 {
            clen = (n as f64 % size as f64).floor() as i64;
            if clen == 0 {
                clen = size;
            }
        }
        if clen < 0 {
            return Err(makeslice());
        }
        let mut part = Vec::new();
        for j in 0..clen {
            let ix = c * size + j;
            let x = l.get(ix as usize).ok_or_else(|| {
                FuncError(format!(
                    "runtime error: index out of range [{ix}] with length {n}"
                ))
            })?;
            part.push(x.clone());
        }
        out.push(list_any(part));
    }
    Ok(list_any(out))
}

fn slice(list: &Value, idx: &[Value]) -> Result<Value, FuncError> {
    if list.is_nil() {
        return Err(nil_kind_panic());
    }
    let Some(l) = slice_elems(list) else {
        return Err(FuncError(format!(
            "list should be type of slice or array but {}",
            kind(list)
        )));
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = idx.first().map(to_int64).unwrap_or(0);
    let end = if idx.len() < 2 {
        l.len() as i64
    } else {
        to_int64(&idx[1])
    };
    if start < 0 || end < start || end > l.len() as i64 {
        return Err(FuncError(
            "reflect.Value.Slice: slice index out of bounds".into(),
        ));
    }
    let part = l[start as usize..end as usize].to_vec();
    Ok(match list {
        Value::List(_, k) => Value::List(Arc::new(part), *k),
        Value::Bytes(b) => Value::Bytes(Arc::from(&b[start as usize..end as usize])),
        _ => list_any(part),
    })
}

/// Registers a list function under `name` and `mustName` (the plain one panics with the
/// same message, which text/template reports the same way).
fn both(
    m: &mut FuncMap,
    name: &str,
    params: &'static [Param],
    variadic: Option<Param>,
    f: impl Fn(&[Value]) -> Result<Value, FuncError> + Send + Sync + Clone + 'static,
) {
    let must = format!("must{}{}", name[..1].to_uppercase(), &name[1..]);
    reg(m, name, params, variadic, f.clone());
    reg(m, &must, params, variadic, f);
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "list", &[], Some(Any), |a| Ok(list_any(a.to_vec())));
    reg(m, "tuple", &[], Some(Any), |a| Ok(list_any(a.to_vec())));
    let push = |a: &[Value]| {
        let mut l = elems(&a[0], "Cannot push on type")?;
        l.push(a[1].clone());
        Ok(list_any(l))
    };
    both(m, "push", &[Any, Any], None, push);
    both(m, "append", &[Any, Any], None, push);
    both(m, "prepend", &[Any, Any], None, |a| {
        let mut l = elems(&a[0], "Cannot prepend on type")?;
        l.insert(0, a[1].clone());
        Ok(list_any(l))
    });
    both(m, "first", &[Any], None, |a| {
        Ok(elems(&a[0], "Cannot find first on type")?
            .first()
            .cloned()
            .unwrap_or_default())
    });
    both(m, "last", &[Any], None, |a| {
        Ok(elems(&a[0], "Cannot find last on type")?
            .last()
            .cloned()
            .unwrap_or_default())
    });
    both(m, "rest", &[Any], None, |a| {
        let l = elems(&a[0], "Cannot find rest on type")?;
        if l.is_empty() {
            return Ok(nil_list());
        }
        Ok(list_any(l.into_iter().skip(1).collect()))
    });
    both(m, "initial", &[Any], None, |a| {
        let mut l = elems(&a[0], "Cannot find initial on type")?;
        if l.is_empty() {
            return Ok(nil_list());
        }
        l.pop();
        Ok(list_any(l))
    });
    both(m, "reverse", &[Any], None, |a| {
        let mut l = elems(&a[0], "Cannot find reverse on type")?;
        l.reverse();
        Ok(list_any(l))
    });
    both(m, "compact", &[Any], None, |a| {
        let l = elems(&a[0], "Cannot compact on type")?;
        Ok(list_any(l.into_iter().filter(|x| !empty(x)).collect()))
    });
    both(m, "uniq", &[Any], None, |a| {
        let l = elems(&a[0], "Cannot find uniq on type")?;
        let mut out: Vec<Value> = Vec::new();
        for x in l {
            if !out.iter().any(|y| deep_equal(&x, y)) {
                out.push(x);
            }
        }
        Ok(list_any(out))
    });
    both(m, "without", &[Any], Some(Any), |a| {
        let l = elems(&a[0], "Cannot find without on type")?;
        let omit = &a[1..];
        Ok(list_any(
            l.into_iter()
                .filter(|x| !omit.iter().any(|o| deep_equal(x, o)))
                .collect(),
        ))
    });
    both(m, "has", &[Any, Any], None, |a| {
        if a[1].is_nil() {
            return Ok(Value::Bool(false));
        }
        let l = elems(&a[1], "Cannot find has on type")?;
        Ok(Value::Bool(l.iter().any(|x| deep_equal(&a[0], x))))
    });
    both(m, "slice", &[Any], Some(Any), |a| slice(&a[0], &a[1..]));
    both(m, "chunk", &[Int, Any], None, |a| chunk(i(&a[0]), &a[1]));
    reg(m, "concat", &[], Some(Any), |a| {
        let mut out = Vec::new();
        for l in a {
            if l.is_nil() {
                return Err(nil_kind_panic());
            }
            match slice_elems(l) {
                Some(v) => out.extend(v),
                None => return Err(FuncError(format!("Cannot concat type {} as list", kind(l)))),
            }
        }
        // Sprig appends to a nil slice: nothing appended leaves it nil.
        if out.is_empty() {
            return Ok(nil_list());
        }
        Ok(list_any(out))
    });
    reg(m, "sortAlpha", &[Any], None, |a| {
        let v = &a[0];
        if crate::conv::has_byte_strings(v) {
            // Strings of other bytes sort bytewise, as Go's strings do.
            let mut s = crate::conv::strslice_bytes(v);
            s.sort();
            Ok(Value::string_list(
                s.into_iter().map(Value::string_from_bytes).collect(),
            ))
        } else if slice_elems(v).is_some() {
            let mut s = strslice(v);
            s.sort();
            Ok(vstrings(s))
        } else {
            Ok(vstrings(vec![crate::conv::strval(v)]))
        }
    });
    reg(m, "until", &[Int], None, |a| {
        let c = i(&a[0]);
        Ok(ints(until_step(0, c, if c < 0 { -1 } else { 1 })?))
    });
    reg(m, "untilStep", &[Int, Int, Int], None, |a| {
        Ok(ints(until_step(i(&a[0]), i(&a[1]), i(&a[2]))?))
    });
    reg(m, "seq", &[], Some(Int), |a| {
        Ok(Value::str(seq(&a.iter().map(i).collect::<Vec<_>>())?))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // helm-template: `{{ seq 5 }}|{{ seq -3 }}|{{ seq 2 5 }}|{{ seq 0 2 10 }}|{{ seq 10 -3 1 }}|{{ seq 1 2 0 }}`
    // → "1 2 3 4 5|1 0 -1 -2 -3|2 3 4 5|0 2 4 6 8 10|10 7 4 1|"
    #[test]
    fn seq_matches_helm() {
        assert_eq!(seq(&[5]).unwrap(), "1 2 3 4 5");
        assert_eq!(seq(&[-3]).unwrap(), "1 0 -1 -2 -3");
        assert_eq!(seq(&[2, 5]).unwrap(), "2 3 4 5");
        assert_eq!(seq(&[0, 2, 10]).unwrap(), "0 2 4 6 8 10");
        assert_eq!(seq(&[10, -3, 1]).unwrap(), "10 7 4 1");
        assert_eq!(seq(&[1, 2, 0]).unwrap(), "");
        assert_eq!(seq(&[0, 1, i64::MAX]).unwrap(), "");
        assert!(seq(&[0, 1, i64::MAX - 1]).is_err());
    }

    #[test]
    fn chunk_splits_like_sprig() {
        let l = list_any((1..=5).map(Value::int).collect());
        let Value::List(c, _) = chunk(2, &l).unwrap() else {
            panic!("not a list")
        };
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].as_list().unwrap().len(), 1);
    }
}
