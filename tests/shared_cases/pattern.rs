//! The case language's durations, expressions and patterns
//! (`tests/cases/README.md`), on `serde_json` values. Integers compare
//! exactly (as i128): revisions and nanosecond instants exceed 2^53.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Saved results by name (`save`), plus `_` for the current step's outcome.
pub type Scope = HashMap<String, Value>;

/// A case-language duration (`30s`, `1m30s`, `1.5s`, `250ms`, `0`) in ns.
pub fn duration_ns(text: &str) -> Result<u64, String> {
    if text == "0" {
        return Ok(0);
    }
    let bad = || format!("{text:?} is not a duration");
    let mut rest = text;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let mut part = whole * scale;
        // The fraction exactly, digit by digit (no floating point).
        let mut place = scale;
        for digit in frac.chars() {
            place /= 10;
            part += u128::from(digit.to_digit(10).ok_or_else(bad)?) * place;
        }
        total += part;
        rest = tail;
    }
    u64::try_from(total).map_err(|_| bad())
}

/// An integer value, exactly.
pub fn int(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

fn int_value(n: i128) -> Value {
    if let Ok(u) = u64::try_from(n) {
        Value::from(u)
    } else {
        Value::from(i64::try_from(n).expect("an instant fits in i64"))
    }
}

/// Equal as the language means it: numbers by value, booleans only to booleans.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => int(a).is_some() && int(a) == int(b),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

/// `name.field.0.field` in the scope.
pub fn resolve(path: &str, scope: &Scope) -> Result<Value, String> {
    let mut parts = path.split('.');
    let head = parts.next().unwrap_or_default();
    let mut value = scope
        .get(head)
        .ok_or_else(|| format!("reference to unknown name {head:?}"))?;
    for part in parts {
        value = match value {
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(fields) => fields.get(part),
            _ => None,
        }
        .ok_or_else(|| format!("reference {path:?}: no {part:?} in {value}"))?;
    }
    Ok(value.clone())
}

/// An expression's value: `{"$": path, "plus": d}`, `{"duration": d}`, an
/// array item by item, any other literal itself.
pub fn evaluate(expr: &Value, scope: &Scope) -> Result<Value, String> {
    match expr {
        Value::Object(o) if o.contains_key("$") => {
            let path = o["$"].as_str().ok_or("\"$\" takes a path")?;
            let value = resolve(path, scope)?;
            match o.get("plus") {
                None => Ok(value),
                Some(plus) => {
                    let base = int(&value).ok_or_else(|| format!("{path} is not an integer"))?;
                    let add = match plus {
                        Value::String(d) => i128::from(duration_ns(d)?),
                        other => int(other).ok_or("\"plus\" takes a duration or an integer")?,
                    };
                    Ok(int_value(base + add))
                }
            }
        }
        Value::Object(o) if o.contains_key("duration") => {
            let d = o["duration"]
                .as_str()
                .ok_or("\"duration\" takes a string")?;
            Ok(Value::from(duration_ns(d)?))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| evaluate(item, scope))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Every way `actual` fails `pattern` (empty: it matches).
pub fn problems(pattern: &Value, actual: &Value, scope: &Scope, at: &str) -> Vec<String> {
    match matches(pattern, actual, scope, at) {
        Ok(found) => found,
        Err(e) => vec![format!("{at}: {e}")],
    }
}

fn matches(
    pattern: &Value,
    actual: &Value,
    scope: &Scope,
    at: &str,
) -> Result<Vec<String>, String> {
    let differs = |what: String| Ok(vec![format!("{at}: expected {what}, got {actual}")]);
    let ok = || Ok(Vec::new());
    match pattern {
        Value::Object(o) if o.contains_key("$") || o.contains_key("duration") => {
            let expected = evaluate(pattern, scope)?;
            if same(&expected, actual) {
                ok()
            } else {
                differs(expected.to_string())
            }
        }
        Value::Object(o) => {
            for (op, test) in [
                ("gt", i128::gt as fn(&i128, &i128) -> bool),
                ("ge", i128::ge),
                ("lt", i128::lt),
                ("le", i128::le),
            ] {
                if let Some(bound) = o.get(op) {
                    let bound = evaluate(bound, scope)?;
                    let b =
                        int(&bound).ok_or_else(|| format!("{op} takes an integer, not {bound}"))?;
                    return match int(actual) {
                        Some(a) if test(&a, &b) => ok(),
                        _ => differs(format!("{op} {b}")),
                    };
                }
            }
            if let Some(other) = o.get("ne") {
                let other = evaluate(other, scope)?;
                return if same(&other, actual) {
                    differs(format!("anything but {other}"))
                } else {
                    ok()
                };
            }
            if let Some(n) = o.get("len") {
                let len = match actual {
                    Value::Array(a) => Some(a.len()),
                    Value::String(s) => Some(s.chars().count()),
                    _ => None,
                };
                return if len.is_some() && len.map(|l| l as u64) == n.as_u64() {
                    ok()
                } else {
                    differs(format!("length {n}"))
                };
            }
            if let Some(re) = o.get("matches") {
                let re = re.as_str().ok_or("\"matches\" takes a string")?;
                let found = match actual.as_str() {
                    Some(s) => regex_finds(re, s)?,
                    None => false,
                };
                return if found {
                    ok()
                } else {
                    differs(format!("a match of {re:?}"))
                };
            }
            if let Some(inner) = o.get("exactly") {
                let inner = inner.as_object().ok_or("\"exactly\" takes an object")?;
                let keys_equal = actual.as_object().is_some_and(|a| {
                    a.len() == inner.len() && a.keys().all(|k| inner.contains_key(k))
                });
                if !keys_equal {
                    return differs(format!(
                        "exactly the keys {:?}",
                        inner.keys().collect::<Vec<_>>()
                    ));
                }
                return fields(inner, actual, scope, at);
            }
            fields(o, actual, scope, at)
        }
        Value::Array(items) => match actual {
            Value::Array(got) if got.len() == items.len() => {
                let mut found = Vec::new();
                for (i, (p, a)) in items.iter().zip(got).enumerate() {
                    found.extend(problems(p, a, scope, &format!("{at}[{i}]")));
                }
                Ok(found)
            }
            _ => differs(format!("{} items", items.len())),
        },
        scalar => {
            if same(scalar, actual) {
                ok()
            } else {
                differs(scalar.to_string())
            }
        }
    }
}

fn fields(
    pattern: &Map<String, Value>,
    actual: &Value,
    scope: &Scope,
    at: &str,
) -> Result<Vec<String>, String> {
    let Some(got) = actual.as_object() else {
        return Ok(vec![format!("{at}: expected an object, got {actual}")]);
    };
    let mut found = Vec::new();
    for (key, sub) in pattern {
        match got.get(key) {
            None => found.push(format!("{at}.{key}: missing in {actual}")),
            Some(value) => found.extend(problems(sub, value, scope, &format!("{at}.{key}"))),
        }
    }
    Ok(found)
}

/// The `matches` operator: a regular expression found anywhere in `text`.
fn regex_finds(re: &str, text: &str) -> Result<bool, String> {
    let re = regex::Regex::new(re).map_err(|e| format!("bad regular expression {re:?}: {e}"))?;
    Ok(re.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(duration_ns("0"), Ok(0));
        assert_eq!(duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(duration_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(duration_ns("60000000001ns"), Ok(60_000_000_001));
        assert!(duration_ns("").is_err());
        assert!(duration_ns("5").is_err());
        assert!(duration_ns("5x").is_err());
    }

    #[test]
    fn patterns_match_and_fail() {
        let scope = Scope::from([("c".to_string(), json!({"revision": u64::MAX - 1}))]);
        assert!(
            problems(
                &json!({"gt": {"$": "c.revision"}}),
                &json!(u64::MAX),
                &scope,
                "r"
            )
            .is_empty()
        );
        assert!(
            !problems(
                &json!({"gt": {"$": "c.revision"}}),
                &json!(u64::MAX - 1),
                &scope,
                "r"
            )
            .is_empty()
        );
        assert!(!problems(&json!(true), &json!(1), &scope, "r").is_empty());
        assert!(
            !problems(
                &json!({"exactly": {"a": 1}}),
                &json!({"a": 1, "b": 2}),
                &scope,
                "r"
            )
            .is_empty()
        );
        assert!(problems(&json!({"a": 1}), &json!({"a": 1, "b": 2}), &scope, "r").is_empty());
        assert!(problems(&json!({"len": 2}), &json!([1, 2]), &scope, "r").is_empty());
        assert!(problems(&json!({"matches": "^ab"}), &json!("abc"), &scope, "r").is_empty());
        assert!(!problems(&json!({"matches": "^b"}), &json!("abc"), &scope, "r").is_empty());
    }
}
