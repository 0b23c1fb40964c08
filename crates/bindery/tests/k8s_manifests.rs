//! The Kubernetes manifests in `deploy/kubernetes/` validate offline against the Kubernetes API
//! schemas (PyPI `kubernetes-validate`, installed by `scripts/install-deploy-tools.sh`, strict:
//! an unknown field fails), the components their ConfigMap carries load in bindery, and the pod
//! spec keeps the promises the README makes (probes on bindery's health endpoints, a grace
//! period covering the graceful shutdown, requests and limits).

use std::path::{Path, PathBuf};
use std::process::Command;

use bindery_core::manifest::parse_documents;
use bindery_testkit::deploy::{cache_dir, repo_root};
use bindery_testkit::faults;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    parse_documents(&path.display().to_string(), &text)
        .into_iter()
        .map(|d| d.unwrap().value)
        .collect()
}

fn find(kind: &str) -> Value {
    manifests()
        .iter()
        .flat_map(|f| documents(f))
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/kubernetes"))
}

fn validator() -> Option<PathBuf> {
    let path = cache_dir().join("kubevalidate/bin/kubernetes-validate");
    faults::require(
        path.is_file(),
        "kubernetes-validate (scripts/install-deploy-tools.sh)",
    )
    .then_some(path)
}

fn validate(validator: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(validator)
        .arg("--strict")
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let Some(validator) = validator() else { return };
    let files = manifests();
    let (ok, text) = validate(&validator, &files);
    println!("{text}");
    assert!(ok, "kubernetes-validate refused the manifests:\n{text}");
    assert_eq!(text.matches(" passed ").count(), files.len(), "{text}");

    // The check can fail: a misspelt field is refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("deployment.yaml");
    let text = std::fs::read_to_string(repo_root().join("deploy/kubernetes/deployment.yaml"))
        .unwrap()
        .replace("readinessProbe:", "readynessProbe:");
    std::fs::write(&bad, text).unwrap();
    let (ok, text) = validate(&validator, &[bad]);
    assert!(!ok, "a misspelt field must fail:\n{text}");
}

fn bindery_container(deployment: &Value) -> Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bindery")
        .expect("a bindery container")
        .clone()
}

#[test]
fn the_pod_spec_keeps_the_documented_promises() {
    let deployment = find("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let bindery = bindery_container(&deployment);
    let args: Vec<&str> = bindery["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let graceful: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("--dapr-graceful-shutdown-seconds="))
        .expect("an explicit graceful shutdown")
        .parse()
        .unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace >= graceful + 5,
        "grace {grace}s must cover {graceful}s of shutdown"
    );
    assert_eq!(
        bindery["readinessProbe"]["httpGet"]["path"],
        "/v1.0/healthz"
    );
    assert_eq!(
        bindery["livenessProbe"]["httpGet"]["path"],
        "/v1.0/healthz/outbound"
    );
    for side in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(
                bindery["resources"][side][what].is_string(),
                "{side}.{what}"
            );
        }
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let token = bindery["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DAPR_API_TOKEN")
        .expect("the API is token-protected on the pod network");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "orders-secrets");
    let mounts: Vec<&str> = bindery["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(args.contains(&"--resources-path=/components"), "{args:?}");
    assert!(
        mounts.contains(&"/components") && mounts.contains(&"/secrets"),
        "{mounts:?}"
    );
}

/// The ConfigMap's components, with the Secret's file where the pod mounts it, pass
/// `bindery validate` (every type known, every field decodes).
#[test]
fn the_configmap_components_load_in_bindery() {
    let configmap = find("ConfigMap");
    let secret = find("Secret");
    let dir = tempfile::tempdir().unwrap();
    let secrets_file = dir.path().join("secrets.json");
    let secrets_json = secret["stringData"]["secrets.json"].as_str().unwrap();
    serde_json::from_str::<Value>(secrets_json).expect("the Secret's secrets.json is JSON");
    std::fs::write(&secrets_file, secrets_json).unwrap();
    let components = dir.path().join("components");
    std::fs::create_dir(&components).unwrap();
    let data = configmap["data"].as_object().unwrap();
    assert!(data.len() >= 3);
    for (key, text) in data {
        let text = text
            .as_str()
            .unwrap()
            .replace("/secrets/secrets.json", &secrets_file.display().to_string());
        std::fs::write(components.join(key), text).unwrap();
    }
    let out = Command::new(BIN)
        .arg("validate")
        .arg(&components)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{} component(s) valid.", data.len())),
        "{text}"
    );
}
