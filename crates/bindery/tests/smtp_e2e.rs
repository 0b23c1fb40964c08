//! `bindings.smtp` and `bindings.graphql` end to end: the real binary, Dapr's HTTP API, and
//! real servers (aiosmtpd, a graphql-core server) started by this test on loopback ports.

use bindery_testkit::notify::{GraphqlServer, SmtpOptions, SmtpServer, header};
use bindery_testkit::{Sidecar, TestApp, resources};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bindery");

fn component(name: &str, ty: &str, metadata: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {ty}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in metadata {
        out.push_str(&format!(
            "  - name: \"{k}\"\n    value: {}\n",
            serde_json::to_string(v).unwrap()
        ));
    }
    out
}

#[tokio::test]
async fn email_and_graphql_through_the_http_api() {
    let Some(smtp) = SmtpServer::start(SmtpOptions::default()) else {
        return;
    };
    let Some(gql) = GraphqlServer::start() else {
        return;
    };
    let port = smtp.port.to_string();
    let endpoint = gql.url("/graphql");
    let mail = component(
        "mail",
        "bindings.smtp",
        &[
            ("host", "127.0.0.1"),
            ("port", &port),
            ("emailFrom", "dapr@example.com"),
            ("emailTo", "ops@example.com"),
            ("subject", "Component subject"),
        ],
    );
    let graph = component(
        "gql",
        "bindings.graphql",
        &[("endpoint", &endpoint), ("header:X-Tenant", "acme")],
    );
    let dir = resources(&[("mail.yaml", &mail), ("gql.yaml", &graph)]);
    // `bindery validate --strict` takes both files: `header:<Name>` keys are graphql's own.
    let checked = std::process::Command::new(BIN)
        .args(["validate", "--strict"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let app = TestApp::start().await;
    let sidecar = Sidecar::builder(BIN)
        .resources(dir.path())
        .app_port(app.port)
        .spawn()
        .await;

    // A string `data` reaches the server unquoted; overrides apply to that email only.
    let r = sidecar
        .invoke(
            "mail",
            json!({"operation": "create", "data": "<b>first</b>",
                   "metadata": {"emailTo": "a@example.com;b@example.com", "subject": "Override"}}),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    let r = sidecar
        .invoke("mail", json!({"operation": "create", "data": "second"}))
        .await;
    assert_eq!(r.status(), 204);
    let got = smtp.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(header(&got[0], "Subject"), Some("Override"));
    assert_eq!(
        got[0]["rcpt_tos"],
        json!(["a@example.com", "b@example.com"])
    );
    assert_eq!(
        got[0]["parts"][0]["text"].as_str().unwrap().trim_end(),
        "<b>first</b>"
    );
    assert_eq!(
        header(&got[1], "Subject"),
        Some("Component subject"),
        "the override leaked"
    );
    assert_eq!(
        got[1]["rcpt_tos"],
        json!(["ops@example.com"]),
        "the override leaked"
    );

    let r = sidecar
        .invoke(
            "mail",
            json!({"operation": "create", "metadata": {"priority": "9"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["errorCode"], "ERR_INVOKE_OUTPUT_BINDING");
    assert_eq!(
        v["message"],
        "error invoking output binding mail: smtp binding error:  priority value must be between 1 (highest) and 5 (lowest)"
    );

    let r = sidecar
        .invoke(
            "gql",
            json!({"operation": "query", "metadata": {
                "query": "query($id: ID!) { book(id: $id) { title } tenant: header(name: \"X-Tenant\") }",
                "variable:id": "1"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["metadata.operation"], "query");
    assert!(r.headers().contains_key("metadata.duration"));
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v, json!({"book": {"title": "Dune"}, "tenant": "acme"}));

    let r = sidecar
        .invoke(
            "gql",
            json!({"operation": "query", "metadata": {"query": "{ books { title } }"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        v["message"],
        "error invoking output binding gql: GraphQL Error: command is not a query"
    );
    let r = sidecar
        .invoke(
            "gql",
            json!({"operation": "create", "metadata": {"query": "query { a }"}}),
        )
        .await;
    assert_eq!(r.status(), 500);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        v["message"],
        "error invoking output binding gql: binding gql does not support operation create. supported operations:query mutation",
        "create is not a graphql operation, whatever metadata.yaml says"
    );
}
