//! Hot reload under Kubernetes: the resources folder is a ConfigMap (or Secret) volume, which
//! the kubelet updates by writing a new timestamped folder and swapping the `..data` symlink
//! (`bindery_testkit::deploy::KubeletVolume` lays out that exact structure). An update must be
//! applied within a few seconds, and an update that cannot be read must never take a running
//! binding down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bindery_testkit::deploy::KubeletVolume;
use bindery_testkit::{Sidecar, eventually};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn localstorage(name: &str, root: &std::path::Path) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: bindings.localstorage\n  metadata:\n  - name: rootPath\n    value: {}\n",
        root.display()
    )
}

fn payload(files: &[(&'static str, String)]) -> BTreeMap<&'static str, String> {
    files.iter().cloned().collect()
}

async fn component_names(sidecar: &Sidecar) -> Vec<String> {
    let text = sidecar
        .client
        .get(sidecar.url("/v1.0/metadata"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn create(file: &str) -> Value {
    json!({"operation": "create", "data": "x", "metadata": {"fileName": file}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configmap_volume_swap_is_applied_and_a_bad_one_never_stops_a_binding() {
    let root_a = tempfile::tempdir().unwrap();
    let root_b = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut volume = KubeletVolume::new(&payload(&[
        ("files.yaml", localstorage("files", root_a.path())),
        ("other.yaml", localstorage("other", other.path())),
    ]));
    let first = volume.data_target();
    let sidecar = Sidecar::builder(BIN).resources(volume.path()).spawn().await;
    let pid = sidecar.pid();
    assert_eq!(sidecar.invoke("files", create("a.txt")).await.status(), 200);
    assert!(root_a.path().join("a.txt").exists());

    // The kubelet swaps `..data` to a new timestamped folder.
    volume.update(&payload(&[
        ("files.yaml", localstorage("files", root_b.path())),
        ("other.yaml", localstorage("other", other.path())),
    ]));
    assert_ne!(volume.data_target(), first, "..data now points elsewhere");
    assert!(
        !volume.path().join(&first).exists(),
        "the old payload is gone"
    );
    let swapped = Instant::now();
    let mut n = 0;
    eventually(Duration::from_secs(10), || {
        n += 1;
        let name = format!("b{n}.txt");
        let sidecar = &sidecar;
        let root_b = root_b.path().to_path_buf();
        async move {
            let ok = sidecar.invoke("files", create(&name)).await.status() == 200;
            (ok && root_b.join(&name).exists()).then_some(())
        }
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the swapped ConfigMap was never applied:\n{}",
            sidecar.output()
        )
    });
    let applied_in = swapped.elapsed();
    println!("ConfigMap swap applied in {applied_in:?}");
    assert!(
        applied_in < Duration::from_secs(5),
        "applied within a few seconds, took {applied_in:?}"
    );

    // A typo in the update: the file cannot be read. The running binding stays as it was.
    let broken =
        localstorage("files", root_a.path()).replace("kind: Component", "kind: [Component");
    volume.update(&payload(&[
        ("files.yaml", broken),
        ("other.yaml", localstorage("other", other.path())),
    ]));
    eventually(Duration::from_secs(10), || async {
        sidecar
            .output()
            .contains("Reload refused a file with a document that cannot be read")
            .then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the unreadable update was not reported:\n{}",
            sidecar.output()
        )
    });
    let output = sidecar.output();
    let applied = output
        .lines()
        .rev()
        .find(|l| l.contains("Reload applied."))
        .unwrap_or_else(|| panic!("no reload summary:\n{output}"));
    assert!(applied.contains(r#"rejected=["files"]"#), "{applied}");
    assert!(applied.contains("removed=[]"), "{applied}");
    assert_eq!(
        sidecar.invoke("files", create("kept.txt")).await.status(),
        200
    );
    assert!(
        root_b.path().join("kept.txt").exists(),
        "the running definition (root_b) still serves"
    );
    assert!(
        component_names(&sidecar)
            .await
            .contains(&"files".to_owned())
    );
    let metrics = sidecar.scrape_metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bindery_reloads_total") && l.contains("rejected")),
        "the rejected reload is counted:\n{metrics}"
    );

    // Fixed again, then the key removed from the ConfigMap: now it really goes.
    volume.update(&payload(&[
        ("files.yaml", localstorage("files", root_b.path())),
        ("other.yaml", localstorage("other", other.path())),
    ]));
    volume.update(&payload(&[(
        "other.yaml",
        localstorage("other", other.path()),
    )]));
    eventually(Duration::from_secs(10), || async {
        (!component_names(&sidecar)
            .await
            .contains(&"files".to_owned()))
        .then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the removed key's component stayed:\n{}", sidecar.output()));
    assert_eq!(sidecar.invoke("other", create("o.txt")).await.status(), 200);
    assert_eq!(sidecar.pid(), pid, "no restart");
}
