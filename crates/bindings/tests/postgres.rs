//! `bindings.postgres` against the real PostgreSQL on this machine (`POSTGRES_URL`, default
//! `host=127.0.0.1 user=postgres dbname=test`).
#![cfg(feature = "postgres")]

use std::collections::HashMap;
use std::time::Duration;

use bindery_bindings::postgres::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, InvokeResponse, OutputBinding, Properties,
};

fn url() -> String {
    std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned())
}

async fn build_with(props: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new(
        "pg-test".to_owned(),
        Properties::from_pairs(props.iter().copied()),
        "test".to_owned(),
    );
    (DESCRIPTOR.build_output.unwrap())(cx).await
}

/// Builds the binding, or `None` (SKIP) when the server is not there outside CI.
async fn build() -> Option<Box<dyn OutputBinding>> {
    let u = url();
    match build_with(&[("connectionString", u.as_str())]).await {
        Ok(b) => Some(b),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "postgres not reachable at {u}: {e} (CI is set)"
            );
            eprintln!("SKIP: postgres not reachable at {u}: {e}");
            None
        }
    }
}

fn req(op: &str, sql: &str, params: Option<&str>) -> InvokeRequest {
    let mut metadata = HashMap::new();
    if !sql.is_empty() {
        metadata.insert("sql".to_owned(), sql.to_owned());
    }
    if let Some(p) = params {
        metadata.insert("params".to_owned(), p.to_owned());
    }
    InvokeRequest {
        operation: op.to_owned(),
        data: Default::default(),
        metadata,
    }
}

fn table() -> String {
    format!("bindery_{}", uuid::Uuid::new_v4().simple())
}

async fn run(b: &dyn OutputBinding, op: &str, sql: &str, params: Option<&str>) -> InvokeResponse {
    b.invoke(req(op, sql, params))
        .await
        .unwrap_or_else(|e| panic!("{op} {sql}: {e}"))
        .expect("a response")
}

fn text(r: &InvokeResponse) -> &str {
    std::str::from_utf8(&r.data).unwrap()
}

fn check_times(md: &HashMap<String, String>) {
    for key in ["start-time", "end-time"] {
        let v = &md[key];
        assert!(v.ends_with('Z'), "{key} {v}");
        chrono::DateTime::parse_from_rfc3339(v).unwrap_or_else(|e| panic!("{key} {v}: {e}"));
    }
    let d = &md["duration"];
    assert!(
        d.ends_with("ns") || d.ends_with("µs") || d.ends_with("ms") || d.ends_with('s'),
        "duration {d}"
    );
}

#[tokio::test]
async fn certification_flow() {
    let Some(b) = build().await else { return };
    let t = table();
    let r = run(
        &*b,
        "exec",
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY, c1 TEXT, ts TIMESTAMP)"),
        None,
    )
    .await;
    assert!(r.data.is_empty(), "exec answers empty data");
    assert_eq!(r.metadata["operation"], "exec");
    assert_eq!(r.metadata["rows-affected"], "0");
    check_times(&r.metadata);

    let r = run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} (id, c1, ts) VALUES (1, 'demo', '2020-09-24T11:45:05Z07:00')"),
        None,
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "1");
    let r = run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} (id, c1, ts) VALUES ($1, $2, $3)"),
        Some(r#"[2, "demo2", "2021-01-02T03:04:05Z"]"#),
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "1");
    assert_eq!(
        r.metadata["sql"],
        format!("INSERT INTO {t} (id, c1, ts) VALUES ($1, $2, $3)")
    );

    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} WHERE id = 1"),
        None,
    )
    .await;
    assert_eq!(text(&r), r#"[[1,"demo","2020-09-24T11:45:05Z"]]"#);
    assert_eq!(r.metadata["operation"], "query");
    assert_eq!(r.metadata["sql"], format!("SELECT * FROM {t} WHERE id = 1"));
    assert!(!r.metadata.contains_key("rows-affected"));
    check_times(&r.metadata);

    let r = run(
        &*b,
        "query",
        &format!("SELECT id, c1 FROM {t} WHERE id = ANY($1) ORDER BY id"),
        Some("[[1, 2]]"),
    )
    .await;
    assert_eq!(text(&r), r#"[[1,"demo"],[2,"demo2"]]"#);

    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} WHERE id = $1"),
        Some("[99]"),
    )
    .await;
    assert_eq!(text(&r), "[]");

    let r = run(
        &*b,
        "exec",
        &format!("UPDATE {t} SET c1 = $1"),
        Some(r#"["x"]"#),
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "2");
    run(&*b, "exec", &format!("DROP TABLE {t}"), None).await;

    // close, then every exec/query fails; close itself keeps succeeding.
    assert!(b.invoke(req("close", "", None)).await.unwrap().is_none());
    let err = b.invoke(req("query", "SELECT 1", None)).await.unwrap_err();
    assert_eq!(err.message(), "component is closed");
    assert_eq!(err.kind(), ErrorKind::Closed);
    let err = b.invoke(req("exec", "SELECT 1", None)).await.unwrap_err();
    assert_eq!(err.message(), "component is closed");
    assert!(b.invoke(req("close", "", None)).await.unwrap().is_none());
}

