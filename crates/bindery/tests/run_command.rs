//! `bindery run -- <app>`: ports handed to the app, output prefixed, the app's exit code kept.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

#[test]
fn run_starts_sidecar_and_app_and_exits_with_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("app.py");
    std::fs::write(
        &script,
        r#"
import os, sys, time, urllib.request
for _ in range(100):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{os.environ['DAPR_HTTP_PORT']}/v1.0/healthz/outbound") as r:
            print("outbound", r.status)
            break
    except Exception:
        time.sleep(0.1)
for key in ["APP_ID", "APP_PORT", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "APP_PROTOCOL"]:
    print(key, os.environ.get(key, "-"))
sys.exit(3)
"#,
    )
    .unwrap();
    let output = Command::new(BIN)
        .args([
            "run",
            "--app-id",
            "runner",
            "--resources-path",
            &dir.path().display().to_string(),
        ])
        .args(["--", "python3", &script.display().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("[app] outbound 204"), "{stdout}");
    assert!(stdout.contains("[app] APP_ID runner"), "{stdout}");
    assert!(stdout.contains("[app] APP_PROTOCOL http"), "{stdout}");
    assert!(
        stdout.contains("[app] APP_PORT -"),
        "no app port given, none handed over: {stdout}"
    );
    let http_port: u16 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("[app] DAPR_HTTP_PORT "))
        .and_then(|p| p.trim().parse().ok())
        .expect("a picked HTTP port");
    assert!(http_port > 0);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        all.contains("[bindery]"),
        "sidecar lines are prefixed: {all}"
    );
    assert!(
        all.contains("bindery stopped"),
        "the sidecar was stopped with the app: {all}"
    );
}
