//! The one component check. `bindery validate`, start-up and hot reload all run these pure
//! functions, so they agree on every verdict and say it in the same words at the same place.
//!
//! - [`check_document`]: the shape of a `dapr.io` document (a misspelled `kind` or key).
//! - [`check_references`]: `secretKeyRef` needs `auth.secretStore`, and that store must exist.
//! - [`check_binding`]: type and version, `direction`, `route`, the delivery options, every
//!   metadata key against the binding's fields, and the binding's typed config.
//! - [`duplicate_names`] and [`dangling_dead_letters`]: checks across a set of components.
//!
//! Start-up keeps daprd's leniency: what daprd accepts is a warning there ([`Mode::Runtime`]),
//! and [`Mode::Validate`] refuses what would fail every call (a required field left empty).

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::descriptor::{BindingDescriptor, DecodedConfig};
use crate::error::ConfigError;
use crate::field::{Field, FieldType};
use crate::manifest::{Component, Document, LoadError};
use crate::properties::{Properties, is_truthy};
use crate::registry::{Registry, VERSIONS};
use crate::resiliency::{DELIVERY_FIELDS, DeliveryOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub error: LoadError,
    /// The column of the key the finding is about, for pointing at it.
    pub column: Option<u32>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "error: {}", self.error),
            Severity::Warning => write!(f, "warning: {}", self.error),
        }
    }
}

/// Who is asking: the offline check refuses what start-up only warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Validate,
    Runtime,
}

/// The keys every binding accepts besides its own fields, read by the runtime.
pub const RUNTIME_KEYS: &[&str] = &["direction", "route"];

/// A binding component that passed the check: everything the runtime needs to build it.
#[derive(Debug, Clone)]
pub struct CheckedBinding {
    pub descriptor: BindingDescriptor,
    pub properties: Properties,
    pub config: DecodedConfig,
    pub direction: BindingDirection,
    pub delivery: DeliveryOptions,
    /// Where events are delivered (`route`, cleaned like Go's `path.Clean`, or the name).
    pub route: String,
}

impl CheckedBinding {
    pub fn wants_input(&self) -> bool {
        self.descriptor.has_input() && self.direction.input
    }
    pub fn wants_output(&self) -> bool {
        self.descriptor.has_output() && self.direction.output
    }
}

/// The `direction` metadata key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingDirection {
    pub input: bool,
    pub output: bool,
    /// `input` was listed: deliver without asking the app first.
    pub explicit_input: bool,
}

impl BindingDirection {
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        let Some(value) = value else {
            return Ok(Self {
                input: true,
                output: true,
                explicit_input: false,
            });
        };
        let mut direction = Self {
            input: false,
            output: false,
            explicit_input: false,
        };
        for token in value
            .split(',')
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
        {
            match token.as_str() {
                "input" => {
                    direction.input = true;
                    direction.explicit_input = true;
                }
                "output" => direction.output = true,
                other => {
                    return Err(format!(
                        "invalid direction {other:?}: expected input, output or both separated by a comma"
                    ));
                }
            }
        }
        Ok(direction)
    }
}

/// Collects the findings of one check, located in one component.
struct Findings<'a> {
    component: &'a Component,
    out: &'a mut Vec<Diagnostic>,
}

impl Findings<'_> {
    fn push(&mut self, severity: Severity, field: Option<&str>, message: impl Into<String>) {
        let error = self.component.error(field, message);
        let column = field.map(|f| self.component.field_position(f).column);
        self.out.push(Diagnostic {
            severity,
            error,
            column,
        });
    }

    fn error(&mut self, field: Option<&str>, message: impl Into<String>) {
        self.push(Severity::Error, field, message);
    }

    fn warn(&mut self, field: Option<&str>, message: impl Into<String>) {
        self.push(Severity::Warning, field, message);
    }

    fn errors(&self) -> usize {
        self.out.iter().filter(|d| d.is_error()).count()
    }
}

/// The metadata a binding receives, and which of it is not known yet (secret and env
/// references, offline).
pub struct Values<'a> {
    pub values: HashMap<String, String>,
    /// Lower-cased names whose values are resolved later; checks of their values are skipped.
    pub deferred: &'a HashSet<String>,
}

