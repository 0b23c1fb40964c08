//! Component files, read the way daprd's standalone loader reads them: documents split on
//! `\n---`, keys matched case-insensitively (Go's `encoding/json`), documents of other kinds
//! skipped, metadata values stringified like `DynamicValue.String()`.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::duration::parse_go_duration;
use crate::gojson::{format_go_float, to_go_json};
use crate::locate::{Locations, Position};

pub const API_VERSION: &str = "dapr.io/v1alpha1";
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A failure to load one document or component, with everything needed to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    /// 1-based line (and column) in the file, when known.
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub component: Option<String>,
    /// Dotted path of the offending field, e.g. `spec.metadata[2].value`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(component) = &self.component {
            write!(f, ": component {component:?}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// One YAML document of a resources file, decoded to JSON as `sigs.k8s.io/yaml` would.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    /// 1-based line where the document starts.
    pub line: u32,
    pub value: Value,
    /// Where each key is written.
    pub locations: Locations,
}

impl Document {
    pub fn api_version(&self) -> Option<&str> {
        get_ci(&self.value, "apiVersion").and_then(Value::as_str)
    }

    pub fn kind(&self) -> Option<&str> {
        get_ci(&self.value, "kind").and_then(Value::as_str)
    }

    pub fn name(&self) -> Option<&str> {
        get_ci(&self.value, "metadata")
            .and_then(|m| get_ci(m, "name"))
            .and_then(Value::as_str)
    }

    /// True for `apiVersion: dapr.io/v1alpha1` documents of the given kind.
    pub fn is_dapr_kind(&self, kind: &str) -> bool {
        self.api_version() == Some(API_VERSION) && self.kind() == Some(kind)
    }

    /// An error about `field` (a dotted path), at the line where the field is written.
    pub fn error(
        &self,
        component: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> LoadError {
        let line = field
            .and_then(|f| self.locations.find(f))
            .map_or(self.line, |p| p.line);
        LoadError {
            file: self.file.clone(),
            line: Some(line),
            column: None,
            component: component.map(str::to_owned),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Splits a file the way daprd does: on the bytes `\n---`, dropping the rest of that line.
/// Returns each document's text and its starting line.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut search_from = 0usize;
    while let Some(pos) = text[search_from..].find("\n---") {
        let sep = search_from + pos;
        docs.push((start_line, &text[start..sep]));
        let after = sep + 4;
        let line_end = text[after..].find('\n').map_or(text.len(), |i| after + i);
        start_line += text[start..line_end].matches('\n').count();
        start = line_end;
        search_from = line_end;
    }
    docs.push((start_line, &text[start..]));
    docs
}

/// Parses every document of a file. Empty documents are dropped; each malformed one becomes
/// an error with its line and column.
pub fn parse_documents(file: &str, text: &str) -> Vec<Result<Document, LoadError>> {
    split_documents(text)
        .into_iter()
        .filter(|(_, body)| {
            body.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|(line, body)| {
            let line = u32::try_from(line).unwrap_or(u32::MAX);
            serde_saphyr::from_str_with_options::<Value>(body, yaml_options())
                .map(|value| Document {
                    file: file.to_owned(),
                    line,
                    value,
                    locations: Locations::scan(body, line),
                })
                .map_err(|e| yaml_error(file, line, &e))
        })
        .collect()
}

/// How many YAML events aliases may replay in one document. A component file's anchors repeat
/// a few entries; the parser's default (a million) let an 800-byte alias bomb cost seconds of
/// CPU and 100 MB before it was refused (found by the `manifest` fuzz target).
const MAX_ALIAS_REPLAYED_EVENTS: usize = 100_000;

/// YAML 1.2 booleans only: `name: n` must stay the string "n" (sigs.k8s.io/yaml keeps the
/// original text for string fields; we cannot tell field types apart in an untyped tree).
fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAYED_EVENTS;
    options
}

fn yaml_error(file: &str, doc_line: u32, error: &serde_saphyr::Error) -> LoadError {
    let (line, column) = match error.location() {
        Some(loc) => {
            // `doc_line` is the document's first line (for later documents, the `---` line,
            // whose remainder is the body's first line), and `loc` counts from 1.
            (
                Some((doc_line + loc.line() as u32).saturating_sub(1)),
                Some(loc.column() as u32),
            )
        }
        None => (Some(doc_line), None),
    };
    let message = error.to_string();
    let message = message.lines().next().unwrap_or("invalid YAML").to_owned();
    LoadError {
        file: file.to_owned(),
        line,
        column,
        component: None,
        field: None,
        message: format!("malformed YAML: {message}"),
    }
}

/// Go `encoding/json` field matching: exact name first, then case-insensitive.
pub fn get_ci<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let map = value.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.to_lowercase() == key.to_lowercase())
            .map(|(_, v)| v)
    })
}

