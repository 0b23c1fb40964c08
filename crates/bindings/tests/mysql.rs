//! `bindings.mysql` against the real MariaDB on this machine (`MYSQL_URL`, default
//! `root@tcp(127.0.0.1:3306)/test`).
#![cfg(feature = "mysql")]

use std::collections::HashMap;

use bindery_bindings::mysql::DESCRIPTOR;
use bindery_core::{
    BindingError, BuildContext, ErrorKind, InvokeRequest, InvokeResponse, OutputBinding, Properties,
};

fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "root@tcp(127.0.0.1:3306)/test".to_owned())
}

async fn build_with(props: &[(&str, &str)]) -> Result<Box<dyn OutputBinding>, BindingError> {
    let cx = BuildContext::new(
        "mysql-test".to_owned(),
        Properties::from_pairs(props.iter().copied()),
        "test".to_owned(),
    );
    (DESCRIPTOR.build_output.unwrap())(cx).await
}

async fn build() -> Option<Box<dyn OutputBinding>> {
    let u = url();
    match build_with(&[("url", u.as_str())]).await {
        Ok(b) => Some(b),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "mysql not reachable at {u}: {e} (CI is set)"
            );
            eprintln!("SKIP: mysql not reachable at {u}: {e}");
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

async fn run(b: &dyn OutputBinding, op: &str, sql: &str, params: Option<&str>) -> InvokeResponse {
    b.invoke(req(op, sql, params))
        .await
        .unwrap_or_else(|e| panic!("{op} {sql}: {e}"))
        .expect("a response")
}

fn text(r: &InvokeResponse) -> &str {
    std::str::from_utf8(&r.data).unwrap()
}

fn table() -> String {
    format!("bindery_{}", uuid::Uuid::new_v4().simple())
}

fn check_times(md: &HashMap<String, String>) {
    for key in ["start-time", "end-time"] {
        let v = &md[key];
        assert!(v.ends_with('Z'), "{key} {v}");
        chrono::DateTime::parse_from_rfc3339(v).unwrap_or_else(|e| panic!("{key} {v}: {e}"));
    }
    assert!(!md["duration"].is_empty());
}

#[tokio::test]
async fn certification_flow() {
    let Some(b) = build().await else { return };
    let t = table();
    let r = run(
        &*b,
        "exec",
        &format!("CREATE TABLE {t} (id INT NOT NULL PRIMARY KEY, c1 TEXT, ts TIMESTAMP NULL)"),
        None,
    )
    .await;
    assert!(r.data.is_empty());
    assert_eq!(r.metadata["operation"], "exec");
    assert_eq!(r.metadata["rows-affected"], "0");
    check_times(&r.metadata);

    let r = run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} (id, c1, ts) VALUES (1, 'demo', '2020-09-24 11:45:05')"),
        None,
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "1");
    let r = run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} (id, c1, ts) VALUES (?, ?, ?)"),
        Some(r#"[2, "demo2", "2021-01-02 03:04:05"]"#),
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "1");
    assert_eq!(
        r.metadata["sql"],
        format!("INSERT INTO {t} (id, c1, ts) VALUES (?, ?, ?)")
    );

    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} WHERE id = 1"),
        None,
    )
    .await;
    assert_eq!(
        text(&r),
        r#"[{"c1":"demo","id":1,"ts":"2020-09-24T11:45:05Z"}]"#
    );
    assert_eq!(r.metadata["operation"], "query");
    assert!(!r.metadata.contains_key("rows-affected"));
    check_times(&r.metadata);

    // The same through the binary protocol (params).
    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} WHERE id = ?"),
        Some("[2]"),
    )
    .await;
    assert_eq!(
        text(&r),
        r#"[{"c1":"demo2","id":2,"ts":"2021-01-02T03:04:05Z"}]"#
    );

    // No rows: null, not [].
    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} WHERE id = ?"),
        Some("[99]"),
    )
    .await;
    assert_eq!(text(&r), "null");

    let r = run(
        &*b,
        "exec",
        &format!("UPDATE {t} SET c1 = ? WHERE id = ?"),
        Some(r#"["x", 1]"#),
    )
    .await;
    assert_eq!(r.metadata["rows-affected"], "1");
    run(&*b, "exec", &format!("DROP TABLE {t}"), None).await;

    assert!(b.invoke(req("close", "", None)).await.unwrap().is_none());
    let err = b.invoke(req("query", "SELECT 1", None)).await.unwrap_err();
    assert_eq!(err.message(), "component is closed");
    assert_eq!(err.kind(), ErrorKind::Closed);
    let err = b.invoke(req("exec", "SELECT 1", None)).await.unwrap_err();
    assert_eq!(err.message(), "component is closed");
    assert!(b.invoke(req("close", "", None)).await.unwrap().is_none());
}

