//! bindings.nats survives a nats-server restart (a server of the test's own, with JetStream,
//! stopped with SIGTERM and started again): core and JetStream input and output resume.
#![cfg(feature = "nats")]

use std::time::{Duration, Instant};

use bindery_bindings::nats::DESCRIPTOR;
use bindery_core::{InvokeRequest, OutputBinding};
use bindery_testkit::binding;
use bindery_testkit::servers::{Instance, Kind};
use bindery_testkit::{RecordingSink, Running};

fn create(data: &str) -> InvokeRequest {
    binding::create(data, &[])
}

/// Publishes until the input sees one message, within 30 s.
async fn resumes(out: &dyn OutputBinding, events: &mut Running, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match out.invoke(create("after")).await {
            Ok(_) => {
                if let Some(ev) = events.next_within(Duration::from_millis(500)).await {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_and_jetstream_resume_after_a_server_restart() {
    let Some(server) = Instance::start(Kind::Nats) else {
        return;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let url = server.url();
    let url = url.as_str();
    let core_subject = format!("bindery.restart.core.{id}");
    let core = [("natsURL", url), ("subject", core_subject.as_str())];
    let stream = format!("BINDERY_RESTART_{id}");
    let jet_subject = format!("bindery.restart.js.{id}");
    let jet = [
        ("natsURL", url),
        ("subject", jet_subject.as_str()),
        ("jetStream", "true"),
        ("stream", stream.as_str()),
        ("createStream", "true"),
        ("durableName", "restart"),
    ];
    let mut setup = Vec::new();
    for p in [&core[..], &jet[..]] {
        let out = binding::output(&DESCRIPTOR, "nats", p).await.unwrap();
        let input = binding::input(&DESCRIPTOR, "nats", p).await.unwrap();
        let events = Running::start("nats", input, RecordingSink::accepting().shared());
        setup.push((out, events));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (out, events) in setup.iter_mut() {
        out.invoke(create("before")).await.unwrap();
        let ev = events.next().await;
        assert_eq!(&ev.data[..], b"before");
    }

    // Blocking server commands run off the async workers, so the bindings notice the outage
    // while it happens.
    let guard = tokio::task::block_in_place(|| server.stop());
    assert!(!server.up(), "nats-server stopped");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = tokio::task::block_in_place(|| guard.start());
    assert!(server.up(), "nats-server restarted");

    let (core_out, core_events) = &mut setup[0];
    resumes(core_out.as_ref(), core_events, "core").await;
    let (js_out, js_events) = &mut setup[1];
    resumes(js_out.as_ref(), js_events, "jetstream").await;
    eprintln!("resumed {:?} after restart", restarted.elapsed());

    let mut outputs = Vec::new();
    for (out, events) in setup {
        events.stop().await;
        outputs.push(out);
    }
    for out in &outputs {
        out.close().await.unwrap();
    }
    if let Ok(client) = async_nats::connect(url).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }
}
