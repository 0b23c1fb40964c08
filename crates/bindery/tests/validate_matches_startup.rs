//! `bindery validate` and start-up run one check: for each broken file below, both refuse it
//! and name the same file, line, component and field, in the same words. Through the real
//! binary, both ways. Files that daprd would start (a required field left empty) are a warning
//! at start-up and an error in `validate`, with the same words.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn component(name: &str, ty: &str, metadata: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {ty}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in metadata {
        text.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
    }
    text
}

fn cron(name: &str, extra: &[(&str, &str)]) -> String {
    let mut metadata = vec![("schedule", "@every 1h")];
    metadata.extend_from_slice(extra);
    component(name, "bindings.cron", &metadata)
}

/// (case, file text, component, field, line of the field).
fn cases() -> Vec<(&'static str, String, &'static str, &'static str, u32)> {
    vec![
        (
            "unknown type",
            component("ghost", "bindings.ghost", &[]),
            "ghost",
            "spec.type",
            6,
        ),
        (
            "misspelled type",
            component("c", "bindings.crn", &[]),
            "c",
            "spec.type",
            6,
        ),
        (
            "wrong version",
            cron("c", &[]).replace("version: v1", "version: v2"),
            "c",
            "spec.version",
            7,
        ),
        (
            "direction sideways",
            cron("c", &[("direction", "sideways")]),
            "c",
            "direction",
            11,
        ),
        (
            "direction typo",
            cron("c", &[("direction", "inptu")]),
            "c",
            "direction",
            11,
        ),
        (
            "dangling dead letter",
            cron("c", &[("deadLetterBinding", "nowhere")]),
            "c",
            "deadLetterBinding",
            11,
        ),
        (
            "dead letter names an input-only binding",
            format!(
                "{}---\n{}",
                cron("c", &[("deadLetterBinding", "other")]),
                cron("other", &[])
            ),
            "c",
            "deadLetterBinding",
            11,
        ),
        (
            "onDeliveryFailure",
            cron("c", &[("onDeliveryFailure", "maybe")]),
            "c",
            "onDeliveryFailure",
            11,
        ),
        (
            "deliveryAttempts",
            cron("c", &[("deliveryAttempts", "many")]),
            "c",
            "deliveryAttempts",
            11,
        ),
        (
            "maxConcurrentDeliveries",
            cron("c", &[("maxConcurrentDeliveries", "lots")]),
            "c",
            "maxConcurrentDeliveries",
            11,
        ),
        (
            "bad schedule",
            component("c", "bindings.cron", &[("schedule", "every minute")]),
            "c",
            "schedule",
            9,
        ),
        (
            "schedule missing",
            component("c", "bindings.cron", &[("other", "x")]),
            "c",
            "schedule",
            8,
        ),
        (
            "duplicate names",
            format!("{}---\n{}", cron("twice", &[]), cron("twice", &[])),
            "twice",
            "metadata.name",
            15,
        ),
        (
            "secretKeyRef without auth.secretStore",
            format!(
                "{}  - name: token\n    secretKeyRef:\n      name: t\n",
                component("c", "bindings.http", &[("url", "http://127.0.0.1:1")])
            ),
            "c",
            "token",
            11,
        ),
        (
            "secret store not loaded",
            format!(
                "{}  - name: token\n    secretKeyRef:\n      name: t\nauth:\n  secretStore: vault\n",
                component("c", "bindings.http", &[("url", "http://127.0.0.1:1")])
            ),
            "c",
            "auth.secretStore",
            15,
        ),
        (
            "metadata key given twice",
            component(
                "c",
                "bindings.http",
                &[("url", "http://a"), ("URL", "http://b")],
            ),
            "c",
            "url",
            9,
        ),
        (
            "http renegotiation",
            component(
                "c",
                "bindings.http",
                &[("url", "http://a"), ("MTLSRenegotiation", "Sometimes")],
            ),
            "c",
            "MTLSRenegotiation",
            11,
        ),
        (
            "http timeout",
            component(
                "c",
                "bindings.http",
                &[("url", "http://a"), ("responseTimeout", "soon")],
            ),
            "c",
            "responseTimeout",
            11,
        ),
        (
            "http body size",
            component(
                "c",
                "bindings.http",
                &[("url", "http://a"), ("maxResponseBodySize", "big")],
            ),
            "c",
            "maxResponseBodySize",
            11,
        ),
        (
            "localstorage root empty",
            component("c", "bindings.localstorage", &[("rootPath", "")]),
            "c",
            "rootPath",
            9,
        ),
        (
            "kafka auth type",
            component(
                "c",
                "bindings.kafka",
                &[
                    ("brokers", "127.0.0.1:1"),
                    ("authType", "magic"),
                    ("publishTopic", "t"),
                ],
            ),
            "c",
            "authType",
            11,
        ),
        (
            "rabbitmq queue missing",
            component("c", "bindings.rabbitmq", &[("host", "amqp://127.0.0.1:1")]),
            "c",
            "queueName",
            8,
        ),
        (
            "mqtt3 url missing",
            component("c", "bindings.mqtt3", &[("topic", "t")]),
            "c",
            "url",
            8,
        ),
        (
            "mysql url missing",
            component("c", "bindings.mysql", &[("maxIdleConns", "2")]),
            "c",
            "url",
            8,
        ),
        (
            "redis host missing",
            component("c", "bindings.redis", &[("redisPassword", "x")]),
            "c",
            "redisHost",
            8,
        ),
    ]
}