#[tokio::test]
async fn value_shapes_follow_daprd() {
    let Some(b) = build().await else { return };
    let t = table();
    run(
        &*b,
        "exec",
        &format!(
            "CREATE TABLE {t} (id INT NOT NULL, b TINYINT(1), big BIGINT UNSIGNED, f FLOAT, d DOUBLE, \
             dec1 DECIMAL(10,2), v1 VARCHAR(20), ch CHAR(3), data LONGTEXT, j JSON, bin VARBINARY(8), \
             bl BLOB, dt DATETIME(3), dd DATE, tm TIME, e ENUM('x','y'), n INT)"
        ),
        None,
    )
    .await;
    run(
        &*b,
        "exec",
        &format!(
            "INSERT INTO {t} VALUES (1, 1, 18446744073709551615, 1.1, 2.25, 19.99, 'test-1', 'ab', \
             '{{\"key\":\"val\"}}', '{{\"a\":1}}', x'0102', x'03', '2022-01-28 10:04:55.120', '2022-01-28', \
             '10:00:01', 'y', NULL)"
        ),
        None,
    )
    .await;
    let expected = concat!(
        r#"[{"b":1,"big":18446744073709551615,"bin":"AQI=","bl":"Aw==","ch":"ab","d":2.25,"#,
        r#""data":"{\"key\":\"val\"}","dd":"2022-01-28T00:00:00Z","dec1":"19.99","dt":"2022-01-28T10:04:55.12Z","#,
        r#""e":"y","f":1.1,"id":1,"j":"{\"a\":1}","tm":"10:00:01","v1":"test-1"}]"#
    );
    // Text protocol and binary protocol give the same JSON.
    let r = run(&*b, "query", &format!("SELECT * FROM {t}"), None).await;
    assert_eq!(text(&r), expected);
    let r = run(
        &*b,
        "query",
        &format!("SELECT * FROM {t} WHERE id = ?"),
        Some("[1]"),
    )
    .await;
    assert_eq!(text(&r), expected);

    // NULLs: omitted, except binary columns and the NULL type, which daprd shows as null.
    run(
        &*b,
        "exec",
        &format!("INSERT INTO {t} (id) VALUES (?)"),
        Some("[2]"),
    )
    .await;
    let r = run(
        &*b,
        "query",
        &format!("SELECT id, n, v1, bin, dt FROM {t} WHERE id = 2"),
        None,
    )
    .await;
    assert_eq!(text(&r), r#"[{"bin":null,"id":2}]"#);
    let r = run(&*b, "query", "SELECT NULL AS x, 1 AS y", None).await;
    assert_eq!(text(&r), r#"[{"x":null,"y":1}]"#);
    run(&*b, "exec", &format!("DROP TABLE {t}"), None).await;
}

#[tokio::test]
async fn params_of_each_json_type() {
    let Some(b) = build().await else { return };
    let r = run(
        &*b,
        "query",
        "SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e",
        Some(r#"[1, 2.5, "s", true, null]"#),
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap();
    assert_eq!(v[0]["a"], serde_json::json!(1));
    assert_eq!(v[0]["b"], serde_json::json!(2.5));
    assert_eq!(v[0]["c"], serde_json::json!("s"));
    assert_eq!(v[0]["d"], serde_json::json!(1));
    assert!(v[0].get("e").is_none_or(|e| e.is_null()));
}

#[tokio::test]
async fn request_errors_use_daprd_texts() {
    let Some(b) = build().await else { return };
    let err = b.invoke(req("exec", "", None)).await.unwrap_err();
    assert_eq!(err.message(), "required metadata not set: sql");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(req("query", "SELECT ?", Some("{}")))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "invalid metadata property params: failed to unserialize into an array: json: cannot unmarshal object into Go value of type []interface {}"
    );
    let err = b.invoke(req("query", "SELEC 1", None)).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("error executing query: Error 1064 (42000): "),
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
        &format!("INSERT INTO {t} VALUES (?)"),
        Some("[1]"),
    )
    .await;
    let err = b
        .invoke(req(
            "exec",
            &format!("INSERT INTO {t} VALUES (?)"),
            Some("[1]"),
        ))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("error executing query: Error 1062 (23000): Duplicate entry"),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    // Wrong number of parameters.
    let err = b
        .invoke(req(
            "query",
            &format!("SELECT * FROM {t} WHERE id = ?"),
            Some("[1, 2]"),
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
async fn build_errors_and_pool_fields() {
    let err = match build_with(&[("url", "not a dsn")]).await {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert_eq!(
        err.message(),
        "illegal Data Source Name (DSN) specified by url"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = match build_with(&[("url", "root@tcp(127.0.0.1:1)/test?timeout=2s")]).await {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert!(
        err.message().starts_with("unable to ping the DB: "),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let Some(_) = build().await else { return };
    let u = url();
    let b = build_with(&[
        (
            "url",
            format!("{u}?allowNativePasswords=true&parseTime=false&sql_mode=ANSI_QUOTES").as_str(),
        ),
        ("maxIdleConns", "1"),
        ("maxOpenConns", "2"),
        ("connMaxLifetime", "1m"),
        ("connMaxIdleTime", "10s"),
    ])
    .await
    .unwrap();
    // parseTime is forced; the unknown DSN parameter is a session variable.
    let r = run(
        &*b,
        "query",
        "SELECT CAST('2022-01-28 10:04:55' AS DATETIME) AS t, @@SESSION.sql_mode AS m",
        None,
    )
    .await;
    assert_eq!(
        text(&r),
        r#"[{"m":"ANSI_QUOTES","t":"2022-01-28T10:04:55Z"}]"#
    );
    let err = match build_with(&[("url", u.as_str()), ("maxOpenConns", "x")]).await {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert!(err.message().contains("maxOpenConns"), "{err}");
}
