//! Values in both directions.
//!
//! Parameters: each JSON value of `params` is sent in PostgreSQL's *text* format, so the server
//! converts it to whatever type the statement needs (`int`, `numeric`, `timestamptz`, `uuid`,
//! arrays like `= ANY($1)`, ...). JSON arrays become array literals, objects JSON text.
//!
//! Results: each row becomes a JSON array of its values in column order, encoded as Go's
//! `json.Marshal` encodes pgx's `rows.Values()`: numbers as numbers (numeric exactly as stored),
//! text as strings, bool, null, json/jsonb embedded (keys sorted, as Go re-encodes maps),
//! bytea as base64, timestamps RFC 3339 (timestamptz in UTC), dates as midnight UTC. Two
//! deliberate differences: uuid is a string (pgx gives a 16-byte array) and time-of-day is
//! `HH:MM:SS[.ffffff]` (pgx gives a struct). Unknown types are their text if UTF-8, else base64.

use std::error::Error;

use base64::Engine as _;
use bindery_core::gojson::{format_go_float, to_go_json};
use bytes::BytesMut;
use serde_json::Value;
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

/// A parameter sent as text (or NULL); the server parses it for the parameter's type.
#[derive(Debug, Clone)]
pub struct TextParam(pub Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// Converts one JSON parameter to its text form for a parameter of type `ty`.
pub fn param_text(value: &Value, ty: &Type) -> TextParam {
    let json_target = matches!(*ty, Type::JSON | Type::JSONB);
    TextParam(match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        _ if json_target => Some(value.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number_text(n)),
        Value::Array(_) => Some(array_literal(value)),
        Value::Object(_) => Some(value.to_string()),
    })
}

fn number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e18 {
        format!("{f:.0}")
    } else {
        format_go_float(f)
    }
}

/// A PostgreSQL array literal: `{1,2}`, `{"a","b \"c\""}`, `{{1,2},{3,4}}`.
fn array_literal(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(array_literal).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Null => "NULL".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => quote_element(s),
        Value::Object(_) => quote_element(&value.to_string()),
    }
}