/// Checks one binding component. Every finding goes to `out`; the checked binding comes back
/// when there was no error.
pub fn check_binding(
    component: &Component,
    values: Values<'_>,
    registry: &Registry,
    mode: Mode,
    out: &mut Vec<Diagnostic>,
) -> Option<CheckedBinding> {
    let first = out.len();
    let secrets = registry
        .lookup(&component.spec_type, &component.version)
        .map(|d| sensitive_values(d, &values.values))
        .unwrap_or_default();
    let checked = check_binding_inner(component, values, registry, mode, out);
    for d in &mut out[first..] {
        for secret in &secrets {
            if d.error.message.contains(secret.as_str()) {
                d.error.message = d.error.message.replace(secret.as_str(), "<redacted>");
            }
        }
    }
    checked
}

fn check_binding_inner(
    component: &Component,
    values: Values<'_>,
    registry: &Registry,
    mode: Mode,
    out: &mut Vec<Diagnostic>,
) -> Option<CheckedBinding> {
    let mut findings = Findings { component, out };
    let descriptor = lookup(component, registry, &mut findings)?;
    let properties = match Properties::new(values.values) {
        Ok(p) => p,
        Err(e) => {
            findings.error(Some(&e.field), e.message);
            return None;
        }
    };
    let before = findings.errors();
    check_keys(component, &descriptor, &mut findings);
    let missing = check_field_values(&descriptor, &properties, values.deferred, &mut findings);
    let direction = BindingDirection::parse(properties.get("direction"))
        .map_err(|e| findings.error(Some("direction"), e))
        .ok();
    let wants_input = descriptor.has_input() && direction.is_none_or(|d| d.input);
    let delivery = if wants_input {
        DeliveryOptions::from_properties(&properties)
            .map_err(|e| findings.error(Some(&e.field), e.message))
            .ok()
    } else {
        Some(DeliveryOptions::default())
    };
    let (config, decoder_errors) =
        decode_all(&descriptor, &properties, values.deferred, &mut findings);
    for field in missing {
        if decoder_errors.contains(&field.to_lowercase()) {
            continue;
        }
        let message = format!(
            "required field `{field}` is not set: the binding's metadata.yaml marks it required"
        );
        match mode {
            Mode::Validate => findings.error(Some(field), message),
            Mode::Runtime => findings.warn(Some(field), message),
        }
    }
    if findings.errors() > before {
        return None;
    }
    if let Some(d) = direction
        && !(descriptor.has_input() && d.input)
        && !(descriptor.has_output() && d.output)
    {
        findings.warn(
            Some("direction"),
            "the direction leaves nothing this binding type can do; nothing will be started",
        );
    }
    let route = properties
        .exact("route")
        .filter(|r| !r.is_empty())
        .unwrap_or(&component.name);
    Some(CheckedBinding {
        descriptor,
        route: clean_route(route),
        properties,
        config: config?,
        direction: direction?,
        delivery: delivery?,
    })
}

/// The values of the fields the descriptor marks sensitive (resolved secrets included): a
/// decoder may quote what it could not parse, and none of these may appear in a finding.
fn sensitive_values(
    descriptor: &BindingDescriptor,
    values: &HashMap<String, String>,
) -> Vec<String> {
    values
        .iter()
        .filter(|(name, _)| {
            descriptor.fields.iter().any(|f| {
                f.sensitive
                    && std::iter::once(f.name)
                        .chain(f.aliases.iter().copied())
                        .any(|n| n.eq_ignore_ascii_case(name))
            })
        })
        .map(|(_, v)| v.clone())
        .filter(|v| v.len() >= 3)
        .collect()
}

fn lookup(
    component: &Component,
    registry: &Registry,
    findings: &mut Findings<'_>,
) -> Option<BindingDescriptor> {
    if let Some(d) = registry.lookup(&component.spec_type, &component.version) {
        return Some(*d);
    }
    if let Some(d) = registry.find_type(&component.spec_type) {
        findings.error(
            Some("spec.version"),
            format!(
                "{} has no version {:?}; the versions there are: {}",
                d.type_name,
                component.version,
                VERSIONS.join(", ")
            ),
        );
        return None;
    }
    let version = if component.version.is_empty() {
        "v1"
    } else {
        &component.version
    };
    let mut known: Vec<&str> = registry.type_names().collect();
    known.sort_unstable();
    let hint = closest(&component.spec_type.to_lowercase(), known.iter().copied())
        .map(|t| format!(" Did you mean `{t}`?"))
        .unwrap_or_default();
    findings.error(
        Some("spec.type"),
        format!(
            "unknown binding type {} (version {version}): couldn't find binding {} ({}/{version}).{hint} This build of bindery has: {}",
            component.spec_type,
            component.name,
            component.spec_type,
            known.join(", ")
        ),
    );
    None
}

