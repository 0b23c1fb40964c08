//! Component files for end-to-end tests: one builder for the YAML every test writes, and the
//! binding components the tests use most.

use std::path::Path;

/// A component of type `spec_type` (`bindings.cron`), version v1, with `spec_lines` (raw YAML,
/// each line indented two spaces, e.g. `"  ignoreErrors: true\n"`) before its metadata, and plain
/// metadata values (quoted as YAML strings). More metadata items can be appended as raw YAML:
/// the list is last.
pub fn component_with(
    name: &str,
    spec_type: &str,
    spec_lines: &str,
    metadata: &[(&str, &str)],
) -> String {
    let mut yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {spec_type}\n  version: v1\n{spec_lines}  metadata:\n"
    );
    for (k, v) in metadata {
        yaml.push_str(&format!(
            "  - name: {k}\n    value: {}\n",
            serde_json::Value::String((*v).to_owned())
        ));
    }
    yaml
}

/// [`component_with`] without extra spec lines.
pub fn component(name: &str, spec_type: &str, metadata: &[(&str, &str)]) -> String {
    component_with(name, spec_type, "", metadata)
}

/// A `bindings.cron` input firing on `schedule`.
pub fn cron(name: &str, schedule: &str) -> String {
    component(name, "bindings.cron", &[("schedule", schedule)])
}

/// A `bindings.localstorage` output writing under `root`.
pub fn localstorage(name: &str, root: &Path) -> String {
    component(
        name,
        "bindings.localstorage",
        &[("rootPath", &root.display().to_string())],
    )
}

/// A `bindings.http` output calling `url`.
pub fn http(name: &str, url: &str) -> String {
    component(name, "bindings.http", &[("url", url)])
}
