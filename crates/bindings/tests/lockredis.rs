//! `lock.redis` against a real `redis-server` (a throwaway one on a free port): Dapr's TryLock
//! and Unlock semantics, and bindery's renew.
#![cfg(feature = "lockredis")]

use std::collections::HashMap;
use std::time::Duration;

use bindery_bindings::lockredis::DESCRIPTOR;
use bindery_core::Properties;
use bindery_core::lock::UnlockStatus;
use bindery_testkit::deploy::RedisServer;
use bindery_testkit::faults;

#[tokio::test]
async fn try_lock_renew_and_unlock_follow_dapr() {
    let Some(redis) = RedisServer::start() else {
        faults::require(false, "redis-server");
        return;
    };
    let properties =
        Properties::new(HashMap::from([("redisHost".to_owned(), redis.address())])).unwrap();
    let store = (DESCRIPTOR.build)(properties).await.expect("connects");
    let ttl = Duration::from_millis(400);
    assert!(
        store.try_lock("r", "a", ttl).await.unwrap(),
        "free: a takes it"
    );
    assert!(
        !store.try_lock("r", "b", ttl).await.unwrap(),
        "held: b cannot"
    );
    assert!(
        !store.try_lock("r", "a", ttl).await.unwrap(),
        "TryLock is not re-entrant"
    );
    assert!(
        !store.renew("r", "b", ttl).await.unwrap(),
        "only the owner renews"
    );
    // Renewing keeps it past its first expiry.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.renew("r", "a", ttl).await.unwrap());
    }
    assert!(
        !store.try_lock("r", "b", ttl).await.unwrap(),
        "still a's after 800 ms"
    );
    assert_eq!(
        store.unlock("r", "b").await.unwrap(),
        UnlockStatus::LockBelongsToOthers
    );
    assert_eq!(store.unlock("r", "a").await.unwrap(), UnlockStatus::Success);
    assert_eq!(
        store.unlock("r", "a").await.unwrap(),
        UnlockStatus::LockDoesNotExist
    );
    // Without renewal it expires and someone else can take it.
    assert!(store.try_lock("r", "b", ttl).await.unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!store.renew("r", "b", ttl).await.unwrap(), "expired");
    assert!(store.try_lock("r", "c", ttl).await.unwrap());
}

#[tokio::test]
async fn unreachable_and_unsupported_are_refused_at_build() {
    let build = |pairs: &[(&str, &str)]| {
        let p = Properties::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap();
        (DESCRIPTOR.build)(p)
    };
    let port = bindery_testkit::free_port();
    let host = format!("127.0.0.1:{port}");
    let err = build(&[("redisHost", &host), ("dialTimeout", "1s")])
        .await
        .err()
        .expect("nothing listens");
    assert!(
        err.to_string().contains("error connecting to redis"),
        "{err}"
    );
    let err = build(&[
        ("redisHost", &host),
        ("failover", "true"),
        ("sentinelMasterName", "m"),
    ])
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("Failover is not supported"),
        "{err}"
    );
    let err = build(&[]).await.err().unwrap();
    assert!(err.to_string().contains("redisHost"), "{err}");
}
