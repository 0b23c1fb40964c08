//! `bindings.redis` against the real Redis on this machine (`REDIS_ADDR`, default
//! 127.0.0.1:6379).
#![cfg(feature = "redis")]

use std::collections::HashMap;
use std::time::Duration;

use bindery_bindings::redis::DESCRIPTOR;
use bindery_core::{BuildContext, ErrorKind, InvokeRequest, OutputBinding, Properties};
use bytes::Bytes;

fn addr() -> String {
    std::env::var("REDIS_ADDR").unwrap_or_else(|_| "127.0.0.1:6379".to_owned())
}

async fn reachable() -> bool {
    let ok = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(addr()),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis not reachable at {} (CI is set)",
            addr()
        );
        eprintln!("SKIP: redis not reachable at {}", addr());
    }
    ok
}

async fn build(
    extra: &[(&str, &str)],
) -> Result<Box<dyn OutputBinding>, bindery_core::BindingError> {
    let host = addr();
    let mut pairs = vec![("redisHost", host.as_str()), ("redisPassword", "")];
    pairs.extend_from_slice(extra);
    let cx = BuildContext::new(
        "redis-test".to_owned(),
        Properties::from_pairs(pairs),
        "test".to_owned(),
    );
    (DESCRIPTOR.build_output.unwrap())(cx).await
}

