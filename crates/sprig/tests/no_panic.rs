//! Robustness: every Sprig function, called with awkward arguments of the types its Go
//! signature admits (multi-byte text, negative and huge numbers, nil, empty and nested
//! collections), returns a value or an error and never panics.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use gotemplate::{CallContext, FuncError, Param, Value};

struct NoTemplates;

impl CallContext for NoTemplates {
    fn execute_template(&mut self, name: &str, _: &Value) -> Result<Vec<u8>, FuncError> {
        Err(FuncError(format!("no template {name}")))
    }
    fn parse_and_execute(&mut self, name: &str, _: &str, _: &Value) -> Result<Vec<u8>, FuncError> {
        Err(FuncError(format!("no template {name}")))
    }
    fn template_name(&self) -> &str {
        "t"
    }
}

/// Functions too slow to call hundreds of times (key generation, scrypt, bcrypt) or that
/// reach the network; they are covered by their own tests.
const SLOW: &[&str] = &[
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "genPrivateKey",
    "derivePassword",
    "bcrypt",
    "htpasswd",
    "getHostByName",
];

fn samples(p: Param) -> Vec<Value> {
    let strings = [
        "",
        "é",
        "aé",
        "%é",
        "héllo wörld",
        "2006-01-02",
        "1.2.3",
        "[a",
        "{x",
        "a,b",
        "-",
        "  ",
        "0x1F",
        "\u{1f600}x",
        "%aé",
        "é%",
        "%",
        "\\",
        "$1é",
        "é{",
        "(?P<é>x)",
        "2006-01-02T15:04:05Z07:00",
        "Jan _2 .000 MST",
    ];
    let s: Vec<Value> = strings.iter().map(|x| Value::str(*x)).collect();
    let ints: Vec<Value> = [i64::MIN, -5, -1, 0, 1, 3, 100, i64::MAX]
        .iter()
        .map(|n| Value::int(*n))
        .collect();
    let mut map = BTreeMap::new();
    map.insert("a".to_string(), Value::list(vec![Value::Nil]));
    map.insert("é".to_string(), Value::Nil);
    let m = Value::map(map);
    let list = Value::list(vec![
        Value::Nil,
        Value::str("é"),
        Value::int(-1),
        Value::Float(f64::NAN),
        m.clone(),
    ]);
    match p {
        Param::String => s,
        Param::Int | Param::Int64 => ints,
        Param::Float64 => vec![
            Value::Float(0.0),
            Value::Float(-1.5),
            Value::Float(f64::INFINITY),
            Value::Float(1e300),
        ],
        Param::Bool => vec![Value::Bool(true), Value::Bool(false)],
        Param::List | Param::StringList => vec![Value::list(vec![]), list],
        Param::Map => vec![Value::map(BTreeMap::new()), m],
        Param::Bytes => vec![Value::Bytes(vec![0xff, 0x00].into())],
        Param::Any => {
            let mut v = vec![
                Value::Nil,
                Value::Float(f64::NAN),
                Value::Float(-1e300),
                list,
                m,
                Value::Bytes(vec![0xc3].into()),
            ];
            v.extend(s.into_iter().take(6));
            v.extend(ints.into_iter().take(4));
            v
        }
    }
}

#[test]
fn no_function_panics() {
    let funcs = sprig::funcs();
    let mut names: Vec<&str> = funcs.names().filter(|n| !SLOW.contains(n)).collect();
    names.sort();
    let mut calls = 0usize;
    for name in names {
        let f = funcs.get(name).expect("listed name exists");
        let mut params: Vec<Param> = f.params.to_vec();
        if let Some(v) = f.variadic {
            params.push(v);
        }
        let pools: Vec<Vec<Value>> = params.iter().map(|p| samples(*p)).collect();
        // Vary one argument at a time around a base combination, then all first choices.
        let base: Vec<Value> = pools.iter().map(|p| p[0].clone()).collect();
        let mut arglists = vec![base.clone()];
        for (i, pool) in pools.iter().enumerate() {
            for v in pool {
                let mut args = base.clone();
                args[i] = v.clone();
                arglists.push(args);
            }
        }
        // Pairs of the second sample, which is usually the awkward one.
        if pools.len() >= 2 {
            for pool_choice in 0..pools[0].len() {
                let mut args = base.clone();
                args[0] = pools[0][pool_choice].clone();
                args[1] = pools[1][pools[1].len() - 1].clone();
                arglists.push(args);
            }
        }
        for args in arglists {
            calls += 1;
            let r = catch_unwind(AssertUnwindSafe(|| (f.f)(&mut NoTemplates, &args)));
            assert!(r.is_ok(), "{name} panicked with {args:?}");
        }
    }
    assert!(calls > 1000, "only {calls} calls made");
}
