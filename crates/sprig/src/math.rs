//! Integer and float math and number conversions: `add`/`sub`/`mul`/`div`/`mod` on int64
//! after `cast` conversion, the `*f` family through decimal arithmetic (as Sprig does with
//! shopspring/decimal: inputs converted from their shortest float text, division rounded
//! to 16 places), `max`/`min`/`floor`/`ceil`/`round`, `randInt`, `atoi`, `int`, `int64`,
//! `float64` and `toDecimal`.

use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode, Zero};
use gotemplate::{FuncError, FuncMap, Param, Value};
use rand::RngExt;

use crate::conv::{f, i, parse_int, reg, s, to_float64, to_int64};

use Param::{Any, Float64, Int, String as Str};

const DIV_BY_ZERO: &str = "runtime error: integer divide by zero";

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

fn decimal(x: f64) -> Result<BigDecimal, FuncError> {
    if x.is_nan() {
        return Err(FuncError("Cannot create a Decimal from NaN".into()));
    }
    if x.is_infinite() {
        let sign = if x > 0.0 { "+Inf" } else { "-Inf" };
        return Err(FuncError(format!("Cannot create a Decimal from {sign}")));
    }
    BigDecimal::from_str(&format!("{x:e}")).map_err(|e| FuncError(e.to_string()))
}

/// Sprig's `execDecimalOp`.
fn decimal_op(first: &Value, rest: &[Value], op: Op) -> Result<Value, FuncError> {
    let mut acc = decimal(to_float64(first))?;
    for x in rest {
        let d = decimal(to_float64(x))?;
        acc = match op {
            Op::Add => acc + d,
            Op::Sub => acc - d,
            Op::Mul => acc * d,
            Op::Div => {
                if d.is_zero() {
                    return Err(FuncError("decimal division by 0".into()));
                }
                (acc / d).with_scale_round(16, RoundingMode::HalfUp)
            }
        };
    }
    let out = acc.to_string().parse::<f64>().unwrap_or(0.0);
    Ok(Value::Float(out))
}

