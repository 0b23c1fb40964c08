//! Go's `fmt` `%v` of a value decoded by `encoding/json` into `interface{}`, which is how
//! daprd's SNS binding turns `message` and `subject` into text.

use serde_json::Value;

/// `%v`: strings as themselves, numbers as float64 (`%g`, shortest), `null` as `<nil>`,
/// arrays as `[a b]`, objects as `map[k:v]` with sorted keys.
pub fn go_v(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_v(&map[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`: exponent form when the decimal exponent is < -4 or >= 6,
/// as `%v` prints a float64.
pub fn go_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let s = format!("{f}");
        return s;
    }
    let s = format!("{f:e}");
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match e.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', e),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        assert_eq!(go_v(&json!("hi")), "hi");
        assert_eq!(go_v(&json!(null)), "<nil>");
        assert_eq!(go_v(&json!(3)), "3");
        assert_eq!(go_v(&json!(1.5)), "1.5");
        assert_eq!(go_v(&json!(1e21)), "1e+21");
        assert_eq!(go_v(&json!(0.00001)), "1e-05");
        assert_eq!(go_v(&json!(123456789)), "1.23456789e+08");
        assert_eq!(
            go_v(&json!({"b": 1, "a": [true, "x"]})),
            "map[a:[true x] b:1]"
        );
    }
}
