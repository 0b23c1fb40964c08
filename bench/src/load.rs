//! The load generator: a fixed number of connections, each either paced open-loop at
//! `qps / connections` (fortio's method) or driven closed-loop as fast as answers come back.
//! Every latency is recorded; nothing is sampled.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bindery_api::proto::runtime::InvokeBindingRequest;
use bindery_api::proto::runtime::dapr_client::DaprClient;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

use crate::proc::{self, ProcUsage, Watched};
use crate::stats::Latencies;

/// What one call is.
#[derive(Clone, Debug)]
pub enum Target {
    /// One HTTP/1.1 request per call on a kept-alive connection; success is a 2xx answer.
    Http {
        addr: SocketAddr,
        method: Method,
        path: String,
        content_type: &'static str,
        body: Bytes,
    },
    /// One pre-encoded RESP command per call; success is an answer that is not a RESP error.
    Resp { addr: SocketAddr, command: Bytes },
    /// One `Dapr/InvokeBinding` call per call on its own HTTP/2 connection; success is OK.
    Grpc {
        addr: SocketAddr,
        request: InvokeBindingRequest,
    },
}

impl Target {
    pub fn http_post(addr: SocketAddr, path: &str, body: Bytes) -> Self {
        Target::Http {
            addr,
            method: Method::POST,
            path: path.to_owned(),
            content_type: "application/json",
            body,
        }
    }

    /// `SET key value` as a RESP array.
    pub fn redis_set(addr: SocketAddr, key: &str, value: &[u8]) -> Self {
        let mut command = Vec::with_capacity(value.len() + key.len() + 32);
        command.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        command.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        command.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        command.extend_from_slice(value);
        command.extend_from_slice(b"\r\n");
        Target::Resp {
            addr,
            command: command.into(),
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        match self {
            Target::Http { addr, .. } => {
                let stream = TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let (sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake {addr}: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(Conn::Http(sender))
            }
            Target::Grpc { addr, .. } => {
                let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| e.to_string())?
                    .tcp_nodelay(true)
                    .connect()
                    .await
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                Ok(Conn::Grpc(DaprClient::new(channel)))
            }
            Target::Resp { addr, .. } => {
                let stream = TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                Ok(Conn::Resp(stream, vec![0; 4096]))
            }
        }
    }
}

enum Conn {
    Http(SendRequest<Full<Bytes>>),
    Resp(TcpStream, Vec<u8>),
    Grpc(DaprClient<tonic::transport::Channel>),
}

impl Conn {
    async fn call(&mut self, target: &Target) -> Result<(), String> {
        match (self, target) {
            (
                Conn::Http(sender),
                Target::Http {
                    addr,
                    method,
                    path,
                    content_type,
                    body,
                },
            ) => {
                sender.ready().await.map_err(|e| e.to_string())?;
                let request = Request::builder()
                    .method(method.clone())
                    .uri(path.as_str())
                    .header(hyper::header::HOST, addr.to_string())
                    .header(hyper::header::CONTENT_TYPE, *content_type)
                    .body(Full::new(body.clone()))
                    .map_err(|e| e.to_string())?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!(
                        "HTTP {}: {}",
                        status.as_u16(),
                        String::from_utf8_lossy(&body)
                    ))
                }
            }
            (Conn::Resp(stream, buf), Target::Resp { command, .. }) => {
                stream.write_all(command).await.map_err(|e| e.to_string())?;
                // Simple replies (`+OK`, `-ERR ...`, `:1`) end at the first CRLF.
                let mut filled = 0;
                loop {
                    let n = stream
                        .read(&mut buf[filled..])
                        .await
                        .map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("redis closed the connection".to_owned());
                    }
                    filled += n;
                    if buf[..filled].ends_with(b"\r\n") {
                        break;
                    }
                    if filled == buf.len() {
                        return Err("redis reply too long".to_owned());
                    }
                }
                if buf[0] == b'-' {
                    Err(String::from_utf8_lossy(&buf[..filled]).trim().to_owned())
                } else {
                    Ok(())
                }
            }
            (Conn::Grpc(client), Target::Grpc { request, .. }) => client
                .invoke_binding(request.clone())
                .await
                .map(|_| ())
                .map_err(|status| format!("gRPC {:?}: {}", status.code(), status.message())),
            _ => Err("connection and target kinds differ".to_owned()),
        }
    }
}