/// A metadata key the binding does not know is a warning, with the closest known key.
fn check_keys(component: &Component, descriptor: &BindingDescriptor, findings: &mut Findings<'_>) {
    let known = known_keys(descriptor);
    for item in &component.metadata {
        let lower = item.name.to_lowercase();
        if known.iter().any(|k| k.to_lowercase() == lower)
            || matches_pattern_field(descriptor, &item.name)
        {
            continue;
        }
        let hint = closest(&lower, known.iter().copied())
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        findings.warn(
            Some(&item.name),
            format!(
                "{} has no metadata field `{}`{hint}",
                descriptor.type_name, item.name
            ),
        );
    }
}

/// A field documented as `prefix<Name>` (graphql's `header:<Name>`) stands for every key that
/// starts with `prefix`, compared exactly as daprd's `strings.HasPrefix` does.
fn matches_pattern_field(descriptor: &BindingDescriptor, key: &str) -> bool {
    descriptor
        .fields
        .iter()
        .filter_map(|f| f.name.split_once('<').map(|(prefix, _)| prefix))
        .any(|prefix| !prefix.is_empty() && key.starts_with(prefix) && key.len() > prefix.len())
}

fn known_keys(descriptor: &BindingDescriptor) -> Vec<&'static str> {
    let delivery = DELIVERY_FIELDS
        .iter()
        .filter(|_| descriptor.has_input())
        .map(|f| f.name);
    descriptor
        .fields
        .iter()
        .flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
        .chain(RUNTIME_KEYS.iter().copied())
        .chain(delivery)
        .collect()
}

/// What the field list alone can tell: values daprd reads as something else than what was
/// written (warned here), and the required fields left empty (returned).
fn check_field_values(
    descriptor: &BindingDescriptor,
    properties: &Properties,
    deferred: &HashSet<String>,
    findings: &mut Findings<'_>,
) -> Vec<&'static str> {
    let mut missing = Vec::new();
    for field in descriptor.fields {
        if is_deferred(field, deferred) {
            continue;
        }
        let raw = properties.raw(field).map(str::trim);
        if field.required && raw.is_none_or(str::is_empty) && field.default.is_none() {
            missing.push(field.name);
        }
        if let (FieldType::Bool, Some(v)) = (field.ty, raw)
            && !v.is_empty()
            && !is_truthy(v)
            && !is_falsy(v)
        {
            findings.warn(
                Some(field.name),
                format!("{v:?} is not a boolean; it reads as false"),
            );
        }
    }
    missing
}

fn is_falsy(v: &str) -> bool {
    matches!(
        v.to_lowercase().as_str(),
        "n" | "no" | "false" | "f" | "off" | "0"
    )
}

fn is_deferred(field: &Field, deferred: &HashSet<String>) -> bool {
    std::iter::once(field.name)
        .chain(field.aliases.iter().copied())
        .any(|n| deferred.contains(&n.to_lowercase()))
}

/// Runs the binding's decoder until it has said everything: after each error, the field it
/// named is set aside (so its default applies) and the decoder runs again. Returns the config
/// (when there was no error) and the lower-cased fields the decoder refused.
fn decode_all(
    descriptor: &BindingDescriptor,
    properties: &Properties,
    deferred: &HashSet<String>,
    findings: &mut Findings<'_>,
) -> (Option<DecodedConfig>, HashSet<String>) {
    let mut remaining = properties.as_map().clone();
    let mut reported: HashSet<String> = HashSet::new();
    for _ in 0..16 {
        let current = Properties::from_map(remaining.clone());
        let mut warnings = Vec::new();
        match (descriptor.decode)(&current, &mut warnings) {
            Ok(config) => {
                if reported.is_empty() {
                    for w in warnings {
                        findings.warn(Some(&w.field), w.message);
                    }
                    return (Some(config), reported);
                }
                return (None, reported);
            }
            Err(e) => {
                let lower = e.field.to_lowercase();
                if deferred.contains(&lower) {
                    // Its value is only known at start-up: nothing more can be checked offline.
                    return (None, reported);
                }
                if reported.insert(lower.clone()) {
                    findings.error(Some(&e.field), e.message.clone());
                }
                let before = remaining.len();
                remaining.retain(|k, _| k.to_lowercase() != lower);
                if remaining.len() == before {
                    // The error is not about a value that was written: nothing more to learn.
                    return (None, reported);
                }
            }
        }
    }
    (None, reported)
}

