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

/// Copies runs that need no escaping in one go; only `"`, `\`, control bytes, `<`, `>`, `&` and
/// U+2028/U+2029 are escaped, as Go does (`\b` and `\f` since Go 1.22).
fn write_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                Some(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                })
            }
            _ => None,
        };
        let control = byte < 0x20 && escape.is_none();
        if escape.is_none() && !control {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        match escape {
            Some(text) => out.extend_from_slice(text),
            None => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
        }
        i += if byte == 0xE2 { 3 } else { 1 };
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
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
    fn strings_escape_like_go() {
        let value =
            serde_json::Value::String("a\"b\\c\n\u{8}\u{c}\u{1}<>&\u{2028}\u{2029}é😀".to_owned());
        let got = String::from_utf8(to_go_json(&value)).unwrap();
        assert_eq!(
            got,
            r#""a\"b\\c\n\b\f\u0001\u003c\u003e\u0026\u2028\u2029é😀""#
        );
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