/// Reconnects after a failed call, retrying every 20 ms until `end` (a server restarted by
/// someone else costs errors, not the rest of the run).
async fn reconnect(target: &Target, end: Instant) -> Option<Conn> {
    while Instant::now() < end {
        if let Ok(conn) = target.connect().await {
            return Some(conn);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// How to drive the connections.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Open loop: each connection ticks at `qps / connections`; a late tick is delayed, not
    /// bunched (fortio's behaviour).
    Fixed { qps: f64 },
    /// Closed loop: the next call leaves as soon as the previous answer arrived.
    Saturate,
}

/// The outcome of one run (the measured window only).
#[derive(Debug)]
pub struct RunOutcome {
    pub latencies: Latencies,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// CPU and memory of the watched processes over the measured window.
    pub usage: Vec<ProcUsage>,
}

impl RunOutcome {
    pub fn usage_of(&self, name: &str) -> Option<&ProcUsage> {
        self.usage.iter().find(|u| u.name == name)
    }
}

impl RunOutcome {
    pub fn achieved_rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `warmup` then `measure` on `connections` connections. Calls during the warm-up are
/// made the same way but not recorded. The CPU time of `watch` (and of this process) is read
/// at both ends of the measured window, and their RSS at its end.
pub async fn run(
    target: &Target,
    connections: usize,
    pace: Pace,
    warmup: Duration,
    measure: Duration,
    watch: &[Watched],
) -> Result<RunOutcome, String> {
    let connections = connections.max(1);
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(target.connect().await?);
    }
    let start = Instant::now();
    let measure_start = start + warmup;
    let end = measure_start + measure;
    let sampler = {
        let mut watch = watch.to_vec();
        watch.push(Watched::new("bench", std::process::id()));
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(measure_start)).await;
            let before: Vec<_> = watch.iter().map(|w| proc::cpu_seconds(w.pid)).collect();
            tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
            watch
                .iter()
                .zip(before)
                .map(|(w, before)| ProcUsage {
                    name: w.name.clone(),
                    cpu_seconds: match (before, proc::cpu_seconds(w.pid)) {
                        (Some(b), Some(a)) => a - b,
                        _ => f64::NAN,
                    },
                    window_seconds: measure.as_secs_f64(),
                    rss_kib: proc::rss_kib(w.pid),
                })
                .collect::<Vec<_>>()
        })
    };
    let mut tasks = Vec::with_capacity(connections);
    for (i, mut conn) in conns.into_iter().enumerate() {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut interval = match pace {
                Pace::Fixed { qps } => {
                    let period = Duration::from_secs_f64(connections as f64 / qps.max(1e-3));
                    // Spread the connections' first ticks over one period.
                    let offset = period.mul_f64(i as f64 / connections as f64);
                    let mut interval = tokio::time::interval_at(
                        tokio::time::Instant::from_std(start) + offset,
                        period,
                    );
                    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    Some(interval)
                }
                Pace::Saturate => None,
            };
            loop {
                if let Some(interval) = interval.as_mut() {
                    interval.tick().await;
                }
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let result = conn.call(&target).await;
                let took = sent.elapsed();
                if sent < measure_start {
                    if let Err(e) = result {
                        // A failing warm-up is as bad as a failing measurement.
                        errors += 1;
                        first_error.get_or_insert(e);
                        match reconnect(&target, end).await {
                            Some(c) => conn = c,
                            None => break,
                        }
                    }
                    continue;
                }
                match result {
                    Ok(()) => samples.push(took.as_nanos() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                        match reconnect(&target, end).await {
                            Some(c) => conn = c,
                            None => break,
                        }
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let (samples, e, first) = task.await.map_err(|e| e.to_string())?;
        all.extend(samples);
        errors += e;
        if first_error.is_none() {
            first_error = first;
        }
    }
    let usage = sampler.await.map_err(|e| e.to_string())?;
    Ok(RunOutcome {
        latencies: Latencies::new(all),
        errors,
        first_error,
        elapsed: measure.max(Duration::from_millis(1)),
        usage,
    })
}
