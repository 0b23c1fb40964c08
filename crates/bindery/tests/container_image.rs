//! The container image: `scripts/image.sh` builds it with buildah from scratch (release binary,
//! its shared libraries, CA certificates, a non-root user, bindery as the entrypoint) into
//! `target/image/bindery.tar`; this test then runs that archive with `buildah run --isolation
//! chroot` and serves a real binding call through it. buildah comes from
//! `scripts/install-deploy-tools.sh`: without it the test fails under CI and skips elsewhere.
//!
//! The image's binary is the release build (`cargo build --release -p bindery`, reused when up
//! to date); `BINDERY_IMAGE_BINARY` or `BINDERY_IMAGE_PROFILE` choose another (scripts/image.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bindery_testkit::deploy::{repo_root, which};
use bindery_testkit::{eventually, faults, free_port};
use serde_json::{Value, json};

/// buildah with a storage root of its own (vfs), removed with the test.
struct Buildah {
    root: tempfile::TempDir,
    running: Option<Child>,
}

impl Buildah {
    fn command(&self) -> Command {
        let mut c = Command::new("buildah");
        c.args(["--storage-driver", "vfs", "--root"])
            .arg(self.root.path().join("root"))
            .arg("--runroot")
            .arg(self.root.path().join("run"));
        c
    }

    fn output(&self, args: &[&str]) -> (bool, String) {
        let out = self.command().args(args).output().expect("run buildah");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.output(args);
        assert!(ok, "buildah {args:?} failed:\n{text}");
        text.trim().to_owned()
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        if let Some(mut child) = self.running.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.command().args(["rm", "--all"]).output();
        let _ = self.command().args(["rmi", "--all", "--force"]).output();
    }
}

fn build_image(buildah: &Buildah) -> PathBuf {
    let out = repo_root().join("target/image/bindery.tar");
    let started = Instant::now();
    let status = Command::new(repo_root().join("scripts/image.sh"))
        .env("BINDERY_BUILDAH_ROOT", buildah.root.path())
        .env("BINDERY_IMAGE_OUT", &out)
        .status()
        .expect("run scripts/image.sh");
    assert!(status.success(), "scripts/image.sh failed");
    println!("scripts/image.sh took {:?}", started.elapsed());
    out
}

fn world_writable_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().uid()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_builds_from_scratch_and_serves_a_binding_call() {
    if !faults::require(
        which("buildah").is_some(),
        "buildah (scripts/install-deploy-tools.sh)",
    ) {
        return;
    }
    let mut buildah = Buildah {
        root: tempfile::tempdir().unwrap(),
        running: None,
    };
    let archive = build_image(&buildah);
    let size = std::fs::metadata(&archive).unwrap().len();
    println!(
        "image archive {} is {:.1} MB",
        archive.display(),
        size as f64 / 1e6
    );
    assert!(
        size < 60_000_000,
        "a from-scratch image stays small: {size} bytes"
    );

    let image = format!("oci-archive:{}", archive.display());
    let ctr = buildah.ok(&["from", "--quiet", &image]);
    let config = buildah.ok(&[
        "inspect",
        "--format",
        "{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}",
        &ctr,
    ]);
    assert_eq!(config, "65532:65532 [/bindery]");
    let (shell, text) = buildah.output(&[
        "run",
        "--isolation",
        "chroot",
        &ctr,
        "--",
        "/bin/sh",
        "-c",
        "true",
    ]);
    assert!(!shell, "from scratch: no shell in the image\n{text}");

    let components = bindery_testkit::resources(&[(
        "files.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n  type: bindings.localstorage\n  metadata:\n  - name: rootPath\n    value: /data\n",
    )]);
    let data = world_writable_dir();
    let port = free_port();
    let mut run = buildah.command();
    run.args(["run", "--isolation", "chroot", "--network", "host", "-v"])
        .arg(format!("{}:/components:ro", components.path().display()))
        .arg("-v")
        .arg(format!("{}:/data", data.path().display()))
        .args([&ctr, "--", "/bindery", "--app-id", "image"])
        .args(["--dapr-http-port", &port.to_string()])
        .args(["--dapr-grpc-port", &free_port().to_string()])
        .args(["--metrics-port", &free_port().to_string()])
        .args([
            "--dapr-listen-addresses",
            "127.0.0.1",
            "--resources-path",
            "/components",
        ])
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    buildah.running = Some(run.spawn().expect("buildah run"));

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(30), || async {
        let r = client
            .get(format!("{base}/v1.0/healthz/outbound"))
            .send()
            .await
            .ok()?;
        (r.status() == 204).then_some(())
    })
    .await
    .expect("bindery in the container never became ready");
    let r = client
        .post(format!("{base}/v1.0/bindings/files"))
        .body(json!({"operation": "create", "data": "from the image", "metadata": {"fileName": "hello.txt"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let written = data.path().join("hello.txt");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "from the image");
    assert_eq!(
        owner(&written),
        65532,
        "bindery runs as the image's non-root user"
    );
    let metadata: Value = serde_json::from_str(
        &client
            .get(format!("{base}/v1.0/metadata"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(metadata["id"], "image");
    println!("served a real call from the image: {written:?} written by uid 65532");

    let r = client
        .post(format!("{base}/v1.0/shutdown"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut child = buildah.running.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the container did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "bindery in the container exited {status}");
}
