//! Delivering input events to an HTTP app, as daprd's HTTP app channel does.

use std::time::Duration;

use async_trait::async_trait;
use bindery_core::InputEvent;
use bindery_runtime::app::{AppChannel, AppError, AppReply, AppStatus, InputTarget};
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::headers::event_headers;
use crate::trace::Tracer;

pub struct HttpAppChannel {
    client: reqwest::Client,
    base_url: String,
    app_token: Option<String>,
    health_path: String,
    tracer: Tracer,
}

impl HttpAppChannel {
    /// `tls` for `--app-protocol https`: like daprd, the app's certificate is not verified.
    pub fn new(
        address: &str,
        port: u16,
        tls: bool,
        app_token: Option<String>,
        health_path: &str,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .http1_title_case_headers()
            .tls_danger_accept_invalid_certs(tls)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the app channel: {e}"))?;
        let scheme = if tls { "https" } else { "http" };
        let host = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]")
        } else {
            address.to_owned()
        };
        let health_path = if health_path.starts_with('/') {
            health_path.to_owned()
        } else {
            format!("/{health_path}")
        };
        Ok(Self {
            client,
            base_url: format!("{scheme}://{host}:{port}"),
            app_token,
            health_path,
            tracer: Tracer::default(),
        })
    }

    /// Deliveries run in `bindings/<name>` spans from this tracer.
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
        self
    }

    fn request(&self, method: reqwest::Method, route: &str) -> reqwest::RequestBuilder {
        let mut builder = self
            .client
            .request(method, format!("{}{}", self.base_url, route))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(token) = &self.app_token {
            builder = builder.header("dapr-api-token", token);
        }
        builder
    }
}

#[async_trait]
impl AppChannel for HttpAppChannel {
    async fn is_subscribed(
        &self,
        target: &InputTarget,
        timeout: Duration,
    ) -> Result<bool, AppError> {
        let response = self
            .request(reqwest::Method::OPTIONS, &target.route)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| AppError::unreachable(format!("error invoking app: {e}")))?;
        let status = response.status();
        Ok(status.is_success() || status == reqwest::StatusCode::METHOD_NOT_ALLOWED)
    }

    async fn check_health(&self, timeout: Duration) -> Result<(), AppError> {
        let mut builder = self
            .client
            .get(format!("{}{}", self.base_url, self.health_path))
            .timeout(timeout);
        if let Some(token) = &self.app_token {
            builder = builder.header("dapr-api-token", token);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| AppError::unreachable(format!("app health probe failed: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(AppError::rejected(format!(
                "app health probe answered {}",
                response.status().as_u16()
            )))
        }
    }

    async fn deliver(
        &self,
        target: &InputTarget,
        mut event: InputEvent,
    ) -> Result<AppReply, AppError> {
        let span = self.tracer.start_delivery(&target.name, &event.metadata);
        if let Some(span) = &span {
            span.context().inject(&mut event.metadata);
        }
        let result = self.post_event(target, event).await;
        if let Some(span) = span {
            span.end(result.as_ref().err().map(|e| e.message.clone()));
        }
        result
    }
}

impl HttpAppChannel {
    async fn post_event(
        &self,
        target: &InputTarget,
        event: InputEvent,
    ) -> Result<AppReply, AppError> {
        let mut builder = self.request(reqwest::Method::POST, &target.route);
        for (name, value) in event_headers(&event.metadata) {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(event.data)
            .send()
            .await
            .map_err(|e| AppError::unreachable(format!("error invoking app: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| AppError::unreachable(format!("error invoking app: {e}")))?;
        if status.is_success() {
            Ok(AppReply {
                body,
                ..AppReply::default()
            })
        } else {
            Err(AppError::rejected(format!(
                "fails to send binding event to http app channel, status code: {} body: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
            ))
            .with_status(AppStatus::Http(status.as_u16())))
        }
    }
}