/// Component documents that cannot be read: daprd skips them at start-up with a log line,
/// and so does bindery (a running sidecar keeps its other components); `validate` refuses them.
fn unreadable() -> Vec<(&'static str, String, &'static str, &'static str, u32)> {
    let files = "localstorage";
    vec![
        (
            "name missing",
            cron("", &[]).replace("  name: \n", ""),
            "",
            "metadata.name",
            3,
        ),
        (
            "name with a slash",
            cron("a/b", &[]),
            "a/b",
            "metadata.name",
            4,
        ),
        (
            "type missing",
            cron("c", &[]).replace("  type: bindings.cron\n", ""),
            "c",
            "spec.type",
            5,
        ),
        (
            "version not a string",
            cron("c", &[]).replace("version: v1", "version: 1"),
            "c",
            "spec.version",
            7,
        ),
        (
            "metadata not a list",
            format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\nspec:\n  type: bindings.{files}\n  metadata: nope\n"
            ),
            "c",
            "spec.metadata",
            7,
        ),
    ]
}

fn validate(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("validate")
        .arg(dir)
        .output()
        .expect("run bindery validate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts the sidecar on `dir` and returns (exited with success, output) once it exits, or
/// `None` once it says it is ready (it is then stopped).
fn start(dir: &std::path::Path) -> (Option<bool>, String) {
    let ports: Vec<String> = (0..3)
        .map(|_| bindery_testkit::free_port().to_string())
        .collect();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut child = Command::new(BIN)
        .args(["--app-id", "check", "--resources-path"])
        .arg(dir)
        .args([
            "--dapr-http-port",
            &ports[0],
            "--dapr-grpc-port",
            &ports[1],
            "--metrics-port",
            &ports[2],
        ])
        .stdout(log.reopen().expect("log"))
        .stderr(log.reopen().expect("log"))
        .stdin(Stdio::null())
        .spawn()
        .expect("start bindery");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status.success());
        }
        let ready =
            std::fs::read_to_string(log.path()).is_ok_and(|l| l.contains("bindery is ready."));
        if ready || started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(log.path()).unwrap_or_default(),
    )
}

/// The located error text (`file:line: component "c": field f: message`) of validate's first
/// error line.
fn first_error(validate_output: &str) -> Option<&str> {
    validate_output
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
}