fn quote_element(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A column value as raw binary-format bytes, whatever its type.
pub struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

pub use crate::sql::rfc3339_nano;

/// Appends the JSON encoding of one binary-format value of type `ty`.
pub fn write_value(out: &mut Vec<u8>, ty: &Type, raw: Option<&[u8]>) {
    let Some(b) = raw else {
        out.extend_from_slice(b"null");
        return;
    };
    if let Err(()) = try_write(out, ty, b) {
        fallback(out, b);
    }
}

fn fallback(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => write_str(out, s),
        Err(_) => write_str(out, &base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&to_go_json(&Value::String(s.to_owned())));
}

fn be<const N: usize>(b: &[u8]) -> Result<[u8; N], ()> {
    b.get(..N).and_then(|s| s.try_into().ok()).ok_or(())
}

const PG_EPOCH_DAYS_FROM_UNIX: i64 = 10_957;

fn try_write(out: &mut Vec<u8>, ty: &Type, b: &[u8]) -> Result<(), ()> {
    match *ty {
        Type::BOOL => out.extend_from_slice(if b.first() == Some(&1) {
            b"true"
        } else {
            b"false"
        }),
        Type::INT2 => out.extend_from_slice(i16::from_be_bytes(be(b)?).to_string().as_bytes()),
        Type::INT4 => out.extend_from_slice(i32::from_be_bytes(be(b)?).to_string().as_bytes()),
        Type::INT8 => out.extend_from_slice(i64::from_be_bytes(be(b)?).to_string().as_bytes()),
        Type::OID | Type::XID | Type::CID => {
            out.extend_from_slice(u32::from_be_bytes(be(b)?).to_string().as_bytes())
        }
        Type::FLOAT4 => {
            let f = f32::from_be_bytes(be(b)?);
            write_float(
                out,
                f.is_finite()
                    .then(|| f.to_string().parse::<f64>().unwrap_or(f64::from(f))),
                f64::from(f),
            );
        }
        Type::FLOAT8 => {
            let f = f64::from_be_bytes(be(b)?);
            write_float(out, f.is_finite().then_some(f), f);
        }
        Type::NUMERIC => match numeric_text(b)? {
            NumericText::Number(s) => out.extend_from_slice(s.as_bytes()),
            NumericText::Special(s) => write_str(out, s),
        },
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::CHAR
        | Type::XML => write_str(out, std::str::from_utf8(b).map_err(|_| ())?),
        Type::JSON => write_json(out, b)?,
        Type::JSONB => write_json(out, b.strip_prefix(&[1u8]).ok_or(())?)?,
        Type::BYTEA => write_str(out, &base64::engine::general_purpose::STANDARD.encode(b)),
        Type::UUID => {
            let id = uuid::Uuid::from_slice(b).map_err(|_| ())?;
            write_str(out, &id.hyphenated().to_string());
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE | Type::TIME | Type::INTERVAL => {
            write_time(out, ty, b)?
        }
        _ => match ty.kind() {
            Kind::Array(element) => write_array(out, element, b)?,
            Kind::Domain(inner) => try_write(out, inner, b)?,
            _ => return Err(()),
        },
    }
    Ok(())
}

/// The date and time types, as pgx values marshal to JSON.
fn write_time(out: &mut Vec<u8>, ty: &Type, b: &[u8]) -> Result<(), ()> {
    match *ty {
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(be(b)?);
            match micros {
                i64::MAX => write_str(out, "infinity"),
                i64::MIN => write_str(out, "-infinity"),
                _ => {
                    let unix = micros
                        .checked_add(PG_EPOCH_DAYS_FROM_UNIX * 86_400_000_000)
                        .ok_or(())?;
                    let t = chrono::DateTime::from_timestamp_micros(unix).ok_or(())?;
                    write_str(out, &rfc3339_nano(&t));
                }
            }
        }
        Type::DATE => {
            let days = i32::from_be_bytes(be(b)?);
            match days {
                i32::MAX => write_str(out, "infinity"),
                i32::MIN => write_str(out, "-infinity"),
                _ => {
                    let secs = (i64::from(days) + PG_EPOCH_DAYS_FROM_UNIX) * 86_400;
                    let t = chrono::DateTime::from_timestamp(secs, 0).ok_or(())?;
                    write_str(out, &rfc3339_nano(&t));
                }
            }
        }
        Type::TIME => {
            let micros = i64::from_be_bytes(be(b)?);
            let secs = micros / 1_000_000;
            let frac = micros % 1_000_000;
            let mut s = format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            );
            if frac != 0 {
                s.push_str(format!(".{frac:06}").trim_end_matches('0'));
            }
            write_str(out, &s);
        }
        Type::INTERVAL => {
            let micros = i64::from_be_bytes(be(b)?);
            let days = i32::from_be_bytes(be(b.get(8..).ok_or(())?)?);
            let months = i32::from_be_bytes(be(b.get(12..).ok_or(())?)?);
            // Go marshals pgtype.Interval's fields in declaration order.
            out.extend_from_slice(
                format!("{{\"Microseconds\":{micros},\"Days\":{days},\"Months\":{months},\"Valid\":true}}").as_bytes(),
            );
        }
        _ => return Err(()),
    }
    Ok(())
}

fn write_float(out: &mut Vec<u8>, finite: Option<f64>, raw: f64) {
    match finite {
        Some(f) => out.extend_from_slice(format_go_float(f).as_bytes()),
        // Go's json.Marshal refuses NaN/Inf; pgx users see an error. Say what it is instead.
        None => write_str(out, &raw.to_string()),
    }
}

fn write_json(out: &mut Vec<u8>, b: &[u8]) -> Result<(), ()> {
    let v: Value = serde_json::from_slice(b).map_err(|_| ())?;
    out.extend_from_slice(&to_go_json(&v));
    Ok(())
}