/// daprd's `DynamicValue.String()`: strings unquoted, numbers and booleans as text, maps and
/// lists as compact JSON, null and missing as the empty string.
pub fn stringify_dynamic(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => format_go_float(n.as_f64().unwrap_or_default()),
        other => String::from_utf8(to_go_json(other)).unwrap_or_default(),
    }
}

/// Where a metadata item's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataItem {
    pub name: String,
    /// The stringified `value` ("" when absent).
    pub value: String,
    /// `value` was present and non-null.
    pub has_value: bool,
    pub secret_key_ref: Option<SecretKeyRef>,
    pub env_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

/// A `kind: Component` document.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub namespace: String,
    /// `spec.type` as written.
    pub spec_type: String,
    pub version: String,
    pub ignore_errors: bool,
    pub init_timeout: Duration,
    pub metadata: Vec<MetadataItem>,
    /// `auth.secretStore` ("" when absent).
    pub secret_store: String,
    pub scopes: Vec<String>,
    pub file: String,
    pub line: u32,
    /// Where each key of the document is written.
    pub locations: Locations,
}

impl Component {
    /// Decodes a document. `Ok(None)` for documents that are not components.
    pub fn from_document(doc: &Document) -> Result<Option<Component>, LoadError> {
        if !doc.is_dapr_kind("Component") {
            return Ok(None);
        }
        let root = &doc.value;
        let name = doc.name().unwrap_or_default().to_owned();
        let err = |field: &str, message: String| {
            doc.error(
                Some(&name).filter(|n| !n.is_empty()).map(String::as_str),
                Some(field),
                message,
            )
        };
        if name.is_empty() {
            return Err(err("metadata.name", "is required".to_owned()));
        }
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            return Err(err(
                "metadata.name",
                format!("{name:?} may not be '.' or '..' and may not contain '/' or '%'"),
            ));
        }
        let meta = get_ci(root, "metadata");
        let namespace = optional_string(meta.and_then(|m| get_ci(m, "namespace")))
            .map_err(|e| err("metadata.namespace", e))?;
        let spec = get_ci(root, "spec")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let spec_type = optional_string(get_ci(&spec, "type")).map_err(|e| err("spec.type", e))?;
        if spec_type.is_empty() {
            return Err(err("spec.type", "is required".to_owned()));
        }
        let version =
            optional_string(get_ci(&spec, "version")).map_err(|e| err("spec.version", e))?;
        let ignore_errors = match get_ci(&spec, "ignoreErrors") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(err(
                    "spec.ignoreErrors",
                    format!("expected a boolean, got {other}"),
                ));
            }
        };
        let init_timeout = optional_string(get_ci(&spec, "initTimeout"))
            .map_err(|e| err("spec.initTimeout", e))?;
        let init_timeout = match parse_go_duration(&init_timeout) {
            Ok(d) if !d.is_zero() => d,
            _ => DEFAULT_INIT_TIMEOUT,
        };
        let mut metadata = Vec::new();
        match get_ci(&spec, "metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    metadata.push(
                        metadata_item(item).map_err(|e| err(&format!("spec.metadata[{i}]"), e))?,
                    );
                }
            }
            Some(_) => {
                return Err(err(
                    "spec.metadata",
                    "expected a list of {name, value} items".to_owned(),
                ));
            }
        }
        let secret_store =
            optional_string(get_ci(root, "auth").and_then(|a| get_ci(a, "secretStore")))
                .map_err(|e| err("auth.secretStore", e))?;
        let scopes = match get_ci(root, "scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| err("scopes", "expected a list of strings".to_owned()))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err("scopes", "expected a list of strings".to_owned())),
        };
        Ok(Some(Component {
            name,
            namespace,
            spec_type,
            version,
            ignore_errors,
            init_timeout,
            metadata,
            secret_store,
            scopes,
            file: doc.file.clone(),
            line: doc.line,
            locations: doc.locations.clone(),
        }))
    }

    /// Where a dotted path of this document is written (or its nearest written ancestor).
    pub fn position(&self, path: &str) -> Position {
        self.locations.find(path).unwrap_or(Position {
            line: self.line,
            column: 1,
        })
    }

    /// The path of metadata item `name` (the last one written, as daprd's map keeps it).
    pub fn item_path(&self, name: &str) -> Option<String> {
        let lower = name.to_lowercase();
        self.metadata
            .iter()
            .rposition(|i| i.name == name)
            .or_else(|| {
                self.metadata
                    .iter()
                    .rposition(|i| i.name.to_lowercase() == lower)
            })
            .map(|i| format!("spec.metadata[{i}]"))
    }

    /// Where `field` is written: a metadata item, a document path, or (for a metadata key
    /// that is not written) the metadata list, else `spec`.
    pub fn field_position(&self, field: &str) -> Position {
        if let Some(path) = self.item_path(field) {
            return self.position(&path);
        }
        let lower = field.to_lowercase();
        let root = lower.split(['.', '[']).next().unwrap_or_default();
        if matches!(
            root,
            "apiversion" | "kind" | "metadata" | "spec" | "auth" | "scopes"
        ) {
            return self.position(&lower);
        }
        self.locations
            .find("spec.metadata")
            .or_else(|| self.locations.find("spec"))
            .unwrap_or(Position {
                line: self.line,
                column: 1,
            })
    }

    /// An error about `field` of this component, at the line where that field is written.
    /// `field` is a document path (`spec.type`) or a metadata key (`schedule`).
    pub fn error(&self, field: Option<&str>, message: impl Into<String>) -> LoadError {
        let line = field.map_or(self.line, |f| self.field_position(f).line);
        LoadError {
            file: self.file.clone(),
            line: Some(line),
            column: None,
            component: Some(self.name.clone()),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The `spec.type` and version as daprd's registry looks them up.
    pub fn registry_key(&self) -> (String, String) {
        (self.spec_type.to_lowercase(), self.version.to_lowercase())
    }

    /// Last value written for `name` (exact case), as daprd's flat map keeps it.
    pub fn item(&self, name: &str) -> Option<&MetadataItem> {
        self.metadata.iter().rev().find(|i| i.name == name)
    }
}

fn optional_string(value: Option<&Value>) -> Result<String, String> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("expected a string, got {other}")),
    }
}