#[test]
fn validate_and_start_up_refuse_the_same_files_at_the_same_place() {
    let cases = cases();
    assert!(cases.len() >= 25, "at least 25 broken files");
    let mut failures = Vec::new();
    for (case, text, component, field, line) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.yaml");
        std::fs::write(&file, &text).unwrap();
        let file = file.display().to_string();
        let (valid, validate_out) = validate(dir.path());
        let (started, start_out) = start(dir.path());
        let Some(error) = first_error(&validate_out) else {
            failures.push(format!(
                "{case}: validate found no error (valid={valid}):\n{validate_out}"
            ));
            continue;
        };
        let component_part = if component.is_empty() {
            String::new()
        } else {
            format!(" component {component:?}:")
        };
        let expected = format!("{file}:{line}:{component_part} field {field}: ");
        if valid || !error.starts_with(&expected) {
            failures.push(format!(
                "{case}: validate said {error:?}, expected it to start with {expected:?}"
            ));
        }
        if started != Some(false) {
            failures.push(format!(
                "{case}: start-up did not refuse the file (exit {started:?}):\n{start_out}"
            ));
        } else if !start_out.contains(error) {
            failures.push(format!(
                "{case}: start-up did not say {error:?}:\n{start_out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn what_daprd_starts_is_a_warning_at_start_up_and_an_error_in_validate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lenient.yaml");
    // daprd's http binding initialises without a url; every call would then fail.
    std::fs::write(
        &file,
        component("web", "bindings.http", &[("urll", "http://x")]),
    )
    .unwrap();
    let (valid, out) = validate(dir.path());
    assert!(!valid, "{out}");
    let error = first_error(&out).expect("an error").to_owned();
    assert!(
        error.contains("field url: required field `url` is not set"),
        "{error}"
    );
    assert!(
        out.contains("field urll: bindings.http has no metadata field `urll`; did you mean `url`?"),
        "{out}"
    );
    let (started, start_out) = start(dir.path());
    assert_eq!(
        started, None,
        "start-up keeps daprd's leniency:\n{start_out}"
    );
    assert!(
        start_out.contains(&error),
        "the same words at start-up:\n{start_out}"
    );
    assert_eq!(
        start_out.matches(&error).count(),
        1,
        "said once:\n{start_out}"
    );
}

#[test]
fn validate_reports_every_error_of_a_component_each_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = component(
        "web",
        "bindings.http",
        &[
            ("url", "http://x"),
            ("responseTimeout", "soon"),
            ("maxResponseBodySize", "big"),
            ("direction", "sideways"),
            ("errorIfNot2XX", "maybe"),
        ],
    );
    std::fs::write(dir.path().join("many.yaml"), text).unwrap();
    let (valid, out) = validate(dir.path());
    assert!(!valid);
    for (line, field) in [
        (11, "responseTimeout"),
        (13, "maxResponseBodySize"),
        (15, "direction"),
    ] {
        assert!(
            out.contains(&format!(
                "many.yaml:{line}: component \"web\": field {field}: "
            )),
            "{field} at {line}:\n{out}"
        );
    }
    assert!(
        out.contains("warning: ") && out.contains("\"maybe\" is not a boolean; it reads as false"),
        "{out}"
    );
    assert!(out.contains("3 error(s) and 1 warning(s)"), "{out}");
    let (_, strict) = {
        let o = Command::new(BIN)
            .arg("validate")
            .arg("--strict")
            .arg(dir.path())
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert!(strict.contains("4 error(s) in 1 component(s)"), "{strict}");
}

#[test]
fn validate_refuses_a_folder_with_nothing_to_load() {
    let empty = tempfile::tempdir().unwrap();
    let (valid, out) = validate(empty.path());
    assert!(!valid && out.contains("nothing to load"), "{out}");
    let typo = tempfile::tempdir().unwrap();
    std::fs::write(
        typo.path().join("c.yaml"),
        cron("c", &[]).replace("kind: Component", "kind: Componnet"),
    )
    .unwrap();
    let (valid, out) = validate(typo.path());
    assert!(!valid && out.contains("nothing to load"), "{out}");
    assert!(out.contains("c.yaml:2: component \"c\": field kind: kind `Componnet` is not a Dapr resource kind, so the document is skipped; did you mean `Component`?"), "{out}");
}

#[test]
fn a_misspelled_value_key_is_named_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  metadata:\n  - name: schedule\n    vaule: \"@every 1s\"\n";
    std::fs::write(dir.path().join("c.yaml"), text).unwrap();
    let (_, out) = validate(dir.path());
    assert!(out.contains("c.yaml:9: component \"tick\": field spec.metadata[0].vaule: `vaule` is not a key daprd reads here, so it is ignored; did you mean `value`?"), "{out}");
    assert!(
        out.contains("--> ") && out.contains(":9:5"),
        "the column is shown:\n{out}"
    );
}

#[test]
fn an_unreadable_component_is_refused_by_validate_and_skipped_at_start_up_as_daprd_does() {
    let mut failures = Vec::new();
    for (case, text, component, field, line) in unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.yaml");
        std::fs::write(&file, &text).unwrap();
        let file = file.display().to_string();
        let (valid, validate_out) = validate(dir.path());
        let error = first_error(&validate_out).unwrap_or_default().to_owned();
        let component_part = if component.is_empty() {
            String::new()
        } else {
            format!(" component {component:?}:")
        };
        let expected = format!("{file}:{line}:{component_part} field {field}: ");
        if valid || !error.starts_with(&expected) {
            failures.push(format!(
                "{case}: validate said {error:?}, expected {expected:?}"
            ));
        }
        let (started, start_out) = start(dir.path());
        if started.is_some() || !start_out.contains(&error) {
            failures.push(format!(
                "{case}: start-up should skip it saying {error:?}:\n{start_out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
