//! bindings.nats survives a nats-server restart: core and JetStream input and output resume.
#![cfg(feature = "nats")]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bindery_bindings::nats::DESCRIPTOR;
use bindery_core::{
    BuildContext, Delivery, EventSink, InputContext, InputEvent, InvokeRequest, OutputBinding,
    Properties,
};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn port_open() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:4222".parse().unwrap(),
        Duration::from_millis(300),
    )
    .is_ok()
}

fn start_nats() {
    let _ = Command::new("start-stop-daemon")
        .args([
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/nats-server",
            "--",
            "-a",
            "127.0.0.1",
            "-p",
            "4222",
            "-js",
            "-sd",
            "/var/lib/nats-server",
            "-l",
            "/var/log/nats-server.log",
        ])
        .status();
    for _ in 0..100 {
        if port_open() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pid of the running nats-server, found through /proc.
fn nats_pid() -> Option<String> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.parse::<u32>().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            (exe.to_str()? == "/usr/sbin/nats-server").then_some(name)
        })
}

/// Starts nats-server again whatever happens to the test.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if !port_open() {
            start_nats();
        }
    }
}

struct Sink(mpsc::UnboundedSender<InputEvent>);

#[async_trait]
impl EventSink for Sink {
    async fn deliver(&self, event: InputEvent) -> Delivery {
        let _ = self.0.send(event);
        Ok(Bytes::new())
    }
}

fn cx(p: &Properties) -> BuildContext {
    BuildContext::new("nats", p.clone(), "app")
}

fn create(data: &str) -> InvokeRequest {
    InvokeRequest {
        operation: "create".into(),
        data: Bytes::from(data.to_owned()),
        metadata: HashMap::new(),
    }
}

/// Publishes until the input sees one message, within 30 s.
async fn resumes(
    out: &dyn OutputBinding,
    events: &mut mpsc::UnboundedReceiver<InputEvent>,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match out.invoke(create("after")).await {
            Ok(_) => {
                if let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_millis(500), events.recv()).await
                {
                    assert_eq!(&ev.data[..], b"after");
                    return;
                }
            }
            Err(e) => eprintln!("{what} output not back yet: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not resume within 30s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn core_and_jetstream_resume_after_a_server_restart() {
    let Some(pid) = nats_pid().filter(|_| port_open()) else {
        if std::env::var_os("CI").is_some() {
            panic!("nats-server not running on 127.0.0.1:4222");
        }
        eprintln!("SKIP: nats not reachable at 127.0.0.1:4222");
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let url = "nats://127.0.0.1:4222";
    let core = Properties::new(HashMap::from([
        ("natsURL".to_owned(), url.to_owned()),
        ("subject".to_owned(), format!("bindery.restart.core.{id}")),
    ]))
    .unwrap();
    let stream = format!("BINDERY_RESTART_{id}");
    let jet = Properties::new(HashMap::from([
        ("natsURL".to_owned(), url.to_owned()),
        ("subject".to_owned(), format!("bindery.restart.js.{id}")),
        ("jetStream".to_owned(), "true".to_owned()),
        ("stream".to_owned(), stream.clone()),
        ("createStream".to_owned(), "true".to_owned()),
        ("durableName".to_owned(), "restart".to_owned()),
    ]))
    .unwrap();
    let token = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut setup = Vec::new();
    for p in [&core, &jet] {
        let out = (DESCRIPTOR.build_output.unwrap())(cx(p)).await.unwrap();
        let input = (DESCRIPTOR.build_input.unwrap())(cx(p)).await.unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(input.run(InputContext::new(
            "nats",
            Arc::new(Sink(tx)),
            token.clone(),
        ))));
        setup.push((out, events));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (out, events) in setup.iter_mut() {
        out.invoke(create("before")).await.unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&ev.data[..], b"before");
    }

    let guard = Restore;
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    for _ in 0..100 {
        if !port_open() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!port_open(), "nats-server stopped");
    tokio::time::sleep(Duration::from_millis(500)).await;
    start_nats();
    drop(guard);
    assert!(port_open(), "nats-server restarted");
    let restarted = Instant::now();

    let (core_out, core_events) = &mut setup[0];
    resumes(core_out.as_ref(), core_events, "core").await;
    let (js_out, js_events) = &mut setup[1];
    resumes(js_out.as_ref(), js_events, "jetstream").await;
    eprintln!("resumed {:?} after restart", restarted.elapsed());

    token.cancel();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    for (out, _) in &setup {
        out.close().await.unwrap();
    }
    if let Ok(client) = async_nats::connect(url).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }
}
