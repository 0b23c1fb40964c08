//! daprd's template tags in metadata values: `{uuid}`, `{podName}`, `{namespace}`, `{appID}`.

/// Replaces the tags. `{namespace}` becomes `<namespace>.<appID>`, as in daprd.
pub fn apply(
    value: &str,
    app_id: &str,
    namespace: &str,
    pod_name: Option<&str>,
) -> Result<String, String> {
    if !value.contains('{') {
        return Ok(value.to_owned());
    }
    let mut out = value.to_owned();
    while let Some(pos) = out.find("{uuid}") {
        out.replace_range(pos..pos + "{uuid}".len(), &uuid::Uuid::new_v4().to_string());
    }
    if out.contains("{podName}") {
        let pod = pod_name.filter(|p| !p.is_empty()).ok_or_else(|| {
            "failed to parse metadata: {podName} is used but POD_NAME is not set".to_owned()
        })?;
        out = out.replace("{podName}", pod);
    }
    out = out.replace("{namespace}", &format!("{namespace}.{app_id}"));
    out = out.replace("{appID}", app_id);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_tag() {
        let v = apply("{appID}-{namespace}", "app", "ns", None).unwrap();
        assert_eq!(v, "app-ns.app");
        let v = apply("{uuid}/{uuid}", "a", "", None).unwrap();
        let (a, b) = v.split_once('/').unwrap();
        assert_eq!(a.len(), 36);
        assert_ne!(a, b, "each occurrence gets its own uuid");
        assert!(apply("{podName}", "a", "", None).is_err());
        assert_eq!(apply("{podName}", "a", "", Some("p1")).unwrap(), "p1");
        assert_eq!(apply("plain", "a", "", None).unwrap(), "plain");
    }
}