/// Go's `path.Clean` on a route, with a leading slash.
pub fn clean_route(route: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in route.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `secretKeyRef` needs `auth.secretStore`, naming a store that is loaded.
pub fn check_references(
    component: &Component,
    store_exists: &dyn Fn(&str) -> bool,
    out: &mut Vec<Diagnostic>,
) {
    let mut findings = Findings { component, out };
    let mut store_checked = false;
    for item in component.metadata.iter() {
        if item.secret_key_ref.is_none() {
            continue;
        }
        if component.secret_store.is_empty() {
            findings.error(
                Some(&item.name),
                "uses secretKeyRef but the component has no auth.secretStore (daprd would never initialise it)",
            );
        } else if !store_checked {
            store_checked = true;
            if !store_exists(&component.secret_store) {
                findings.error(
                    Some("auth.secretStore"),
                    format!("secret store {:?} is not loaded", component.secret_store),
                );
            }
        }
    }
}

/// Kinds a `dapr.io/v1alpha1` document may have.
pub const KNOWN_KINDS: &[&str] = &[
    "Component",
    "Configuration",
    "Resiliency",
    "Subscription",
    "HTTPEndpoint",
];

const ROOT_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "auth", "scopes"];
const COMPONENT_META_KEYS: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "ownerReferences",
    "finalizers",
];
const SPEC_KEYS: &[&str] = &["type", "version", "metadata", "initTimeout", "ignoreErrors"];
const ITEM_KEYS: &[&str] = &["name", "value", "secretKeyRef", "envRef"];

/// A misspelled `kind` or document key is a warning naming the closest known one.
pub fn check_document(doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(kind) = doc.kind() else { return };
    if doc.api_version() != Some(crate::manifest::API_VERSION) {
        return;
    }
    let mut warn = |path: &str, message: String| {
        let at = doc.locations.find(path);
        out.push(Diagnostic {
            severity: Severity::Warning,
            error: doc.error(doc.name(), Some(path), message),
            column: at.map(|p| p.column),
        });
    };
    if !KNOWN_KINDS.contains(&kind) {
        let hint = closest(kind, KNOWN_KINDS.iter().copied())
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        warn(
            "kind",
            format!("kind `{kind}` is not a Dapr resource kind, so the document is skipped{hint}"),
        );
        return;
    }
    if kind != "Component" {
        return;
    }
    let mut scopes: Vec<(String, &[&str])> = vec![
        (String::new(), ROOT_KEYS),
        ("metadata".to_owned(), COMPONENT_META_KEYS),
        ("spec".to_owned(), SPEC_KEYS),
    ];
    let items = crate::manifest::get_ci(&doc.value, "spec")
        .and_then(|s| crate::manifest::get_ci(s, "metadata"))
        .and_then(|m| m.as_array())
        .map_or(0, Vec::len);
    scopes.extend((0..items).map(|i| (format!("spec.metadata[{i}]"), ITEM_KEYS)));
    for (parent, known) in scopes {
        let unknown: Vec<(String, String)> = doc
            .locations
            .keys_under(&parent)
            .filter(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(&k.key)))
            .map(|k| (k.key.clone(), format!("{parent}.{}", k.key.to_lowercase())))
            .collect();
        for (key, path) in unknown {
            let hint = closest(&key.to_lowercase(), known.iter().copied())
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            let at = if parent.is_empty() { key.clone() } else { path };
            warn(
                &at,
                format!("`{key}` is not a key daprd reads here, so it is ignored{hint}"),
            );
        }
    }
}