/// The binary array format: dimensions, null flag, element oid, per-dimension (len, lbound),
/// then length-prefixed elements. Multi-dimensional arrays become nested JSON arrays.
fn write_array(out: &mut Vec<u8>, element: &Type, b: &[u8]) -> Result<(), ()> {
    let ndim = i32::from_be_bytes(be(b)?);
    if ndim == 0 {
        out.extend_from_slice(b"[]");
        return Ok(());
    }
    let ndim = usize::try_from(ndim).map_err(|_| ())?;
    let mut dims = Vec::with_capacity(ndim);
    let mut pos = 12;
    for _ in 0..ndim {
        let len = i32::from_be_bytes(be(b.get(pos..).ok_or(())?)?);
        dims.push(usize::try_from(len).map_err(|_| ())?);
        pos += 8;
    }
    let mut elements: Vec<Vec<u8>> = Vec::new();
    let total: usize = dims.iter().product();
    for _ in 0..total {
        let len = i32::from_be_bytes(be(b.get(pos..).ok_or(())?)?);
        pos += 4;
        let mut one = Vec::new();
        if len < 0 {
            write_value(&mut one, element, None);
        } else {
            let len = len as usize;
            let data = b.get(pos..pos + len).ok_or(())?;
            write_value(&mut one, element, Some(data));
            pos += len;
        }
        elements.push(one);
    }
    let mut iter = elements.into_iter();
    nest(out, &dims, &mut iter);
    Ok(())
}

fn nest(out: &mut Vec<u8>, dims: &[usize], items: &mut impl Iterator<Item = Vec<u8>>) {
    out.push(b'[');
    for i in 0..dims[0] {
        if i > 0 {
            out.push(b',');
        }
        if dims.len() == 1 {
            if let Some(item) = items.next() {
                out.extend_from_slice(&item);
            }
        } else {
            nest(out, &dims[1..], items);
        }
    }
    out.push(b']');
}

