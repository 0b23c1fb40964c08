//! JSON written as daprd's Go `encoding/json` writes its answer structs: fields in
//! declaration order (not sorted, as `serde_json::Map` would), map keys sorted, and `<`, `>`,
//! `&`, U+2028 and U+2029 escaped. The answers of both Azure bindings are built with it, so
//! their bytes match daprd's.

/// A JSON value whose objects keep their field order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    /// A Go struct: fields in this order.
    Obj(Vec<(String, Json)>),
    /// A Go `map[string]...`: written with sorted keys.
    Map(Vec<(String, Json)>),
    Arr(Vec<Json>),
}

impl Json {
    /// A struct from `(field, value)` pairs, in order.
    pub fn obj<K: Into<String>>(fields: impl IntoIterator<Item = (K, Json)>) -> Self {
        Json::Obj(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Self {
        Json::Str(s.into())
    }

    pub fn to_bytes(&self) -> bytes::Bytes {
        let mut out = String::new();
        self.write(&mut out);
        bytes::Bytes::from(out)
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => write_fields(out, fields.iter()),
            Json::Map(entries) => {
                let mut sorted: Vec<&(String, Json)> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_fields(out, sorted.into_iter());
            }
        }
    }
}

fn write_fields<'a>(out: &mut String, fields: impl Iterator<Item = &'a (String, Json)>) {
    out.push('{');
    for (i, (key, value)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, key);
        out.push(':');
        value.write(out);
    }
    out.push('}');
}

/// A JSON string with Go's HTML-safe escapes.
fn write_str(out: &mut String, s: &str) {
    let encoded = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    for c in encoded.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_go() {
        let v = Json::obj([
            ("blobURL", Json::str("http://h/c/a&b")),
            ("blobName", Json::str("<a>")),
            (
                "Metadata",
                Json::Map(vec![("b".into(), Json::str("2")), ("a".into(), Json::Null)]),
            ),
            ("n", Json::Arr(vec![Json::Int(1), Json::Bool(false)])),
        ]);
        assert_eq!(
            &v.to_bytes()[..],
            br#"{"blobURL":"http://h/c/a\u0026b","blobName":"\u003ca\u003e","Metadata":{"a":null,"b":"2"},"n":[1,false]}"#
        );
    }
}
