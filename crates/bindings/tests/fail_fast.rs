//! Issue #17 point 6, "fail fast on what cannot succeed": an output call to a queue, bucket,
//! topic, table, stream, container or subject the server does not have answers an error within
//! [`BOUND`] that names it (never a hang, a retry loop or a success that drops the data), and
//! the same binding works without a restart once the target exists.
//!
//! Against the real servers: a throwaway moto or Azurite per test, the machine's PostgreSQL,
//! MariaDB, RabbitMQ and NATS with unique names. Each test prints its timings.

use std::time::{Duration, Instant};

#[allow(unused_imports)]
use bindery_core::{BindingError, ErrorKind, InvokeRequest, InvokeResponse, OutputBinding};
#[allow(unused_imports)]
use bindery_testkit::binding::{self, create, request, server_or_skip};

/// How soon an error must come back.
const BOUND: Duration = Duration::from_secs(5);

#[allow(dead_code)]
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Calls `req` and expects an error within [`BOUND`] whose message names every one of `names`;
/// answers the error and how long it took.
#[allow(dead_code)]
async fn fails_fast(
    what: &str,
    out: &dyn OutputBinding,
    req: InvokeRequest,
    names: &[&str],
) -> (BindingError, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(BOUND * 4, out.invoke(req)).await;
    let took = started.elapsed();
    let err = match result {
        Err(_) => panic!("{what}: no answer within {:?}", BOUND * 4),
        Ok(Ok(resp)) => panic!(
            "{what}: answered success (the data went nowhere) after {took:?}: {:?}",
            resp.map(|r| r.metadata)
        ),
        Ok(Err(e)) => e,
    };
    assert!(took < BOUND, "{what}: the error took {took:?}: {err}");
    for name in names {
        assert!(
            err.message().contains(name),
            "{what}: the error does not name {name:?}: {err}"
        );
    }
    println!("{what}: error in {took:?}: {err}");
    (err, took)
}

/// Calls `req` and expects success within [`BOUND`].
#[allow(dead_code)]
async fn works(what: &str, out: &dyn OutputBinding, req: InvokeRequest) -> Option<InvokeResponse> {
    let started = Instant::now();
    let resp = tokio::time::timeout(BOUND, out.invoke(req))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {BOUND:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: ok in {:?}", started.elapsed());
    resp
}

// ---------------------------------------------------------------------------------------------
// AWS (moto)

#[cfg(any(
    feature = "aws-sqs",
    feature = "aws-sns",
    feature = "aws-s3",
    feature = "aws-dynamodb",
    feature = "aws-kinesis"
))]
mod aws_support;

#[cfg(feature = "aws-sqs")]
#[tokio::test]
async fn sqs_create_to_a_missing_queue() {
    use aws_support::{output, sdk};
    use bindery_bindings::aws::sqs::DESCRIPTOR;
    let Some(moto) = bindery_testkit::moto::Moto::start() else {
        return;
    };
    let queue = unique("missing-");
    let client = aws_sdk_sqs::Client::new(&sdk(&moto).await);
    // moto loads a service on its first call (seconds on a busy machine): not the binding's time.
    client.list_queues().send().await.unwrap();
    let out = output(&DESCRIPTOR, &moto, &[("queueName", &queue)])
        .await
        .expect("the output starts without its queue, as daprd's");
    for attempt in 0..2 {
        let (e, _) = fails_fast(
            &format!("sqs create #{attempt}"),
            &*out,
            create("lost", &[]),
            &[&queue, "does not exist"],
        )
        .await;
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    }
    let url = client
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    works(
        "sqs create once the queue exists",
        &*out,
        create("found", &[]),
    )
    .await;
    let got = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = got.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["found"]);
}