/// Component names must be unique across every resources path.
pub fn duplicate_names(components: &[Component]) -> Vec<Diagnostic> {
    let mut seen: HashMap<&str, &Component> = HashMap::new();
    let mut out = Vec::new();
    for c in components {
        if let Some(first) = seen.get(c.name.as_str()) {
            let position = c.position("metadata.name");
            let mut error = c.error(
                Some("metadata.name"),
                format!(
                    "duplicate definition of Component name {} (first defined in {}:{})",
                    c.name, first.file, first.line
                ),
            );
            error.line = Some(position.line);
            out.push(Diagnostic {
                severity: Severity::Error,
                error,
                column: Some(position.column),
            });
        } else {
            seen.insert(&c.name, c);
        }
    }
    out
}

/// Every `deadLetterBinding` must name a loaded output binding. `inputs` are the input
/// bindings with their component; `is_output` says whether a name is an output binding.
pub fn dangling_dead_letters<'a>(
    inputs: impl IntoIterator<Item = (&'a Component, &'a DeliveryOptions)>,
    is_output: &dyn Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (component, delivery) in inputs {
        if let Some(name) = &delivery.dead_letter_binding
            && !is_output(name)
        {
            let mut findings = Findings {
                component,
                out: &mut out,
            };
            findings.error(
                Some(crate::resiliency::DEAD_LETTER_BINDING.name),
                format!("dead-letter binding {name} is not a loaded output binding"),
            );
        }
    }
    out
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, c)| *d > 0 && *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A config error from outside the check (a builder), located like the check's own.
pub fn locate_config_error(component: &Component, error: &ConfigError) -> LoadError {
    component.error(Some(&error.field), error.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensitive_value_never_appears_in_a_finding() {
        use crate::field::{Field, FieldType};
        const PASSWORD: Field = Field::new("password", FieldType::Number, "").sensitive();
        #[derive(Clone)]
        struct Numeric;
        impl crate::BindingConfig for Numeric {
            fn decode(
                p: &Properties,
                _: &mut Vec<crate::ConfigWarning>,
            ) -> Result<Self, ConfigError> {
                let v = p.raw(&PASSWORD).unwrap_or_default();
                Err(ConfigError::new(
                    "password",
                    format!("{v:?} is not a number"),
                ))
            }
        }
        const D: BindingDescriptor = BindingDescriptor {
            type_name: "bindings.t",
            aliases: &[],
            status: "alpha",
            summary: "",
            fields: &[PASSWORD],
            operations: &[],
            decode: crate::decode_as::<Numeric>,
            build_input: None,
            build_output: None,
        };
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\nspec:\n  type: bindings.t\n  metadata:\n  - name: password\n    value: hunter2\n";
        let doc = crate::manifest::parse_documents("c.yaml", text)
            .remove(0)
            .unwrap();
        let c = Component::from_document(&doc).unwrap().unwrap();
        let values = [("password".to_owned(), "hunter2".to_owned())].into();
        let mut out = Vec::new();
        let deferred = HashSet::new();
        let registry = Registry::new(vec![D]);
        let checked = check_binding(
            &c,
            Values {
                values,
                deferred: &deferred,
            },
            &registry,
            Mode::Validate,
            &mut out,
        );
        assert!(checked.is_none());
        let text: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|t| t.contains("<redacted>")), "{text:?}");
        assert!(text.iter().all(|t| !t.contains("hunter2")), "{text:?}");
    }

    #[test]
    fn suggestions_are_typos_only() {
        assert_eq!(closest("urll", ["url", "method"]), Some("url"));
        assert_eq!(
            closest("componnet", KNOWN_KINDS.iter().copied()),
            Some("Component")
        );
        assert_eq!(closest("zzzzzz", ["url"]), None);
        assert_eq!(closest("url", ["url"]), None);
    }

    #[test]
    fn direction_parses_tokens() {
        let d = BindingDirection::parse(Some(" Input , output")).unwrap();
        assert!(d.input && d.output && d.explicit_input);
        let d = BindingDirection::parse(None).unwrap();
        assert!(d.input && d.output && !d.explicit_input);
        let d = BindingDirection::parse(Some("output")).unwrap();
        assert!(!d.input && d.output);
        assert!(BindingDirection::parse(Some("sideways")).is_err());
    }

    #[test]
    fn routes_are_cleaned_like_go_path_clean() {
        assert_eq!(clean_route("cron-events"), "/cron-events");
        assert_eq!(clean_route("a//b/../c/"), "/a/c");
        assert_eq!(clean_route("/"), "/");
    }
}
