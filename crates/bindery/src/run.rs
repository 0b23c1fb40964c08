//! `bindery run [flags] -- <app command>`: the sidecar and the app started together, each line
//! of their output prefixed with its source, like `dapr run` without Docker.

use std::net::TcpListener;
use std::process::{ExitCode, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::flags::SidecarArgs;

pub fn main(args: SidecarArgs, app: Vec<String>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bindery run: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, app))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The sidecar's own arguments: everything between `run` and `--`, plus the ports picked here.
fn sidecar_arguments(ports: &Ports) -> Vec<String> {
    let raw: Vec<String> = std::env::args().collect();
    let start = raw
        .iter()
        .position(|a| a == "run")
        .map_or(raw.len(), |i| i + 1);
    let end = raw.iter().position(|a| a == "--").unwrap_or(raw.len());
    let mut out: Vec<String> = raw[start..end.max(start)].to_vec();
    for (flag, value) in [
        ("--dapr-http-port", ports.http),
        ("--dapr-grpc-port", ports.grpc),
        ("--metrics-port", ports.metrics),
    ] {
        if !out.iter().any(|a| {
            a == flag
                || a.starts_with(&format!("{flag}="))
                || a == &flag[1..]
                || a.starts_with(&format!("{}=", &flag[1..]))
        }) {
            out.push(flag.to_owned());
            out.push(value.to_string());
        }
    }
    out
}

struct Ports {
    http: u16,
    grpc: u16,
    metrics: u16,
}

async fn run(args: SidecarArgs, app: Vec<String>) -> ExitCode {
    let pick = |given: Option<u16>| given.map_or_else(free_port, Ok);
    let ports = match (
        pick(args.dapr_http_port),
        pick(args.dapr_grpc_port),
        pick(args.metrics_port),
    ) {
        (Ok(http), Ok(grpc), Ok(metrics)) => Ports {
            http,
            grpc,
            metrics,
        },
        _ => {
            eprintln!("bindery run: cannot find free ports");
            return ExitCode::FAILURE;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("bindery run: cannot find the bindery executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut sidecar = match Command::new(exe)
        .args(sidecar_arguments(&ports))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("bindery run: cannot start the sidecar: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut pipes = pipe_output(&mut sidecar, "bindery");

    let mut command = Command::new(&app[0]);
    command
        .args(&app[1..])
        .env("APP_ID", &args.app_id)
        .env("DAPR_HTTP_PORT", ports.http.to_string())
        .env("DAPR_GRPC_PORT", ports.grpc.to_string())
        .env("DAPR_METRICS_PORT", ports.metrics.to_string())
        .env("APP_PROTOCOL", &args.app_protocol)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(port) = args.app_port {
        command.env("APP_PORT", port.to_string());
    }
    let mut app_child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("bindery run: cannot start {:?}: {e}", app[0]);
            stop(&mut sidecar).await;
            return ExitCode::FAILURE;
        }
    };
    pipes.extend(pipe_output(&mut app_child, "app"));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let code = tokio::select! {
        status = app_child.wait() => {
            let code = status.ok().and_then(|s| s.code()).unwrap_or(1);
            println!("[bindery run] app exited with code {code}; stopping the sidecar.");
            code
        }
        status = sidecar.wait() => {
            let code = status.ok().and_then(|s| s.code()).unwrap_or(1);
            println!("[bindery run] sidecar exited with code {code}; stopping the app.");
            stop(&mut app_child).await;
            flush(pipes).await;
            return ExitCode::from(if code == 0 { 1 } else { code as u8 });
        }
        _ = tokio::signal::ctrl_c() => { stop(&mut app_child).await; 130 }
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {
            stop(&mut app_child).await; 143
        }
    };
    stop(&mut sidecar).await;
    flush(pipes).await;
    ExitCode::from(code as u8)
}

/// SIGTERM, then SIGKILL if the process has not exited after 10 s.
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Forwards the child's output line by line; the handles finish when the child's pipes close.
fn pipe_output(child: &mut Child, source: &'static str) -> Vec<JoinHandle<()>> {
    fn forward<R: AsyncRead + Unpin + Send + 'static>(
        reader: R,
        source: &'static str,
        to_stderr: bool,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if to_stderr {
                    eprintln!("[{source}] {line}");
                } else {
                    println!("[{source}] {line}");
                }
            }
        })
    }
    let mut handles = Vec::new();
    if let Some(out) = child.stdout.take() {
        handles.push(forward(out, source, false));
    }
    if let Some(err) = child.stderr.take() {
        handles.push(forward(err, source, true));
    }
    handles
}

/// Lets the last lines of output through before exiting.
async fn flush(handles: Vec<JoinHandle<()>>) {
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), futures_join(handles)).await;
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}