enum NumericText {
    Number(String),
    Special(&'static str),
}

/// Decodes PostgreSQL's binary numeric (base-10000 digits) into its exact decimal text.
fn numeric_text(b: &[u8]) -> Result<NumericText, ()> {
    let ndigits = i16::from_be_bytes(be(b)?) as usize;
    let weight = i16::from_be_bytes(be(b.get(2..).ok_or(())?)?) as i32;
    let sign = u16::from_be_bytes(be(b.get(4..).ok_or(())?)?);
    let dscale = u16::from_be_bytes(be(b.get(6..).ok_or(())?)?) as usize;
    match sign {
        0xC000 => return Ok(NumericText::Special("NaN")),
        0xD000 => return Ok(NumericText::Special("Infinity")),
        0xF000 => return Ok(NumericText::Special("-Infinity")),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(u16::from_be_bytes(be(b.get(8 + 2 * i..).ok_or(())?)?));
    }
    let mut int_part = String::new();
    let mut frac_part = String::new();
    // Digit i has weight (weight - i): its value is d * 10000^(weight - i).
    if weight >= 0 {
        for i in 0..=weight as usize {
            let d = digits.get(i).copied().unwrap_or(0);
            if int_part.is_empty() {
                if d != 0 {
                    int_part = d.to_string();
                }
            } else {
                int_part.push_str(&format!("{d:04}"));
            }
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    if dscale > 0 {
        let mut i = weight + 1;
        while frac_part.len() < dscale {
            let d = if i < 0 {
                0
            } else {
                digits.get(i as usize).copied().unwrap_or(0)
            };
            frac_part.push_str(&format!("{d:04}"));
            i += 1;
        }
        frac_part.truncate(dscale);
    }
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    s.push_str(&int_part);
    if !frac_part.is_empty() {
        s.push('.');
        s.push_str(&frac_part);
    }
    Ok(NumericText::Number(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&ndigits.to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    fn text(n: NumericText) -> String {
        match n {
            NumericText::Number(s) => s,
            NumericText::Special(s) => s.to_owned(),
        }
    }

    #[test]
    fn numerics_decode_exactly() {
        // 1.50
        assert_eq!(
            text(numeric_text(&numeric(2, 0, 0, 2, &[1, 5000])).unwrap()),
            "1.50"
        );
        // 12345678.9
        assert_eq!(
            text(numeric_text(&numeric(3, 1, 0, 1, &[1234, 5678, 9000])).unwrap()),
            "12345678.9"
        );
        // -0.0012
        assert_eq!(
            text(numeric_text(&numeric(1, -1, 0x4000, 4, &[12])).unwrap()),
            "-0.0012"
        );
        // 0
        assert_eq!(text(numeric_text(&numeric(0, 0, 0, 0, &[])).unwrap()), "0");
        // 20000 (trailing zero digit group omitted on the wire)
        assert_eq!(
            text(numeric_text(&numeric(1, 1, 0, 0, &[2])).unwrap()),
            "20000"
        );
        assert_eq!(
            text(numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap()),
            "NaN"
        );
    }

    #[test]
    fn params_become_text() {
        let p = |v: Value, ty: &Type| param_text(&v, ty).0;
        assert_eq!(p(serde_json::json!(1), &Type::INT4).as_deref(), Some("1"));
        assert_eq!(p(serde_json::json!(2.0), &Type::INT4).as_deref(), Some("2"));
        assert_eq!(
            p(serde_json::json!(1.5), &Type::NUMERIC).as_deref(),
            Some("1.5")
        );
        assert_eq!(p(serde_json::json!(null), &Type::TEXT), None);
        assert_eq!(p(serde_json::json!("x"), &Type::TEXT).as_deref(), Some("x"));
        assert_eq!(
            p(serde_json::json!([1, 2]), &Type::INT4_ARRAY).as_deref(),
            Some("{1,2}")
        );
        assert_eq!(
            p(serde_json::json!(["a", "b \"c\"", null]), &Type::TEXT_ARRAY).as_deref(),
            Some(r#"{"a","b \"c\"",NULL}"#)
        );
        assert_eq!(
            p(serde_json::json!([[1], [2]]), &Type::INT4_ARRAY).as_deref(),
            Some("{{1},{2}}")
        );
        assert_eq!(
            p(serde_json::json!({"a": 1}), &Type::JSONB).as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert_eq!(
            p(serde_json::json!([1]), &Type::JSONB).as_deref(),
            Some("[1]")
        );
        assert_eq!(
            p(serde_json::json!(true), &Type::BOOL).as_deref(),
            Some("true")
        );
    }

    #[test]
    fn scalar_encodings() {
        let enc = |ty: &Type, b: &[u8]| {
            let mut out = Vec::new();
            write_value(&mut out, ty, Some(b));
            String::from_utf8(out).unwrap()
        };
        assert_eq!(enc(&Type::INT4, &1i32.to_be_bytes()), "1");
        assert_eq!(enc(&Type::FLOAT4, &1.1f32.to_be_bytes()), "1.1");
        assert_eq!(enc(&Type::FLOAT8, &2.5f64.to_be_bytes()), "2.5");
        assert_eq!(enc(&Type::TEXT, b"a<b"), r#""a\u003cb""#);
        assert_eq!(enc(&Type::BYTEA, &[1, 2, 3]), r#""AQID""#);
        assert_eq!(
            enc(&Type::JSONB, b"\x01{\"b\":1,\"a\":[true]}"),
            r#"{"a":[true],"b":1}"#
        );
        // 2020-09-24T11:45:05Z
        let micros: i64 = (1_600_947_905 - PG_EPOCH_DAYS_FROM_UNIX * 86_400) * 1_000_000;
        assert_eq!(
            enc(&Type::TIMESTAMP, &micros.to_be_bytes()),
            r#""2020-09-24T11:45:05Z""#
        );
        assert_eq!(
            enc(&Type::TIMESTAMPTZ, &(micros + 120_000).to_be_bytes()),
            r#""2020-09-24T11:45:05.12Z""#
        );
        assert_eq!(
            enc(&Type::TIME, &(3_723_500_000i64).to_be_bytes()),
            r#""01:02:03.5""#
        );
        let mut null = Vec::new();
        write_value(&mut null, &Type::INT4, None);
        assert_eq!(null, b"null");
    }
}
