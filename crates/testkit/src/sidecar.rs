//! The real `bindery` binary as a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::free_ports;

pub struct SidecarBuilder {
    binary: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    wait_outbound: bool,
}

impl SidecarBuilder {
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn resources(self, dir: &Path) -> Self {
        self.arg("--resources-path").arg(dir.display().to_string())
    }

    pub fn app_port(self, port: u16) -> Self {
        self.arg("--app-port").arg(port.to_string())
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Do not wait for the HTTP API (for start-up failure tests).
    pub fn no_wait(mut self) -> Self {
        self.wait_outbound = false;
        self
    }

    pub async fn spawn(self) -> Sidecar {
        // Chosen together: three separate picks have handed out one port twice.
        let [http_port, grpc_port, metrics_port] = free_ports::<3>();
        let mut command = Command::new(&self.binary);
        command
            .args([
                "--app-id",
                "testapp",
                "--dapr-http-port",
                &http_port.to_string(),
            ])
            .args([
                "--dapr-grpc-port",
                &grpc_port.to_string(),
                "--metrics-port",
                &metrics_port.to_string(),
            ])
            .args(["--dapr-listen-addresses", "127.0.0.1"])
            .args(&self.args)
            .env_remove("DAPR_API_TOKEN")
            .env_remove("APP_API_TOKEN")
            .env(
                "BINDERY_LOG",
                "debug,h2=warn,hyper=warn,rustls=warn,reqwest=warn,aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_smithy_http_client=info,aws_config=info,aws_sdk_sqs=info,aws_sdk_s3=info",
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start bindery");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    output.lock().push_str(&line);
                    output.lock().push('\n');
                }
            });
        }
        let sidecar = Sidecar {
            child: Mutex::new(Some(child)),
            http_port,
            grpc_port,
            metrics_port,
            output,
            client: reqwest::Client::new(),
        };
        if self.wait_outbound {
            sidecar.wait_outbound().await;
        }
        sidecar
    }
}

pub struct Sidecar {
    child: Mutex<Option<Child>>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub metrics_port: u16,
    output: Arc<Mutex<String>>,
    pub client: reqwest::Client,
}

impl Sidecar {
    pub fn builder(binary: impl Into<PathBuf>) -> SidecarBuilder {
        SidecarBuilder {
            binary: binary.into(),
            args: Vec::new(),
            envs: Vec::new(),
            wait_outbound: true,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
    }

    /// Everything the sidecar printed so far.
    pub fn output(&self) -> String {
        self.output.lock().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child
            .lock()
            .as_ref()
            .map(|c| c.id())
            .unwrap_or_default()
    }

    async fn wait_outbound(&self) {
        for _ in 0..300 {
            if let Ok(r) = self
                .client
                .get(self.url("/v1.0/healthz/outbound"))
                .send()
                .await
                && r.status().as_u16() == 204
            {
                return;
            }
            if let Some(status) = self.try_exit_status() {
                panic!("bindery exited early with {status}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bindery never became outbound-ready:\n{}", self.output());
    }

    pub async fn wait_ready(&self) {
        for _ in 0..300 {
            if let Ok(r) = self.client.get(self.url("/v1.0/healthz")).send().await
                && r.status().as_u16() == 204
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bindery never became ready:\n{}", self.output());
    }

    /// `GET <path>` on the HTTP API.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET <path>` on the HTTP API, as JSON (a panic showing the body when it is not).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let text = self.get(path).await.text().await.expect("response body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// `POST /v1.0/bindings/<name>` with a JSON body.
    pub async fn invoke(&self, name: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1.0/bindings/{name}")))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("invoke binding")
    }

    /// The Prometheus text from the metrics port.
    pub async fn scrape_metrics(&self) -> String {
        self.client
            .get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .send()
            .await
            .expect("scrape metrics")
            .text()
            .await
            .expect("metrics body")
    }

    fn try_exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child
            .lock()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.pid();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        self.wait_exit(Duration::from_secs(20))
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut guard = self.child.lock();
            let child = guard.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                *guard = None;
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                drop(guard);
                panic!("bindery did not exit in time:\n{}", self.output.lock());
            }
            drop(guard);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Sidecar {
    /// Sends a signal (`TERM`, `INT`, `KILL`, …) without waiting for the exit.
    pub fn send_signal(&self, sig: &str) -> bool {
        crate::faults::signal(self.pid(), sig)
    }

    /// Still running (not exited, not reaped).
    pub fn is_running(&self) -> bool {
        self.child.lock().is_some() && self.try_exit_status().is_none()
    }

    /// Resident memory of the sidecar process, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        crate::faults::rss_kib(self.pid())
    }
}