/// Sprig's `round(a, p, rOpt...)`.
fn round(a: f64, places: f64, on: f64) -> f64 {
    let pow = 10f64.powf(places);
    let digit = pow * a;
    let frac = digit.fract();
    let r = if frac >= on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

pub(crate) fn register(m: &mut FuncMap) {
    reg(m, "add1", &[Any], None, |a| {
        Ok(Value::int64(to_int64(&a[0]).wrapping_add(1)))
    });
    reg(m, "add", &[], Some(Any), |a| {
        Ok(Value::int64(
            a.iter().fold(0i64, |acc, x| acc.wrapping_add(to_int64(x))),
        ))
    });
    reg(m, "sub", &[Any, Any], None, |a| {
        Ok(Value::int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    reg(m, "div", &[Any, Any], None, |a| {
        let b = to_int64(&a[1]);
        if b == 0 {
            return Err(DIV_BY_ZERO.into());
        }
        Ok(Value::int64(to_int64(&a[0]).wrapping_div(b)))
    });
    reg(m, "mod", &[Any, Any], None, |a| {
        let b = to_int64(&a[1]);
        if b == 0 {
            return Err(DIV_BY_ZERO.into());
        }
        Ok(Value::int64(to_int64(&a[0]).wrapping_rem(b)))
    });
    reg(m, "mul", &[Any], Some(Any), |a| {
        Ok(Value::int64(
            a[1..]
                .iter()
                .fold(to_int64(&a[0]), |acc, x| acc.wrapping_mul(to_int64(x))),
        ))
    });
    reg(m, "randInt", &[Int, Int], None, |a| {
        let (lo, hi) = (i(&a[0]), i(&a[1]));
        let n = hi.wrapping_sub(lo);
        if n <= 0 {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::int(rand::rng().random_range(0..n) + lo))
    });
    reg(m, "add1f", &[Any], None, |a| {
        decimal_op(&a[0], &[Value::int(1)], Op::Add)
    });
    reg(m, "addf", &[], Some(Any), |a| {
        decimal_op(&Value::Float(0.0), a, Op::Add)
    });
    reg(m, "subf", &[Any], Some(Any), |a| {
        decimal_op(&a[0], &a[1..], Op::Sub)
    });
    reg(m, "divf", &[Any], Some(Any), |a| {
        decimal_op(&a[0], &a[1..], Op::Div)
    });
    reg(m, "mulf", &[Any], Some(Any), |a| {
        decimal_op(&a[0], &a[1..], Op::Mul)
    });
    let max = |a: &[Value]| {
        Ok(Value::int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max),
        ))
    };
    reg(m, "max", &[Any], Some(Any), max);
    reg(m, "biggest", &[Any], Some(Any), max);
    reg(m, "min", &[Any], Some(Any), |a| {
        Ok(Value::int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min),
        ))
    });
    reg(m, "maxf", &[Any], Some(Any), |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_max),
        ))
    });
    reg(m, "minf", &[Any], Some(Any), |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_min),
        ))
    });
    reg(m, "floor", &[Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    reg(m, "ceil", &[Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    reg(m, "round", &[Any, Int], Some(Float64), |a| {
        let on = a.get(2).map(f).unwrap_or(0.5);
        Ok(Value::Float(round(to_float64(&a[0]), i(&a[1]) as f64, on)))
    });
    reg(m, "toDecimal", &[Any], None, |a| {
        let text = gotemplate::gofmt::sprint(&a[0]);
        Ok(Value::int64(parse_int(&text, 8).unwrap_or(0)))
    });
    reg(m, "atoi", &[Str], None, |a| Ok(Value::int(atoi(s(&a[0])))));
    reg(m, "int64", &[Any], None, |a| {
        Ok(Value::int64(to_int64(&a[0])))
    });
    reg(m, "int", &[Any], None, |a| Ok(Value::int(to_int64(&a[0]))));
    reg(m, "float64", &[Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
}

/// `strconv.Atoi` with the error ignored (base 10, optional sign, no underscores).
fn atoi(s: &str) -> i64 {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
        return 0;
    }
    // Out of range gives the clamped value with an error; Sprig drops the error and keeps 0.
    s.parse::<i64>().unwrap_or(0)
}

/// Go's `math.Max` (NaN wins, +0 beats -0).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    a.max(b)
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    a.min(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fl(v: Value) -> f64 {
        match v {
            Value::Float(x) => x,
            other => panic!("not a float: {other:?}"),
        }
    }

    // helm-template: `{{ list (add1f 1) (addf) (subf 1 0.1) (mulf 0.1 3) (divf 10 4 2)
    //   (maxf 1 "2.5") (minf 1 nil) (round 2.5 0) (round -2.5 0) (round 1.005 2)
    //   (round 1.2 0 0.1) (divf 2 3) (divf -2 3) | toJson }}`
    // → [2,0,0.9,0.3,1.25,2.5,0,3,-3,1,2,0.6666666666666667,-0.6666666666666667]
    #[test]
    fn decimal_math_matches_helm() {
        let v = |x: f64| Value::Float(x);
        assert_eq!(fl(decimal_op(&v(1.0), &[v(0.1)], Op::Sub).unwrap()), 0.9);
        assert_eq!(
            fl(decimal_op(&v(0.1), &[Value::int(3)], Op::Mul).unwrap()),
            0.3
        );
        assert_eq!(
            fl(decimal_op(&v(0.0), &[v(0.1), v(0.2)], Op::Add).unwrap()),
            0.3
        );
        assert_eq!(
            fl(decimal_op(&Value::int(10), &[Value::int(4), Value::int(2)], Op::Div).unwrap()),
            1.25
        );
        assert_eq!(
            fl(decimal_op(&Value::int(2), &[Value::int(3)], Op::Div).unwrap()),
            0.6666666666666667
        );
        assert_eq!(
            fl(decimal_op(&Value::int(-2), &[Value::int(3)], Op::Div).unwrap()),
            -0.6666666666666667
        );
        assert_eq!(
            decimal_op(&Value::int(1), &[Value::int(0)], Op::Div)
                .unwrap_err()
                .0,
            "decimal division by 0"
        );
        assert_eq!(round(2.5, 0.0, 0.5), 3.0);
        assert_eq!(round(-2.5, 0.0, 0.5), -3.0);
        assert_eq!(round(1.005, 2.0, 0.5), 1.0);
        assert_eq!(round(1.2, 0.0, 0.1), 2.0);
    }

    // helm-template: `{{ list (toDecimal "0777") (toDecimal 777) (toDecimal "8") (atoi "12x")
    //   (atoi "-7") }}` → [511,511,0,0,-7]
    #[test]
    fn conversions_match_helm() {
        assert_eq!(parse_int("0777", 8), Some(511));
        assert_eq!(parse_int("8", 8), None);
        assert_eq!(atoi("12x"), 0);
        assert_eq!(atoi("-7"), -7);
    }
}
