//! JSON written the way Go's `encoding/json` writes it: object keys sorted, `<`, `>` and `&`
//! escaped, every number passed through `float64`. daprd re-encodes output-binding `data` and
//! stringifies object-valued metadata this way, and apps see the resulting bytes.

use serde_json::Value;

/// Encodes `value` compactly with Go's rules.
pub fn to_go_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            out.extend_from_slice(format_go_float(f).as_bytes());
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' => out.extend_from_slice(b"\\u003c"),
            '>' => out.extend_from_slice(b"\\u003e"),
            '&' => out.extend_from_slice(b"\\u0026"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Go's `strconv.FormatFloat(f, 'f' or 'e', -1, 64)` choice as made by `encoding/json`.
pub fn format_go_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_owned();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust prints `1e-7` / `1e21`; Go prints `1e-07` → cleaned to `1e-7`, and `1e+21`.
        let s = format!("{f:e}");
        return match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        };
    }
    // Rust's shortest round-trip form matches Go's 'f' format with precision -1.
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(text: &str) -> String {
        String::from_utf8(to_go_json(&serde_json::from_str(text).unwrap())).unwrap()
    }

    #[test]
    fn sorts_keys_and_escapes_html() {
        assert_eq!(
            enc(r#"{ "b": 1, "a": "<x>&" }"#),
            r#"{"a":"\u003cx\u003e\u0026","b":1}"#
        );
        assert_eq!(enc(r#""hello""#), r#""hello""#);
        assert_eq!(enc("null"), "null");
        assert_eq!(enc("[1, 2.5, true]"), "[1,2.5,true]");
    }

    #[test]
    fn numbers_pass_through_float64() {
        assert_eq!(enc("1.0"), "1");
        assert_eq!(enc("1.50"), "1.5");
        assert_eq!(enc("12345678901234567891"), "12345678901234567000");
        assert_eq!(enc("1e21"), "1e+21");
        assert_eq!(enc("0.0000001"), "1e-7");
        assert_eq!(enc("-0.5"), "-0.5");
    }
}