#[tokio::test]
async fn value_encodings_follow_go() {
    let Some(b) = build().await else { return };
    let sql = r#"SELECT 1::int2, 2::int4, 9007199254740993::int8, 1.5::float4, 2.25::float8,
        12345678901234567890.50::numeric, 'a<b'::text, 'v'::varchar, true, NULL::int,
        '{"b":1,"a":[1,"x"]}'::jsonb, '[1,2]'::json, '\x010203'::bytea,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '2020-09-24'::date,
        '2020-09-24 11:45:05.123+00'::timestamptz, ARRAY[1,2,3], ARRAY['x',NULL],
        '01:02:03'::time, 'c'::char(3)"#;
    let r = run(&*b, "query", sql, None).await;
    assert_eq!(
        text(&r),
        concat!(
            r#"[[1,2,9007199254740993,1.5,2.25,12345678901234567890.50,"a\u003cb","v",true,null,"#,
            r#"{"a":[1,"x"],"b":1},[1,2],"AQID","a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","2020-09-24T00:00:00Z","#,
            r#""2020-09-24T11:45:05.123Z",[1,2,3],["x",null],"01:02:03","c  "]]"#
        )
    );
    // Several rows, and the whole result is valid JSON.
    let r = run(
        &*b,
        "query",
        "SELECT g, g::text FROM generate_series(1,3) g",
        None,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
    assert_eq!(v, serde_json::json!([[1, "1"], [2, "2"], [3, "3"]]));
}

#[tokio::test]
async fn params_bind_to_statement_types() {
    let Some(b) = build().await else { return };
    let t = table();
    run(
        &*b,
        "exec",
        &format!("CREATE TABLE {t} (id BIGINT, price NUMERIC(10,2), ok BOOLEAN, tags TEXT[], doc JSONB, at TIMESTAMPTZ, u UUID)"),
        None,
    )
    .await;
    let r = run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        Some(r#"[7, 19.99, true, ["a", "b c"], {"k": [1, 2]}, "2022-01-28T10:04:55Z", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]"#),
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "1");
    run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} (id) VALUES ($1)"),
        Some("[8]"),
    )
    .await;
    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} ORDER BY id"),
        None,
    )
    .await;
    assert_eq!(
        text(&r),
        r#"[[7,19.99,true,["a","b c"],{"k":[1,2]},"2022-01-28T10:04:55Z","a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],[8,null,null,null,null,null,null]]"#
    );
    let r = run(
        &*b,
        "query",
        &format!("SELECT id FROM {t} WHERE ok = $1 AND price > $2"),
        Some("[true, \"10\"]"),
    )
    .await;
    assert_eq!(text(&r), "[[7]]");
    let r = run(
        &*b,
        "query",
        &format!("SELECT id FROM {t} WHERE doc @> $1"),
        Some(r#"[{"k":[2]}]"#),
    )
    .await;
    assert_eq!(text(&r), "[[7]]");
    let r = run(
        &*b,
        "query",
        &format!("SELECT id FROM {t} WHERE price IS NULL AND id = $1"),
        Some("[8.0]"),
    )
    .await;
    assert_eq!(text(&r), "[[8]]");
    run(&*b, "exec", &format!("DROP TABLE {t}"), None).await;
}

#[tokio::test]
async fn multi_statement_exec_without_params() {
    let Some(b) = build().await else { return };
    let t = table();
    let r = run(
        &*b,
        "exec",
        &format!("CREATE TABLE {t} (id INT); INSERT INTO {t} VALUES (1), (2), (3)"),
        None,
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "3");
    let r = run(
        &*b,
        "exec",
        &format!("DELETE FROM {t} WHERE id > $1"),
        Some("[1]"),
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "2");
    run(&*b, "exec", &format!("DROP TABLE {t}"), None).await;
}