fn request(op: &str, data: &[u8], md: &[(&str, &str)]) -> InvokeRequest {
    InvokeRequest {
        operation: op.to_owned(),
        data: Bytes::copy_from_slice(data),
        metadata: md
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

fn key() -> String {
    format!("bindery-test-{}", uuid::Uuid::new_v4())
}

/// Reads a key straight from the server, to check effects independently of the binding.
async fn raw(cmd: &[&str]) -> redis::Value {
    let client = redis::Client::open(format!("redis://{}/", addr())).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut c = redis::cmd(cmd[0]);
    for a in &cmd[1..] {
        c.arg(*a);
    }
    c.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn create_get_delete_round_trip() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    let k = key();
    // Data is stored as given: JSON quotes stay.
    let out = b
        .invoke(request("create", br#""hello""#, &[("key", &k)]))
        .await
        .unwrap();
    assert!(out.is_none(), "create answers nil");
    assert_eq!(
        raw(&["GET", &k]).await,
        redis::Value::BulkString(br#""hello""#.to_vec())
    );

    let got = b
        .invoke(request("get", b"", &[("key", &k)]))
        .await
        .unwrap()
        .expect("get answers");
    assert_eq!(&got.data[..], br#""hello""#);
    assert!(got.metadata.is_empty());

    assert!(
        b.invoke(request("delete", b"", &[("key", &k)]))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(raw(&["EXISTS", &k]).await, redis::Value::Int(0));

    // A missing key answers with an empty, non-nil response (HTTP 200, empty body).
    let got = b
        .invoke(request("get", b"", &[("key", &k)]))
        .await
        .unwrap()
        .expect("non-nil");
    assert!(got.data.is_empty());
    b.close().await.unwrap();
}

#[tokio::test]
async fn binary_data_is_stored_verbatim() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    let k = key();
    let data = [0u8, 159, 146, 150, b'{', b'}'];
    b.invoke(request("create", &data, &[("key", &k)]))
        .await
        .unwrap();
    let got = b
        .invoke(request("get", b"", &[("key", &k)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], &data);
    raw(&["DEL", &k]).await;
}

#[tokio::test]
async fn get_with_delete_true_is_getdel() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    let k = key();
    b.invoke(request("create", b"v1", &[("key", &k)]))
        .await
        .unwrap();
    // Only exactly "true" deletes.
    let got = b
        .invoke(request("get", b"", &[("key", &k), ("delete", "True")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"v1");
    assert_eq!(raw(&["EXISTS", &k]).await, redis::Value::Int(1));
    let got = b
        .invoke(request("get", b"", &[("key", &k), ("delete", "true")]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"v1");
    assert_eq!(raw(&["EXISTS", &k]).await, redis::Value::Int(0));
}

#[tokio::test]
async fn create_with_ttl_sets_expiry() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    let k = key();
    b.invoke(request(
        "create",
        b"x",
        &[("key", &k), ("ttlInSeconds", "100")],
    ))
    .await
    .unwrap();
    let redis::Value::Int(ttl) = raw(&["TTL", &k]).await else {
        panic!("TTL not an int")
    };
    assert!((90..=100).contains(&ttl), "ttl {ttl}");
    b.invoke(request("create", b"x", &[("key", &k), ("ttl", "2m")]))
        .await
        .unwrap();
    let redis::Value::Int(ttl) = raw(&["TTL", &k]).await else {
        panic!()
    };
    assert!((110..=120).contains(&ttl), "ttl {ttl}");
    // Without a TTL the key is persistent again (SET clears the expiry).
    b.invoke(request("create", b"x", &[("key", &k)]))
        .await
        .unwrap();
    assert_eq!(raw(&["TTL", &k]).await, redis::Value::Int(-1));

    // A bad TTL fails with TryGetTTL's text, after the SET (daprd's order).
    let err = b
        .invoke(request("create", b"y", &[("key", &k), ("ttl", "-3")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "ttl value must be higher than zero: actual is '-3'"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = b
        .invoke(request("create", b"y", &[("key", &k), ("ttl", "abc")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "ttl value must be a valid integer: actual is 'abc'"
    );
    assert_eq!(
        raw(&["GET", &k]).await,
        redis::Value::BulkString(b"y".to_vec())
    );
    raw(&["DEL", &k]).await;
}

#[tokio::test]
async fn increment_returns_nil_and_counts() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    let k = key();
    assert!(
        b.invoke(request("increment", b"", &[("key", &k)]))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        b.invoke(request(
            "increment",
            b"ignored",
            &[("key", &k), ("ttl", "50")]
        ))
        .await
        .unwrap()
        .is_none()
    );
    let got = b
        .invoke(request("get", b"", &[("key", &k)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.data[..], b"2");
    let redis::Value::Int(ttl) = raw(&["TTL", &k]).await else {
        panic!()
    };
    assert!((40..=50).contains(&ttl), "ttl {ttl}");

    // INCR on a non-integer is a server error: not retriable.
    b.invoke(request("create", br#""text""#, &[("key", &k)]))
        .await
        .unwrap();
    let err = b
        .invoke(request("increment", b"", &[("key", &k)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(
        err.message().contains("not an integer"),
        "{}",
        err.message()
    );
    raw(&["DEL", &k]).await;
}

#[tokio::test]
async fn missing_key_is_refused_for_every_operation() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    for op in ["create", "get", "delete", "increment"] {
        for md in [&[][..], &[("key", "")][..], &[("Key", "k")][..]] {
            let err = b.invoke(request(op, b"x", md)).await.unwrap_err();
            assert_eq!(
                err.message(),
                "redis binding: missing key in request metadata",
                "{op}"
            );
            assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        }
    }
}

#[tokio::test]
async fn redis_db_selects_the_database() {
    if !reachable().await {
        return;
    }
    let b = build(&[("redisDB", "3")]).await.unwrap();
    let k = key();
    b.invoke(request("create", b"in-db3", &[("key", &k)]))
        .await
        .unwrap();
    assert_eq!(
        raw(&["EXISTS", &k]).await,
        redis::Value::Int(0),
        "not in db 0"
    );
    let client = redis::Client::open(format!("redis://{}/3", addr())).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let v: Option<String> = redis::cmd("GET")
        .arg(&k)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("in-db3"));
    let _: i64 = redis::cmd("DEL")
        .arg(&k)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn build_fails_with_daprd_text_when_unreachable() {
    // A closed port on loopback: the PING in Init fails.
    let cx = BuildContext::new(
        "redis-bad".to_owned(),
        Properties::from_pairs([
            ("redisHost", "127.0.0.1:1"),
            ("dialTimeout", "1s"),
            ("redisMaxRetries", "0"),
        ]),
        "test".to_owned(),
    );
    let err = match (DESCRIPTOR.build_output.unwrap())(cx).await {
        Ok(_) => panic!("build must fail"),
        Err(e) => e,
    };
    assert!(
        err.message()
            .starts_with("redis binding: error connecting to redis at 127.0.0.1:1: "),
        "{}",
        err.message()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn wrong_password_fails_the_build() {
    if !reachable().await {
        return;
    }
    let err = match build(&[
        ("redisPassword", "not-the-password"),
        ("redisUsername", "nobody"),
    ])
    .await
    {
        Ok(_) => panic!("build must fail"),
        Err(e) => e,
    };
    assert!(
        err.message()
            .starts_with("redis binding: error connecting to redis at "),
        "{}",
        err.message()
    );
    assert!(
        !err.message().contains("not-the-password"),
        "secret leaked: {}",
        err.message()
    );
}

#[tokio::test]
async fn failover_is_refused_at_build() {
    let err = match build(&[("failover", "true"), ("sentinelMasterName", "mymaster")]).await {
        Ok(_) => panic!("build must fail"),
        Err(e) => e,
    };
    assert_eq!(
        err.message(),
        "redis binding: failover (Redis Sentinel) is not supported by bindery"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = DESCRIPTOR
        .validate(&Properties::from_pairs([
            ("redisHost", "h"),
            ("failover", "yes"),
        ]))
        .unwrap_err();
    assert_eq!(err.field, "sentinelMasterName");
}

#[tokio::test]
async fn close_refuses_later_calls() {
    if !reachable().await {
        return;
    }
    let b = build(&[]).await.unwrap();
    b.close().await.unwrap();
    let err = b
        .invoke(request("get", b"", &[("key", "k")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn retry_options_from_certification_file_build() {
    if !reachable().await {
        return;
    }
    let b = build(&[
        ("dialTimeout", "10s"),
        ("redisMaxRetries", "5"),
        ("redisMinRetryInterval", "100ms"),
        ("redisMaxRetryInterval", "3s"),
        ("readTimeout", "-1"),
        ("poolSize", "20"),
        ("idleTimeout", "-1"),
        ("enableTLS", "false"),
    ])
    .await
    .unwrap();
    let k = key();
    b.invoke(request("create", b"ok", &[("key", &k)]))
        .await
        .unwrap();
    b.invoke(request("delete", b"", &[("key", &k)]))
        .await
        .unwrap();
}
