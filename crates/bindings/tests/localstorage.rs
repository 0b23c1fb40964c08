//! The localstorage binding built through its descriptor, against a real temporary directory.
#![cfg(feature = "localstorage")]

use std::collections::HashMap;
use std::path::Path;

use bindery_bindings::localstorage::DESCRIPTOR;
use bindery_core::{BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties};
use bytes::Bytes;

async fn build(root: &Path) -> Box<dyn OutputBinding> {
    let build = DESCRIPTOR.build_output.expect("output binding");
    build(BuildContext::new(
        "files".to_owned(),
        Properties::from_pairs([("rootPath", root.to_str().unwrap())]),
        "app".to_owned(),
    ))
    .await
    .map_err(|e| e.to_string())
    .expect("builds")
}

fn req(op: &str, file: Option<&str>, data: &[u8]) -> InvokeRequest {
    let mut metadata = HashMap::new();
    if let Some(f) = file {
        metadata.insert("fileName".to_owned(), f.to_owned());
    }
    InvokeRequest {
        operation: op.to_owned(),
        data: Bytes::copy_from_slice(data),
        metadata,
    }
}

#[tokio::test]
async fn create_get_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/root");
    let b = build(&root).await;
    assert!(root.is_dir(), "rootPath is created");
    let canon = root.canonicalize().unwrap();

    // create: HTTP-style quoted string is unquoted.
    let resp = b
        .invoke(req("create", Some("a.txt"), br#""hello""#))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&resp.data[..], br#"{"fileName":"a.txt"}"#);
    assert_eq!(std::fs::read(canon.join("a.txt")).unwrap(), b"hello");

    // Subdirectories are created; `..` inside the root is normalised.
    let resp = b
        .invoke(req("create", Some("sub/dir/../b.json"), br#"{"x":1}"#))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&resp.data[..], br#"{"fileName":"sub/b.json"}"#);

    // The base64 quirk: valid base64 is decoded before writing.
    b.invoke(req("create", Some("c.bin"), b"aGVsbG8="))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(canon.join("c.bin")).unwrap(), b"hello");

    // No fileName: a random UUID.
    let resp = b.invoke(req("create", None, b"x")).await.unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&resp.data).unwrap();
    let name = v["fileName"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&name).is_ok(), "{name}");

    // get returns raw bytes.
    let resp = b
        .invoke(req("get", Some("sub/b.json"), b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&resp.data[..], br#"{"x":1}"#);
    assert!(resp.metadata.is_empty());

    // list: absolute paths of all files, recursively, sorted like filepath.Walk.
    let resp = b.invoke(req("list", None, b"")).await.unwrap().unwrap();
    let list: Vec<String> = serde_json::from_slice(&resp.data).unwrap();
    let mut expected = vec![
        canon.join("a.txt"),
        canon.join("c.bin"),
        canon.join(&name),
        canon.join("sub/b.json"),
    ]
    .into_iter()
    .map(|p| p.to_string_lossy().into_owned())
    .collect::<Vec<_>>();
    expected.sort();
    assert_eq!(list, expected);
    let resp = b
        .invoke(req("list", Some("sub"), b""))
        .await
        .unwrap()
        .unwrap();
    let list: Vec<String> = serde_json::from_slice(&resp.data).unwrap();
    assert_eq!(
        list,
        vec![canon.join("sub/b.json").to_string_lossy().into_owned()]
    );

    // list of a file is refused; list of an empty directory is null.
    let err = b.invoke(req("list", Some("a.txt"), b"")).await.unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "unable to list files as the file specified is not a directory: {}",
            canon.join("a.txt").display()
        )
    );
    std::fs::create_dir(canon.join("empty")).unwrap();
    let resp = b
        .invoke(req("list", Some("empty"), b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&resp.data[..], b"null");

    // delete answers nothing (204), then get says file not found with the absolute path.
    assert!(
        b.invoke(req("delete", Some("a.txt"), b""))
            .await
            .unwrap()
            .is_none()
    );
    let err = b.invoke(req("get", Some("a.txt"), b"")).await.unwrap_err();
    assert_eq!(
        err.message(),
        format!("file not found: {}", canon.join("a.txt").display())
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(req("delete", Some("a.txt"), b""))
        .await
        .unwrap_err();
    assert!(err.message().starts_with("error deleting file "), "{err}");

    b.close().await.unwrap();
}

#[tokio::test]
async fn names_that_leave_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"s3cret").unwrap();
    let b = build(&root).await;
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), root.join("secretlink")).unwrap();
    std::os::unix::fs::symlink(outside.join("nothing-yet"), root.join("dangling")).unwrap();

    for (op, name) in [
        ("get", "../outside/secret"),
        ("create", "../outside/new"),
        ("get", "/etc/passwd"),
        ("create", "/tmp/x"),
        ("get", "link/secret"),
        ("create", "link/new"),
        ("list", "link"),
        ("delete", "link/secret"),
        ("get", "secretlink"),
        ("create", "secretlink"),
        ("create", "dangling"),
        ("list", ".."),
        ("delete", "a/../../outside/secret"),
    ] {
        let err = b.invoke(req(op, Some(name), b"pwned")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{op} {name}: {err}");
        assert!(
            err.message()
                .starts_with(&format!("error getting absolute path for file {name}: ")),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"s3cret");
    assert!(!outside.join("new").exists() && !outside.join("nothing-yet").exists());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
}

#[tokio::test]
async fn symlinks_inside_the_root_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let b = build(&root).await;
    std::fs::create_dir(root.join("real")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("alias")).unwrap();
    b.invoke(req("create", Some("alias/f"), br#""v""#))
        .await
        .unwrap();
    assert_eq!(std::fs::read(root.join("real/f")).unwrap(), b"v");
}

#[tokio::test]
async fn bad_roots_fail_to_build() {
    let build = DESCRIPTOR.build_output.expect("output binding");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let link = dir.path().join("to-proc");
    std::os::unix::fs::symlink("/proc", &link).unwrap();
    for (root, message) in [
        (
            file.to_str().unwrap().to_owned(),
            "failed to parse metadata: property rootPath represents a file and not a directory",
        ),
        (
            "/proc/x".to_owned(),
            "failed to parse metadata: property rootPath points to a disallowed location",
        ),
        (
            format!("{}/self", link.display()),
            "failed to parse metadata: property rootPath points to a disallowed location",
        ),
        (
            String::new(),
            "failed to parse metadata: property rootPath must not be empty",
        ),
    ] {
        let result = build(BuildContext::new(
            "files".to_owned(),
            Properties::from_pairs([("rootPath", root.as_str())]),
            "app".to_owned(),
        ))
        .await;
        match result {
            Ok(_) => panic!("{root} must be refused"),
            Err(e) => assert_eq!(e.message(), message, "{root}"),
        }
    }
}