#[cfg(feature = "aws-sns")]
#[tokio::test]
async fn sns_publish_to_a_missing_topic() {
    use aws_support::{output, sdk};
    use bindery_bindings::aws::sns::DESCRIPTOR;
    let Some(moto) = bindery_testkit::moto::Moto::start() else {
        return;
    };
    let name = unique("missing-");
    let arn = format!(
        "arn:aws:sns:{}:123456789012:{name}",
        bindery_testkit::moto::REGION
    );
    let client = aws_sdk_sns::Client::new(&sdk(&moto).await);
    client.list_topics().send().await.unwrap();
    let out = output(&DESCRIPTOR, &moto, &[("topicArn", &arn)])
        .await
        .expect("the output starts without its topic, as daprd's");
    let publish = || create(br#"{"message":"hi","subject":"s"}"#, &[]);
    let (e, _) = fails_fast("sns publish", &*out, publish(), &[&name]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    let made = client.create_topic().name(&name).send().await.unwrap();
    assert_eq!(made.topic_arn(), Some(arn.as_str()));
    works("sns publish once the topic exists", &*out, publish()).await;
}

#[cfg(feature = "aws-s3")]
#[tokio::test]
async fn s3_create_in_a_missing_bucket() {
    use aws_support::{output, sdk};
    use bindery_bindings::aws::s3::DESCRIPTOR;
    let Some(moto) = bindery_testkit::moto::Moto::start() else {
        return;
    };
    let bucket = unique("missing-");
    let client = aws_sdk_s3::Client::new(&sdk(&moto).await);
    client.list_buckets().send().await.unwrap();
    let out = output(
        &DESCRIPTOR,
        &moto,
        &[("bucket", &bucket), ("forcePathStyle", "true")],
    )
    .await
    .expect("the output starts without its bucket, as daprd's");
    let put = || create("data", &[("key", "k.txt")]);
    let (e, _) = fails_fast("s3 create", &*out, put(), &[&bucket]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    works("s3 create once the bucket exists", &*out, put()).await;
}

#[cfg(feature = "aws-dynamodb")]
#[tokio::test]
async fn dynamodb_create_in_a_missing_table() {
    use aws_support::{output, sdk};
    use bindery_bindings::aws::dynamodb::DESCRIPTOR;
    let Some(moto) = bindery_testkit::moto::Moto::start() else {
        return;
    };
    let table = unique("missing-");
    let client = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    client.list_tables().send().await.unwrap();
    let out = output(&DESCRIPTOR, &moto, &[("table", &table)])
        .await
        .expect("the output starts without its table, as daprd's");
    let put = || create(br#"{"id":"1","v":"x"}"#, &[]);
    let (e, _) = fails_fast("dynamodb create", &*out, put(), &[&table]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    aws_support::create_table(&client, &table).await;
    works("dynamodb create once the table exists", &*out, put()).await;
}

#[cfg(feature = "aws-kinesis")]
#[tokio::test]
async fn kinesis_create_to_a_missing_stream() {
    use aws_support::output;
    use bindery_bindings::aws::kinesis::DESCRIPTOR;
    let Some(moto) = bindery_testkit::moto::Moto::start() else {
        return;
    };
    let stream = unique("missing-");
    moto.create_stream(&unique("warm-"), 1).await;
    let out = output(&DESCRIPTOR, &moto, &[("streamName", &stream)])
        .await
        .expect("the output starts without its stream, as daprd's");
    let put = || create("data", &[("partitionKey", "p")]);
    let (e, _) = fails_fast("kinesis create", &*out, put(), &[&stream]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    moto.create_stream(&stream, 1).await;
    works("kinesis create once the stream exists", &*out, put()).await;
}

// ---------------------------------------------------------------------------------------------
// Azure Storage (Azurite)

#[cfg(all(feature = "azure-blobstorage", feature = "azure-storagequeues"))]
#[tokio::test]
async fn azure_blob_container_and_storage_queue_missing() {
    // One Azurite for both (a second one starting beside it can take over 30 s on a busy
    // 2-vCPU machine).
    let Some(az) = bindery_testkit::azurite::Azurite::require() else {
        return;
    };
    blob_create_in_a_missing_container(&az).await;
    storage_queue_deleted_after_start(&az).await;
}

#[cfg(all(feature = "azure-blobstorage", feature = "azure-storagequeues"))]
async fn blob_create_in_a_missing_container(az: &bindery_testkit::azurite::Azurite) {
    use bindery_bindings::azure::blobstorage::DESCRIPTOR;
    use bindery_testkit::azurite::{ACCOUNT, KEY};
    let container = unique("missing");
    let endpoint = az.blob_endpoint();
    let pairs = [
        ("accountName", ACCOUNT),
        ("accountKey", KEY),
        ("containerName", container.as_str()),
        ("endpoint", endpoint.as_str()),
    ];
    let build = |extra: &'static [(&'static str, &'static str)]| {
        let p = binding::props(&[&pairs[..], extra].concat());
        async move {
            (DESCRIPTOR.build_output.unwrap())(DESCRIPTOR.context("blobs", "app", p).unwrap())
                .await
                .expect("build")
        }
    };
    // daprd creates the container at start unless disableEntityManagement is set; with it set,
    // a missing container is the user's to create.
    let unmanaged = build(&[("disableEntityManagement", "true")]).await;
    let put = || create("data", &[("blobName", "b.txt")]);
    let (e, _) = fails_fast("blob create", &*unmanaged, put(), &[&container]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    let get = request("get", "", &[("blobName", "b.txt")]);
    fails_fast("blob get", &*unmanaged, get, &[&container]).await;
    let _managed = build(&[]).await;
    works("blob create once the container exists", &*unmanaged, put()).await;
}

#[cfg(all(feature = "azure-blobstorage", feature = "azure-storagequeues"))]
async fn storage_queue_deleted_after_start(az: &bindery_testkit::azurite::Azurite) {
    use bindery_bindings::azure::storagequeues::{DESCRIPTOR, QueueConfig, connect};
    use bindery_testkit::azurite::{ACCOUNT, KEY};
    let queue = unique("missing");
    let endpoint = az.queue_endpoint();
    let p = binding::props(&[
        ("accountName", ACCOUNT),
        ("accountKey", KEY),
        ("queueName", queue.as_str()),
        ("queueEndpoint", endpoint.as_str()),
    ]);
    // daprd creates the queue at start: so does bindery.
    let out =
        (DESCRIPTOR.build_output.unwrap())(DESCRIPTOR.context("q", "app", p.clone()).unwrap())
            .await
            .expect("build");
    works("storage queue create", &*out, create("one", &[])).await;
    let raw = connect(&QueueConfig::decode_quiet(&p).unwrap(), 0).unwrap();
    raw.client
        .send(
            reqwest::Method::DELETE,
            raw.url.clone(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("delete the queue");
    let (e, _) = fails_fast(
        "storage queue create after the queue was deleted",
        &*out,
        create("lost", &[]),
        &[&queue],
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    raw.create().await.expect("recreate the queue");
    works(
        "storage queue create once it exists again",
        &*out,
        create("two", &[]),
    )
    .await;
    let texts: Vec<String> = raw
        .peek(32)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["two"]);
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ (the machine's server)

#[cfg(feature = "rabbitmq")]
#[tokio::test]
async fn rabbitmq_queue_deleted_after_start_is_declared_again() {
    use bindery_bindings::rabbitmq::DESCRIPTOR;
    use bindery_testkit::amqp::url;
    use lapin::options::{BasicGetOptions, QueueDeleteOptions};
    let Some(admin) = server_or_skip(
        lapin::Connection::connect(&url(), lapin::ConnectionProperties::default()).await,
        &format!("RabbitMQ at {}", url()),
    ) else {
        return;
    };
    let ch = admin.create_channel().await.unwrap();
    let queue = unique("bindery-missing-");
    let u = url();
    let out = binding::output(
        &DESCRIPTOR,
        "rabbit",
        &[("host", u.as_str()), ("queueName", &queue)],
    )
    .await
    .expect("build");
    works("rabbitmq create", &*out, create("one", &[])).await;
    let deleted = ch
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the first message was in the queue");
    // Before: the default exchange drops a message to a queue that is gone, and the broker
    // confirms it all the same, so `create` answered success for a lost message.
    works(
        "rabbitmq create after the queue was deleted",
        &*out,
        create("two", &[]),
    )
    .await;
    let got = ch
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("the queue exists again")
        .expect("the message is in it");
    assert_eq!(&got.delivery.data[..], b"two");
    ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    out.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// NATS JetStream (the machine's server)

#[cfg(feature = "nats")]
#[tokio::test]
async fn jetstream_publish_to_a_subject_no_stream_captures() {
    use bindery_bindings::nats::DESCRIPTOR;
    let nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let Some(client) = server_or_skip(
        async_nats::connect(&nats_url).await,
        &format!("NATS at {nats_url}"),
    ) else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let subject = unique("bindery.missing.");
    let out = binding::output(
        &DESCRIPTOR,
        "nats",
        &[
            ("natsURL", nats_url.as_str()),
            ("subject", &subject),
            ("jetStream", "true"),
        ],
    )
    .await
    .expect("build");
    let (e, _) = fails_fast("jetstream create", &*out, create("lost", &[]), &[&subject]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");

    // A configured stream that does not exist: the output refuses to start, naming it.
    let stream = unique("BINDERY_MISSING_");
    let started = Instant::now();
    let refused = binding::output(
        &DESCRIPTOR,
        "nats",
        &[
            ("natsURL", nats_url.as_str()),
            ("subject", &subject),
            ("jetStream", "true"),
            ("stream", &stream),
        ],
    )
    .await;
    let took = started.elapsed();
    let e = refused.err().expect("a missing stream refuses the start");
    assert!(
        took < BOUND && e.message().contains(&stream),
        "{took:?}: {e}"
    );
    println!("jetstream output with a missing stream: refused in {took:?}: {e}");

    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let resp = works(
        "jetstream create once a stream captures it",
        &*out,
        create("found", &[]),
    )
    .await
    .expect("an ack");
    assert_eq!(resp.metadata["stream"], stream);
    js.delete_stream(&stream).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// SQL (the machine's PostgreSQL and MariaDB)

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_exec_on_a_missing_table() {
    use bindery_bindings::postgres::DESCRIPTOR;
    let u = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned());
    let Some(out) = server_or_skip(
        binding::output(&DESCRIPTOR, "pg", &[("connectionString", u.as_str())]).await,
        &format!("postgres at {u}"),
    ) else {
        return;
    };
    sql_missing_table("postgres", &*out).await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_exec_on_a_missing_table() {
    use bindery_bindings::mysql::DESCRIPTOR;
    let u =
        std::env::var("MYSQL_URL").unwrap_or_else(|_| "root@tcp(127.0.0.1:3306)/test".to_owned());
    let Some(out) = server_or_skip(
        binding::output(&DESCRIPTOR, "mysql", &[("url", u.as_str())]).await,
        &format!("mysql at {u}"),
    ) else {
        return;
    };
    sql_missing_table("mysql", &*out).await;
}

/// `exec` on a table that does not exist fails at once naming it; it works once created.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn sql_missing_table(what: &str, out: &dyn OutputBinding) {
    let table = unique("bindery_missing_");
    let exec = |sql: String| binding::sql_request("exec", &sql, None);
    let insert = || exec(format!("INSERT INTO {table} VALUES (1)"));
    let (e, _) = fails_fast(&format!("{what} exec"), out, insert(), &[&table]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    let made = exec(format!("CREATE TABLE {table} (id INT)"));
    works(&format!("{what} create table"), out, made).await;
    works(&format!("{what} exec once the table exists"), out, insert()).await;
    works(
        &format!("{what} drop table"),
        out,
        exec(format!("DROP TABLE {table}")),
    )
    .await;
}