fn metadata_item(item: &Value) -> Result<MetadataItem, String> {
    if !item.is_object() {
        return Err("expected a {name, value} item".to_owned());
    }
    let name = optional_string(get_ci(item, "name")).map_err(|e| format!("name: {e}"))?;
    if name.is_empty() {
        return Err("name is required".to_owned());
    }
    let value = get_ci(item, "value");
    let has_value = !matches!(value, None | Some(Value::Null));
    let secret_key_ref = match get_ci(item, "secretKeyRef") {
        None | Some(Value::Null) => None,
        Some(r) => {
            let name = optional_string(get_ci(r, "name"))
                .map_err(|e| format!("secretKeyRef.name: {e}"))?;
            let key =
                optional_string(get_ci(r, "key")).map_err(|e| format!("secretKeyRef.key: {e}"))?;
            (!name.is_empty()).then_some(SecretKeyRef { name, key })
        }
    };
    let env_ref = optional_string(get_ci(item, "envRef")).map_err(|e| format!("envRef: {e}"))?;
    Ok(MetadataItem {
        name,
        value: value.map(stringify_dynamic).unwrap_or_default(),
        has_value,
        secret_key_ref,
        env_ref: (!env_ref.is_empty()).then_some(env_ref),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(text: &str) -> Vec<Result<Option<Component>, LoadError>> {
        parse_documents("c.yaml", text)
            .into_iter()
            .map(|d| d.and_then(|d| Component::from_document(&d)))
            .collect()
    }

    const CRON: &str = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: mycron\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 2s\"\n";

    #[test]
    fn splits_on_newline_dashes_and_drops_the_rest_of_that_line() {
        let text = format!(
            "{CRON}--- trailing words\n{}",
            CRON.replace("mycron", "other")
        );
        let docs = split_documents(&text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].0, 11);
        let parsed = components(&text);
        assert_eq!(parsed[1].as_ref().unwrap().as_ref().unwrap().name, "other");
    }

    /// Nine anchors, each a list of nine aliases of the one before: the sixth level alone
    /// replays about 660 000 events. Refused at the alias limit, with a line.
    #[test]
    fn an_alias_bomb_is_refused_at_the_replay_limit() {
        let mut text = String::from(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\nspec:\n  type: bindings.cron\n  metadata:\n  - name: x0\n    value: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n",
        );
        for level in 1..=5 {
            let previous = format!("*a{}", level - 1);
            let list = [previous.as_str(); 9].join(",");
            text.push_str(&format!(
                "  - name: x{level}\n    value: &a{level} [{list}]\n"
            ));
        }
        let docs = parse_documents("c.yaml", &text);
        let error = match &docs[..] {
            [Err(e)] => e,
            other => panic!(
                "not refused: {:?}",
                other.iter().map(|d| d.is_ok()).collect::<Vec<_>>()
            ),
        };
        assert!(error.message.contains("alias replay limit"), "{error}");
        let lines = text.lines().count() as u32;
        assert!(
            error.line.is_some_and(|l| (1..=lines).contains(&l)),
            "{error}"
        );
    }

    #[test]
    fn a_dash_run_not_at_line_start_does_not_split() {
        assert_eq!(split_documents("a: x---y\nb: 1").len(), 1);
    }

    #[test]
    fn keys_match_case_insensitively() {
        let text = "APIVERSION: dapr.io/v1alpha1\nKind: Component\nMetadata:\n  Name: x\nSPEC:\n  Type: bindings.cron\n  Metadata:\n  - NAME: schedule\n    VALUE: '@daily'\nauth:\n  secretstore: envs\n";
        let c = components(text).remove(0).unwrap().unwrap();
        assert_eq!(c.spec_type, "bindings.cron");
        assert_eq!(c.metadata[0].name, "schedule");
        assert_eq!(c.metadata[0].value, "@daily");
        assert_eq!(c.secret_store, "envs");
    }

    #[test]
    fn other_kinds_are_skipped() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\n---\napiVersion: v1\nkind: Component\nmetadata:\n  name: k8s\n";
        assert!(components(text).into_iter().all(|c| c.unwrap().is_none()));
    }

    #[test]
    fn values_stringify_like_dynamic_value() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: bindings.http\n  metadata:\n  - name: s\n    value: \"abc\"\n  - name: n\n    value: 5\n  - name: b\n    value: true\n  - name: f\n    value: 1.50\n  - name: m\n    value: {b: 1, a: \"<\"}\n  - name: l\n    value: [1, two]\n  - name: missing\n  - name: nul\n    value: null\n";
        let c = components(text).remove(0).unwrap().unwrap();
        let got: Vec<(&str, &str)> = c
            .metadata
            .iter()
            .map(|i| (i.name.as_str(), i.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("s", "abc"),
                ("n", "5"),
                ("b", "true"),
                ("f", "1.5"),
                ("m", r#"{"a":"\u003c","b":1}"#),
                ("l", r#"[1,"two"]"#),
                ("missing", ""),
                ("nul", "")
            ]
        );
    }

    #[test]
    fn init_timeout_defaults_and_refs_parse() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: bindings.http\n  initTimeout: nonsense\n  ignoreErrors: true\n  metadata:\n  - name: token\n    secretKeyRef:\n      name: TOKEN\n  - name: e\n    envRef: HOME\nscopes: [a, b]\n";
        let c = components(text).remove(0).unwrap().unwrap();
        assert_eq!(c.init_timeout, DEFAULT_INIT_TIMEOUT);
        assert!(c.ignore_errors);
        assert_eq!(
            c.metadata[0].secret_key_ref,
            Some(SecretKeyRef {
                name: "TOKEN".into(),
                key: String::new()
            })
        );
        assert_eq!(c.metadata[1].env_ref.as_deref(), Some("HOME"));
        assert_eq!(c.scopes, vec!["a", "b"]);
    }

    #[test]
    fn errors_name_the_file_component_and_field() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: bindings.http\n  version: 1\n";
        let err = components(text).remove(0).unwrap_err();
        assert_eq!(err.component.as_deref(), Some("x"));
        assert_eq!(err.field.as_deref(), Some("spec.version"));
        assert!(
            err.to_string()
                .starts_with("c.yaml:7: component \"x\": field spec.version: expected a string"),
            "{err}"
        );
        let err = components(&CRON.replace("mycron", "a/b"))
            .remove(0)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("metadata.name"));
    }

    #[test]
    fn malformed_yaml_lines_count_from_the_file_start() {
        let e = parse_documents("f.yaml", "a: b\n---\nx: [\n")
            .remove(1)
            .unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse_documents("f.yaml", "\nx: [\n").remove(0).unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_documents("f.yaml", "x: [\n").remove(0).unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn malformed_yaml_gives_line_and_column() {
        let text = format!("{CRON}---\napiVersion: dapr.io/v1alpha1\nkind: [unclosed\n");
        let results = parse_documents("bad.yaml", &text);
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert!(err.line.unwrap() >= 12, "{err}");
        assert!(err.column.is_some(), "{err}");
        assert!(err.message.starts_with("malformed YAML"), "{err}");
    }
}
