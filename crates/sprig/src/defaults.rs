//! Defaults and reflection: `default`, `empty`, `coalesce`, `all`, `any`, `ternary`, the JSON
//! functions, `typeOf`/`typeIs`/`typeIsLike`/`kindOf`/`kindIs`/`deepEqual`; also the
//! encodings (`b64enc`, `b32dec`, ...), `fail`, and `getHostByName`.

use base64::Engine;
use gotemplate::{FuncError, FuncMap, Param, Value};
use rand::seq::IndexedRandom;

use crate::conv::{b, deep_equal, empty, reg, regb, s, vbytes, vstr};
use crate::json;

use Param::{Any, Bool, String as Str};

/// Go's `base64.StdEncoding.DecodeString` error text, or the bytes.
pub(crate) fn b64_decode(s: impl AsRef<[u8]>) -> Result<Vec<u8>, String> {
    // Go skips \r and \n anywhere in the input.
    let clean: Vec<u8> = s
        .as_ref()
        .iter()
        .copied()
        .filter(|c| *c != b'\r' && *c != b'\n')
        .collect();
    let eng = base64::engine::general_purpose::STANDARD;
    eng.decode(&clean).map_err(|e| {
        let pos = match e {
            base64::DecodeError::InvalidByte(p, _) => p,
            base64::DecodeError::InvalidLength(l) => l - l % 4,
            base64::DecodeError::InvalidLastSymbol { offset, .. } => offset,
            base64::DecodeError::InvalidPadding => clean
                .iter()
                .position(|&c| c == b'=')
                .unwrap_or(clean.len() - clean.len() % 4),
        };
        format!("illegal base64 data at input byte {pos}")
    })
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for k in 0..8 {
            if k < chars {
                out.push(B32[((n >> (35 - 5 * k)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString`.
fn b32_decode(s: &[u8]) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| *c != b'\r' && *c != b'\n')
        .collect();
    let err = |p: usize| format!("illegal base32 data at input byte {p}");
    if !clean.len().is_multiple_of(8) {
        // Go reports the first bad quantum position; a short input fails at its start.
        let first_bad = clean.iter().position(|c| !B32.contains(c) && *c != b'=');
        return Err(err(first_bad.unwrap_or(clean.len() / 8 * 8)));
    }
    let mut out = Vec::new();
    for (q, chunk) in clean.chunks(8).enumerate() {
        let mut n: u64 = 0;
        let mut len = 8;
        for (k, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                if q != clean.len() / 8 - 1
                    || !chunk[k..].iter().all(|&x| x == b'=')
                    || !matches!(k, 2 | 4 | 5 | 7)
                {
                    return Err(err(q * 8 + k));
                }
                len = k;
                break;
            }
            let v = B32
                .iter()
                .position(|&b| b == c)
                .ok_or_else(|| err(q * 8 + k))?;
            n |= (v as u64) << (35 - 5 * k);
        }
        let bytes = n.to_be_bytes();
        let take = match len {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            _ => 5,
        };
        out.extend_from_slice(&bytes[3..3 + take]);
    }
    Ok(out)
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "default", &[Any], Some(Any), |a| {
        Ok(match a.get(1) {
            Some(g) if !empty(g) => g.clone(),
            _ => a[0].clone(),
        })
    });
    reg(m, "empty", &[Any], None, |a| Ok(Value::Bool(empty(&a[0]))));
    reg(m, "coalesce", &[], Some(Any), |a| {
        Ok(a.iter().find(|x| !empty(x)).cloned().unwrap_or_default())
    });
    reg(m, "all", &[], Some(Any), |a| {
        Ok(Value::Bool(a.iter().all(|x| !empty(x))))
    });
    reg(m, "any", &[], Some(Any), |a| {
        Ok(Value::Bool(a.iter().any(|x| !empty(x))))
    });
    reg(m, "ternary", &[Any, Any, Bool], None, |a| {
        Ok(if matches!(a[2], Value::Bool(true)) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    reg(m, "fromJson", &[Str], None, |a| {
        Ok(json::unmarshal(s(&a[0])).unwrap_or_default())
    });
    reg(m, "mustFromJson", &[Str], None, |a| {
        json::unmarshal(s(&a[0])).map_err(FuncError)
    });
    regb(m, "toJson", &[Any], None, |a| {
        Ok(vstr(
            json::marshal(&a[0], json::MARSHAL).unwrap_or_default(),
        ))
    });
    regb(m, "mustToJson", &[Any], None, |a| {
        json::marshal(&a[0], json::MARSHAL)
            .map(vstr)
            .map_err(FuncError)
    });
    regb(m, "toPrettyJson", &[Any], None, |a| {
        Ok(vstr(json::marshal(&a[0], json::PRETTY).unwrap_or_default()))
    });
    regb(m, "mustToPrettyJson", &[Any], None, |a| {
        json::marshal(&a[0], json::PRETTY)
            .map(vstr)
            .map_err(FuncError)
    });
    regb(m, "toRawJson", &[Any], None, |a| {
        Ok(vstr(json::marshal(&a[0], json::RAW).unwrap_or_default()))
    });
    regb(m, "mustToRawJson", &[Any], None, |a| {
        json::marshal(&a[0], json::RAW).map(vstr).map_err(FuncError)
    });

    reg(m, "typeOf", &[Any], None, |a| Ok(vstr(a[0].type_name())));
    reg(m, "typeIs", &[Str, Any], None, |a| {
        Ok(Value::Bool(s(&a[0]) == a[1].type_name()))
    });
    reg(m, "typeIsLike", &[Str, Any], None, |a| {
        let t = a[1].type_name();
        let target = s(&a[0]);
        Ok(Value::Bool(target == t || format!("*{target}") == t))
    });
    reg(m, "kindOf", &[Any], None, |a| Ok(vstr(a[0].kind_name())));
    reg(m, "kindIs", &[Str, Any], None, |a| {
        Ok(Value::Bool(s(&a[0]) == a[1].kind_name()))
    });
    reg(m, "deepEqual", &[Any, Any], None, |a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });

    // Go strings are bytes: binary data survives encoding and decoding unchanged.
    regb(m, "b64enc", &[Str], None, |a| {
        Ok(vstr(
            base64::engine::general_purpose::STANDARD.encode(b(&a[0])),
        ))
    });
    regb(m, "b64dec", &[Str], None, |a| {
        Ok(b64_decode(b(&a[0])).map_or_else(vstr, vbytes))
    });
    regb(m, "b32enc", &[Str], None, |a| {
        Ok(vstr(b32_encode(b(&a[0]))))
    });
    regb(m, "b32dec", &[Str], None, |a| {
        Ok(b32_decode(b(&a[0])).map_or_else(vstr, vbytes))
    });

    reg(m, "fail", &[Str], None, |a| {
        Err(FuncError(s(&a[0]).to_string()))
    });
    reg(m, "getHostByName", &[Str], None, |a| {
        use std::net::ToSocketAddrs;
        let addrs: Vec<String> = (s(&a[0]), 0u16)
            .to_socket_addrs()
            .map(|it| it.map(|sa| sa.ip().to_string()).collect())
            .unwrap_or_default();
        match addrs.choose(&mut rand::rng()) {
            Some(ip) => Ok(vstr(ip.as_str())),
            None => Err(FuncError("invalid argument to Intn".into())),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // helm-template: `{{ list (b64enc "hi") (b64dec "aGk=") (b64dec "!!") (b32enc "hi")
    //   (b32dec "NBUQ====") (b32dec "x") | toJson }}`
    // → ["aGk=","hi","illegal base64 data at input byte 0","NBUQ====","hi","illegal base32 data at input byte 0"]
    #[test]
    fn encodings_match_helm() {
        assert_eq!(b64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(
            b64_decode("!!").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(b32_encode(b"hi"), "NBUQ====");
        assert_eq!(b32_decode(b"NBUQ====").unwrap(), b"hi");
        assert_eq!(
            b32_decode(b"x").unwrap_err(),
            "illegal base32 data at input byte 0"
        );
        assert_eq!(b32_encode(b"hello world"), "NBSWY3DPEB3W64TMMQ======");
        assert_eq!(
            b32_decode(b"NBSWY3DPEB3W64TMMQ======").unwrap(),
            b"hello world"
        );
    }
}
