//! moto, the AWS emulator, in server mode for the AWS binding tests.
//!
//! `scripts/install-moto.sh` installs it into `${BINDERY_CACHE:-<repo>/.cache}/moto`. Each
//! [`Moto`] is its own `moto_server -H 127.0.0.1 -p <free port>` (moto keeps everything in
//! memory, so tests never see each other's buckets or queues); dropping it kills the server.
//! Outside CI a missing moto is a SKIP, under `CI=true` a failure.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Region and fake keys moto accepts.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// Where `scripts/install-moto.sh` puts `moto_server`.
pub fn moto_server_path() -> PathBuf {
    let root = std::env::var_os("BINDERY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache"));
    root.join("moto/bin/moto_server")
}

/// A running moto server on a loopback port; killed on drop.
pub struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    /// Starts a fresh server, or returns `None` (after printing SKIP) when moto is not
    /// installed outside CI. Panics under CI when it is missing or does not come up.
    pub fn start() -> Option<Self> {
        let path = moto_server_path();
        if !crate::faults::require(path.exists(), "moto (run scripts/install-moto.sh)") {
            return None;
        }
        let mut moto = Self {
            child: None,
            port: crate::free_port(),
        };
        moto.spawn();
        Some(moto)
    }

    fn spawn(&mut self) {
        let child = Command::new(moto_server_path())
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (all its state is lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The component metadata that points a binding at this server with moto's fake keys.
    pub fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("endpoint".into(), self.endpoint()),
            ("region".into(), REGION.into()),
            ("accessKey".into(), ACCESS_KEY.into()),
            ("secretKey".into(), SECRET_KEY.into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Moto {
    /// Creates an SQS queue through moto's query API (moto checks no signature) and returns its
    /// URL; `.fifo` names get a FIFO queue. For tests that have no AWS SDK at hand.
    pub async fn create_queue(&self, name: &str, visibility_timeout_secs: u32) -> String {
        let mut form = vec![
            ("Action".to_owned(), "CreateQueue".to_owned()),
            ("QueueName".to_owned(), name.to_owned()),
            (
                "Attribute.1.Name".to_owned(),
                "VisibilityTimeout".to_owned(),
            ),
            (
                "Attribute.1.Value".to_owned(),
                visibility_timeout_secs.to_string(),
            ),
        ];
        if name.ends_with(".fifo") {
            form.push(("Attribute.2.Name".into(), "FifoQueue".into()));
            form.push(("Attribute.2.Value".into(), "true".into()));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let resp = reqwest::Client::new()
            .post(self.endpoint())
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body)
            .send()
            .await
            .expect("moto CreateQueue");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "CreateQueue: {status} {text}");
        text.split("<QueueUrl>")
            .nth(1)
            .and_then(|t| t.split("</QueueUrl>").next())
            .unwrap_or_default()
            .to_owned()
    }
}

impl Moto {
    /// Creates an S3 bucket through moto's REST API (path style; moto checks no signature).
    /// For tests that have no AWS SDK at hand.
    pub async fn create_bucket(&self, name: &str) {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .expect("moto CreateBucket");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "CreateBucket: {status} {text}");
    }
}

impl Moto {
    /// Creates a Kinesis stream through moto's JSON API and waits until it is active.
    pub async fn create_stream(&self, name: &str, shards: u32) {
        let call = |target: &'static str, body: serde_json::Value| {
            reqwest::Client::new()
                .post(self.endpoint())
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", format!("Kinesis_20131202.{target}"))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
                )
                .body(body.to_string())
                .send()
        };
        let resp = call(
            "CreateStream",
            serde_json::json!({"StreamName": name, "ShardCount": shards}),
        )
        .await
        .expect("moto CreateStream");
        assert!(
            resp.status().is_success(),
            "CreateStream: {}",
            resp.status()
        );
        for _ in 0..100 {
            let resp = call(
                "DescribeStreamSummary",
                serde_json::json!({"StreamName": name}),
            )
            .await
            .expect("moto DescribeStreamSummary");
            let text = resp.text().await.unwrap_or_default();
            if text.contains("\"ACTIVE\"") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("stream {name} did not become active");
    }
}
