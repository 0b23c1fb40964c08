//! `bindings.graphql` against a real GraphQL server: graphql-core (the reference
//! implementation's Python port) behind a small HTTP server, started per test on a free
//! loopback port (`crates/testkit/servers/graphql_server.py`).
#![cfg(feature = "graphql")]

use bindery_bindings::graphql::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties,
};
use bindery_testkit::notify::GraphqlServer;
use bytes::Bytes;
use serde_json::{Value, json};

async fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new("gql", Properties::from_pairs(pairs.iter().copied()), "test");
    (DESCRIPTOR.build_output.unwrap())(cx).await
}

fn call(op: &str, md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: op.to_owned(),
        data: Bytes::new(),
        metadata: md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn json_of(data: &Bytes) -> Value {
    serde_json::from_slice(data)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(data)))
}

#[tokio::test]
async fn query_with_variables_and_headers() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let url = server.url("/graphql");
    let b = build(&[
        ("endpoint", &url),
        ("header:X-Tenant", "acme"),
        ("header:X-Both", "component"),
    ])
    .await
    .unwrap();
    let resp = b
        .invoke(call(
            "query",
            &[
                (
                    "query",
                    "  query($name: String, $id: ID!) { hello(name: $name) tenant: header(name: \"X-Tenant\") \
                     both: header(name: \"X-Both\") one: header(name: \"X-Request\") book(id: $id) { title author } }",
                ),
                ("variable:name", "Ada"),
                ("variable:id", "1"),
                ("header:X-Request", "per-call"),
                ("header:X-Both", "request"),
                ("unrelated", "ignored"),
            ],
        ))
        .await
        .unwrap()
        .expect("an answer");
    assert_eq!(
        json_of(&resp.data),
        json!({
            "hello": "Hello, Ada!",
            "tenant": "acme",
            "both": "request",
            "one": "per-call",
            "book": {"title": "Dune", "author": "Frank Herbert"},
        })
    );
    // Go re-encodes the data: keys sorted.
    let text = String::from_utf8(resp.data.to_vec()).unwrap();
    assert!(text.starts_with("{\"book\":"), "{text}");
    assert_eq!(resp.metadata["operation"], "query");
    for key in ["start-time", "end-time"] {
        chrono::DateTime::parse_from_rfc3339(&resp.metadata[key])
            .unwrap_or_else(|e| panic!("{key}={}: {e}", resp.metadata[key]));
    }
    let duration = &resp.metadata["duration"];
    assert!(duration.ends_with('s'), "Go duration: {duration}");
}

#[tokio::test]
async fn mutation_then_query_sees_it() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let url = server.url("/graphql");
    let b = build(&[("endpoint", &url)]).await.unwrap();
    let resp = b
        .invoke(call(
            "mutation",
            &[
                (
                    "mutation",
                    "mutation($t: String!, $a: String) { addBook(title: $t, author: $a) { id title author } }",
                ),
                ("variable:t", "Emma <2nd ed.>"),
                ("variable:a", "Jane Austen"),
            ],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        json_of(&resp.data),
        json!({"addBook": {"id": "2", "title": "Emma <2nd ed.>", "author": "Jane Austen"}})
    );
    let text = String::from_utf8(resp.data.to_vec()).unwrap();
    assert!(
        text.contains("\\u003c2nd ed.\\u003e"),
        "Go escapes <>: {text}"
    );
    assert_eq!(resp.metadata["operation"], "mutation");
    let resp = b
        .invoke(call("query", &[("query", "query { books { title } }")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        json_of(&resp.data),
        json!({"books": [{"title": "Dune"}, {"title": "Emma <2nd ed.>"}]})
    );
}

#[tokio::test]
async fn graphql_errors_read_as_daprd() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let url = server.url("/graphql");
    let b = build(&[("endpoint", &url)]).await.unwrap();
    // A resolver error (HTTP 200 with data and errors).
    let err = b
        .invoke(call("query", &[("query", "query { fail }")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "GraphQL Error: graphql: the resolver failed on purpose"
    );
    // A document the server refuses (HTTP 400 with errors).
    let err = b
        .invoke(call("query", &[("query", "query { nope }")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "GraphQL Error: graphql: Cannot query field 'nope' on type 'Query'."
    );
    // A variable of the wrong type: variables are strings, as in daprd.
    let err = b
        .invoke(call(
            "query",
            &[("query", "query($id: ID!) { book(id: $id) { title } }")],
        ))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("GraphQL Error: graphql: Variable '$id'"),
        "{}",
        err.message()
    );

    // Checked before anything is sent.
    let err = b
        .invoke(call("query", &[("query", "{ books { title } }")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "GraphQL Error: command is not a query");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(call(
            "mutation",
            &[("mutation", "query { books { title } }")],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "GraphQL Error: command is not a mutation");
    let err = b
        .invoke(call("query", &[("mutation", "mutation { x }")]))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "GraphQL Error: required \"query\" not set");
    let err = b
        .invoke(call("create", &[("query", "query { a }")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "GraphQL Error: invalid operation type: create. Expected query or mutation"
    );
}

#[tokio::test]
async fn non_graphql_answers_and_unreachable_servers() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let q = [("query", "query { books { title } }")];
    let b = build(&[("endpoint", &server.url("/broken"))])
        .await
        .unwrap();
    let err = b.invoke(call("query", &q)).await.unwrap_err();
    assert_eq!(
        err.message(),
        "GraphQL Error: graphql: server returned a non-200 status code: 500"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let b = build(&[("endpoint", &server.url("/html"))]).await.unwrap();
    let err = b.invoke(call("query", &q)).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("GraphQL Error: decoding response: "),
        "{}",
        err.message()
    );

    let closed = format!("http://127.0.0.1:{}/graphql", bindery_testkit::free_port());
    let b = build(&[("endpoint", &closed)]).await.unwrap();
    let err = b.invoke(call("query", &q)).await.unwrap_err();
    assert!(
        err.message()
            .starts_with(&format!("GraphQL Error: Post \"{closed}\": ")),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let err = build(&[("header:X", "y")]).await.err().unwrap();
    assert_eq!(err.message(), "GraphQL Error: Missing GraphQL URL");
}