#[tokio::test]
async fn request_errors_use_daprd_texts() {
    let Some(b) = build().await else { return };
    let err = b.invoke(req("exec", "", None)).await.unwrap_err();
    assert_eq!(err.message(), "required metadata not set: sql");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b.invoke(req("query", "", None)).await.unwrap_err();
    assert_eq!(err.message(), "required metadata not set: sql");

    let err = b
        .invoke(req("query", "SELECT $1::int", Some("{\"a\":1}")))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "invalid metadata property params: failed to unserialize into an array: json: cannot unmarshal object into Go value of type []interface {}"
    );
    let err = b
        .invoke(req("query", "SELECT $1::int", Some("[1,")))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("invalid metadata property params: failed to unserialize into an array: ")
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    let err = b.invoke(req("query", "SELEC 1", None)).await.unwrap_err();
    assert_eq!(
        err.message(),
        r#"error executing query: ERROR: syntax error at or near "SELEC" (SQLSTATE 42601)"#
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b.invoke(req("exec", "SELEC 1", None)).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("error executing query: ERROR: syntax error"),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    let t = table();
    run(
        &*b,
        "exec",
        &format!("CREATE TABLE {t} (id INT PRIMARY KEY)"),
        None,
    )
    .await;
    run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} VALUES ($1)"),
        Some("[1]"),
    )
    .await;
    let err = b
        .invoke(req(
            "exec",
            &format!("INSERT INTO {t} VALUES ($1)"),
            Some("[1]"),
        ))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("(SQLSTATE 23505)"),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(req(
            "exec",
            &format!("INSERT INTO {t} VALUES ($1)"),
            Some("[\"nope\"]"),
        ))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("(SQLSTATE 22P02)"),
        "{}",
        err.message()
    );
    // Wrong number of parameters.
    let err = b
        .invoke(req(
            "query",
            &format!("SELECT * FROM {t} WHERE id = $1"),
            None,
        ))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("error executing query: "),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    run(&*b, "exec", &format!("DROP TABLE {t}"), None).await;
}

#[tokio::test]
async fn connection_fields_and_url_form() {
    let Some(_) = build().await else { return };
    // URL form with pgx pool keys, plus a field override of the database.
    let b = build_with(&[
        ("url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&pool_max_conns=2&pool_min_conns=1&application_name=bindery"),
        ("database", "test"),
        ("timeoutInSeconds", "5"),
        ("maxConns", "3"),
        ("connectionMaxIdleTime", "30s"),
        ("queryExecMode", "simple_protocol"),
    ])
    .await
    .unwrap();
    let r = run(
        &*b,
        "query",
        "SELECT current_database(), current_setting('application_name')",
        None,
    )
    .await;
    assert_eq!(text(&r), r#"[["test","bindery"]]"#);
    let r = run(&*b, "query", "SELECT $1::int + 1", Some("[41]")).await;
    assert_eq!(text(&r), "[[42]]");

    // Individual fields without a connection string.
    let b = build_with(&[
        ("host", "127.0.0.1"),
        ("port", "5432"),
        ("user", "postgres"),
        ("database", "test"),
    ])
    .await
    .unwrap();
    let r = run(&*b, "query", "SELECT current_user", None).await;
    assert_eq!(text(&r), r#"[["postgres"]]"#);

    // TLS as pgx's "require" (the server has a self-signed certificate).
    // This machine's server has `ssl = on`.
    let b = build_with(&[(
        "connectionString",
        "host=127.0.0.1 user=postgres dbname=test sslmode=require",
    )])
    .await
    .unwrap();
    let r = run(
        &*b,
        "query",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        None,
    )
    .await;
    assert_eq!(text(&r), "[[true]]");
    // verify-full against the snakeoil certificate must fail: verification really happens.
    let err = match build_with(&[
        (
            "connectionString",
            "host=127.0.0.1 user=postgres dbname=test sslmode=verify-full",
        ),
        ("timeout", "3s"),
    ])
    .await
    {
        Ok(_) => panic!("verify-full must refuse a self-signed certificate"),
        Err(e) => e,
    };
    assert!(
        err.message().starts_with("failed to ping the DB: "),
        "{err}"
    );
}

#[tokio::test]
async fn build_errors() {
    let err = match build_with(&[
        ("connectionString", "host=127.0.0.1 port=1 user=postgres"),
        ("timeout", "2s"),
    ])
    .await
    {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert!(
        err.message().starts_with("failed to ping the DB: "),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let err = DESCRIPTOR
        .validate(&Properties::from_pairs([
            ("connectionString", "host=h"),
            ("timeout", "100ms"),
        ]))
        .unwrap_err();
    assert_eq!(err.field, "timeout");
    assert!(DESCRIPTOR.matches("bindings.postgresql"));
    let Some(_) = build().await else { return };
    let u = url();
    let err = match build_with(&[
        ("connectionString", u.as_str()),
        ("password", "x"),
        ("user", "no_such_user_bindery"),
    ])
    .await
    {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert!(
        err.message().starts_with("failed to ping the DB: "),
        "{}",
        err.message()
    );
    assert!(!err.message().contains("password=x"), "{}", err.message());
}

#[tokio::test]
async fn concurrent_queries_share_the_pool() {
    let Some(b) = build().await else { return };
    let b: std::sync::Arc<dyn OutputBinding> = b.into();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let r = b
                .invoke(req(
                    "query",
                    "SELECT $1::int, pg_sleep(0.05)::text",
                    Some(&format!("[{i}]")),
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                std::str::from_utf8(&r.data).unwrap(),
                format!("[[{i},\"\"]]")
            );
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .unwrap()
            .unwrap();
    }
}
