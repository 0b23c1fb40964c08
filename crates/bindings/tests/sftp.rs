//! `bindings.sftp` against OpenSSH's sshd: each test starts its own sshd on a free loopback
//! port with a private config (its own host key, `internal-sftp`, a throwaway local user with
//! a random password and an authorized ed25519 key and passphrase-protected RSA key), and the
//! binding's rootPath is a folder of that test's own.
#![cfg(feature = "sftp")]

use std::sync::Arc;
use std::time::Duration;

use bindery_bindings::sftp::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties,
};
use bindery_testkit::notify::{RSA_PASSPHRASE, Sshd};
use bytes::Bytes;
use serde_json::{Value, json};

async fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new(
        "files",
        Properties::from_pairs(pairs.iter().copied()),
        "test",
    );
    (DESCRIPTOR.build_output.unwrap())(cx).await
}

fn call(op: &str, data: &[u8], md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: op.to_owned(),
        data: Bytes::copy_from_slice(data),
        metadata: md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Password login, host key pinned with hostPublicKey.
fn password_component(sshd: &Sshd) -> Vec<(&'static str, String)> {
    vec![
        ("address", sshd.address()),
        ("rootPath", sshd.root.display().to_string()),
        ("username", sshd.user.name.clone()),
        ("password", sshd.user.password.clone()),
        ("hostPublicKey", sshd.host_public_key()),
    ]
}

async fn build_with(
    pairs: &[(&'static str, String)],
) -> Result<Box<dyn OutputBinding>, BindingError> {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    build(&pairs).await
}

fn start() -> Option<Sshd> {
    Sshd::start()
}

async fn invoke(
    b: &dyn OutputBinding,
    op: &str,
    data: &[u8],
    md: &[(&str, &str)],
) -> Option<bindery_core::InvokeResponse> {
    b.invoke(call(op, data, md))
        .await
        .unwrap_or_else(|e| panic!("{op} {md:?}: {e}"))
}

#[tokio::test]
async fn create_get_list_delete_with_password() {
    let Some(sshd) = start() else {
        return;
    };
    let b = build_with(&password_component(&sshd)).await.unwrap();
    let resp = invoke(
        &*b,
        "create",
        b"hello sftp",
        &[("fileName", "reports/2024/q1.txt")],
    )
    .await
    .unwrap();
    assert_eq!(resp.data.as_ref(), br#"{"fileName":"q1.txt"}"#);
    assert_eq!(resp.metadata["fileName"], "q1.txt");
    let on_disk = sshd.root.join("reports/2024/q1.txt");
    assert_eq!(
        std::fs::read(&on_disk).unwrap(),
        b"hello sftp",
        "written by sshd"
    );
    invoke(&*b, "create", b"second", &[("fileName", "top.txt")]).await;
    // Overwrite truncates.
    invoke(&*b, "create", b"2", &[("fileName", "top.txt")]).await;

    let got = invoke(&*b, "get", b"", &[("fileName", "reports/2024/q1.txt")])
        .await
        .unwrap();
    assert_eq!(got.data.as_ref(), b"hello sftp");
    let got = invoke(&*b, "get", b"", &[("FILENAME", "top.txt")])
        .await
        .unwrap();
    assert_eq!(got.data.as_ref(), b"2");

    let list = invoke(&*b, "list", b"", &[]).await.unwrap();
    let list: Value = serde_json::from_slice(&list.data).unwrap();
    assert_eq!(
        list,
        json!([
            {"fileName": "reports", "isDirectory": true},
            {"fileName": "top.txt", "isDirectory": false},
        ])
    );
    let sub = invoke(&*b, "list", b"", &[("fileName", "reports/2024")])
        .await
        .unwrap();
    assert_eq!(
        sub.data.as_ref(),
        br#"[{"fileName":"q1.txt","isDirectory":false}]"#
    );
    // A request rootPath inside the component's root narrows it.
    let inner = sshd.root.join("reports").display().to_string();
    let got = invoke(
        &*b,
        "get",
        b"",
        &[("rootPath", &inner), ("fileName", "2024/q1.txt")],
    )
    .await
    .unwrap();
    assert_eq!(got.data.as_ref(), b"hello sftp");

    assert!(
        invoke(&*b, "delete", b"", &[("fileName", "top.txt")])
            .await
            .is_none()
    );
    assert!(!sshd.root.join("top.txt").exists());
    let err = b
        .invoke(call("get", b"", &[("fileName", "top.txt")]))
        .await
        .unwrap_err();
    let path = sshd.root.join("top.txt").display().to_string();
    assert_eq!(
        err.message(),
        format!("sftp binding error: error reading file {path}: file does not exist")
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(call("delete", b"", &[("fileName", "top.txt")]))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("sftp binding error: error remove file"),
        "{}",
        err.message()
    );
    b.close().await.unwrap();
}

#[tokio::test]
async fn private_keys_and_known_hosts() {
    let Some(sshd) = start() else {
        return;
    };
    let known_hosts = sshd.known_hosts().display().to_string();
    let base = |key: String| {
        vec![
            ("address", sshd.address()),
            ("rootPath", sshd.root.display().to_string()),
            ("username", sshd.user.name.clone()),
            ("privateKey", key),
            ("knownHostsFile", known_hosts.clone()),
        ]
    };
    let b = build_with(&base(sshd.ed25519_key())).await.unwrap();
    invoke(&*b, "create", b"by ed25519", &[("fileName", "ed.txt")]).await;
    assert_eq!(
        std::fs::read(sshd.root.join("ed.txt")).unwrap(),
        b"by ed25519"
    );

    let mut rsa = base(sshd.rsa_key_encrypted());
    rsa.push(("privateKeyPassphrase", RSA_PASSPHRASE.to_owned()));
    let b = build_with(&rsa).await.unwrap();
    let got = invoke(&*b, "get", b"", &[("fileName", "ed.txt")])
        .await
        .unwrap();
    assert_eq!(got.data.as_ref(), b"by ed25519");

    let mut wrong = base(sshd.rsa_key_encrypted());
    wrong.push(("privateKeyPassphrase", "wrong passphrase".to_owned()));
    let err = build_with(&wrong).await.err().unwrap();
    assert!(
        err.message()
            .starts_with("sftp binding error: parse private key error"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn host_keys_are_checked() {
    let Some(sshd) = start() else {
        return;
    };
    let mut pairs = password_component(&sshd);
    // A pinned key that is not the server's.
    pairs[4].1 =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2tM/6UhS3wkjGIAGSdvNJ3G426F317kvWG1Ku921ra other"
            .into();
    let err = build_with(&pairs).await.err().unwrap();
    assert!(
        err.message()
            .ends_with("ssh: handshake failed: ssh: host key mismatch"),
        "{}",
        err.message()
    );

    // A known_hosts file that does not list this server, one that lists another key for it,
    // and one that does not exist.
    let other = sshd.dir.path().join("other_known_hosts");
    std::fs::write(&other, "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2tM/6UhS3wkjGIAGSdvNJ3G426F317kvWG1Ku921ra\n").unwrap();
    pairs[4] = ("knownHostsFile", other.display().to_string());
    let err = build_with(&pairs).await.err().unwrap();
    assert!(
        err.message().ends_with("knownhosts: key is unknown"),
        "{}",
        err.message()
    );
    std::fs::write(
        &other,
        format!("[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO2tM/6UhS3wkjGIAGSdvNJ3G426F317kvWG1Ku921ra\n", sshd.port),
    )
    .unwrap();
    let err = build_with(&pairs).await.err().unwrap();
    assert!(
        err.message().ends_with("knownhosts: key mismatch"),
        "{}",
        err.message()
    );
    pairs[4] = ("knownHostsFile", "/nonexistent/known_hosts".into());
    let err = build_with(&pairs).await.err().unwrap();
    assert_eq!(
        err.message(),
        "sftp binding error: read known host file error: open /nonexistent/known_hosts: no such file or directory"
    );

    pairs[4] = ("insecureIgnoreHostKey", "true".into());
    let b = build_with(&pairs).await.unwrap();
    invoke(&*b, "list", b"", &[]).await;

    pairs.pop();
    let err = build_with(&pairs).await.err().unwrap();
    assert_eq!(
        err.message(),
        "sftp binding error: no host validation method provided"
    );

    let mut bad = password_component(&sshd);
    bad[3].1 = "not-the-password".into();
    let err = build_with(&bad).await.err().unwrap();
    assert!(
        err.message().contains("unable to authenticate"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("not-the-password"));
}

#[tokio::test]
async fn paths_that_escape_root_path_are_refused() {
    let Some(sshd) = start() else {
        return;
    };
    let b = build_with(&password_component(&sshd)).await.unwrap();
    let outside = sshd.dir.path().join("outside.txt");
    std::fs::write(&outside, "keep").unwrap();
    for md in [
        vec![("fileName", "../outside.txt")],
        vec![("fileName", "a/../../outside.txt")],
        vec![("rootPath", "/"), ("fileName", "etc/passwd")],
        vec![
            ("rootPath", sshd.dir.path().to_str().unwrap()),
            ("fileName", "outside.txt"),
        ],
    ] {
        for op in ["create", "get", "delete", "list"] {
            let err = b.invoke(call(op, b"x", &md)).await.unwrap_err();
            assert!(
                err.message().contains("escapes rootPath"),
                "{op} {md:?}: {}",
                err.message()
            );
            assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        }
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    // Go's path.Join keeps an absolute fileName under the root.
    invoke(&*b, "create", b"inside", &[("fileName", "/abs/inside.txt")]).await;
    assert_eq!(
        std::fs::read(sshd.root.join("abs/inside.txt")).unwrap(),
        b"inside"
    );
    invoke(&*b, "create", b"dots", &[("fileName", "x/../dots.txt")]).await;
    assert!(sshd.root.join("dots.txt").exists());
}

/// sshd restarts (every session killed): the next operation re-dials and succeeds; while it
/// is down, operations fail as unavailable and nothing is lost once it is back.
#[tokio::test]
async fn reconnects_after_sshd_restarts() {
    let Some(mut sshd) = start() else {
        return;
    };
    let b = build_with(&password_component(&sshd)).await.unwrap();
    invoke(&*b, "create", b"before", &[("fileName", "before.txt")]).await;

    sshd.restart();
    let got = invoke(&*b, "get", b"", &[("fileName", "before.txt")])
        .await
        .unwrap();
    assert_eq!(
        got.data.as_ref(),
        b"before",
        "first call after the restart succeeds"
    );

    sshd.kill();
    let err = b
        .invoke(call("create", b"x", &[("fileName", "during.txt")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{}", err.message());
    assert!(
        err.message().starts_with("sftp binding error: "),
        "{}",
        err.message()
    );
    sshd.restart();
    let mut written = Vec::new();
    for i in 0..20 {
        let name = format!("after-{i}.txt");
        invoke(&*b, "create", name.as_bytes(), &[("fileName", &name)]).await;
        written.push(name);
    }
    for name in &written {
        assert_eq!(
            std::fs::read(sshd.root.join(name)).unwrap(),
            name.as_bytes()
        );
    }
    bindery_testkit::faults::note(&format!(
        "FAULTS sftp sshd restart: sent={} delivered={} lost=0 failed_while_down=1",
        written.len() + 1,
        written.len() + 1
    ));
}

#[tokio::test]
async fn concurrent_and_sequential_calls() {
    let Some(sshd) = start() else {
        return;
    };
    for sequential in ["false", "true"] {
        let mut pairs = password_component(&sshd);
        pairs.push(("sequentialMode", sequential.to_owned()));
        let b: Arc<dyn OutputBinding> = Arc::from(build_with(&pairs).await.unwrap());
        let calls = (0..24).map(|i| {
            let b = b.clone();
            async move {
                let name = format!("{sequential}/file-{i:02}.bin");
                let data = vec![i as u8; 64 * 1024 + i];
                b.invoke(call("create", &data, &[("fileName", &name)]))
                    .await
                    .map(|_| (name, data))
            }
        });
        let done = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(calls))
            .await
            .expect("calls finish");
        for r in done {
            let (name, data) = r.unwrap();
            assert_eq!(
                std::fs::read(sshd.root.join(&name)).unwrap(),
                data,
                "{name}"
            );
        }
        let list = invoke(&*b, "list", b"", &[("fileName", sequential)])
            .await
            .unwrap();
        let list: Vec<Value> = serde_json::from_slice(&list.data).unwrap();
        assert_eq!(list.len(), 24);
    }
}
