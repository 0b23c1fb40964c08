//! Delivering input events to a gRPC app, as daprd's gRPC app channel does: the app lists the
//! bindings it wants (`AppCallback/ListInputBindings`, asked once), receives each event through
//! `AppCallback/OnBindingEvent`, and answers health probes through
//! `AppCallbackHealthCheck/HealthCheck`.
//!
//! Deviation from daprd, on purpose: daprd turns a failed `ListInputBindings` call into an empty
//! list and caches it for the life of the process, so an app that was briefly unreachable never
//! gets events until the sidecar restarts. bindery caches only a successful answer; a failure is
//! reported to the runtime, which retries the probe (unreachable app) or asks again the next
//! time reading starts.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bindery_core::InputEvent;
use bindery_runtime::app::{AppChannel, AppError, AppReply, InputTarget};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Request, Status};

use crate::proto::runtime::app_callback_client::AppCallbackClient;
use crate::proto::runtime::app_callback_health_check_client::AppCallbackHealthCheckClient;
use crate::proto::runtime::binding_event_response::BindingEventConcurrency;
use crate::proto::runtime::{BindingEventRequest, BindingEventResponse};
use crate::trace::{TRACEPARENT, TRACESTATE, Tracer};

pub struct GrpcAppChannel {
    channel: Channel,
    app_token: Option<AsciiMetadataValue>,
    max_message_size: usize,
    /// The app's `ListInputBindings` answer, once it gave one.
    subscriptions: Mutex<Option<Arc<Vec<String>>>>,
    tracer: Tracer,
}

impl GrpcAppChannel {
    /// `tls` for `--app-protocol grpcs`: like daprd, the app's certificate is not verified.
    /// Connects lazily: an app that is not up yet is reached on the first call. Must be called
    /// within a tokio runtime.
    pub fn new(
        address: &str,
        port: u16,
        tls: bool,
        app_token: Option<String>,
        max_message_size: usize,
    ) -> Result<Self, String> {
        let host = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]")
        } else {
            address.to_owned()
        };
        let endpoint = Endpoint::from_shared(format!("http://{host}:{port}"))
            .map_err(|e| format!("invalid app address {host}:{port}: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        let channel = if tls {
            endpoint.connect_with_connector_lazy(tls::connector()?)
        } else {
            endpoint.connect_lazy()
        };
        let app_token = app_token
            .map(|t| {
                AsciiMetadataValue::try_from(t)
                    .map_err(|_| "APP_API_TOKEN is not valid gRPC metadata text".to_owned())
            })
            .transpose()?;
        Ok(Self {
            channel,
            app_token,
            max_message_size,
            subscriptions: Mutex::new(None),
            tracer: Tracer::default(),
        })
    }

    /// Deliveries run in `bindings/<name>` spans from this tracer.
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = tracer;
        self
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = &self.app_token {
            request
                .metadata_mut()
                .insert("dapr-api-token", token.clone());
        }
        request
    }

    fn callback(&self) -> AppCallbackClient<Channel> {
        AppCallbackClient::new(self.channel.clone())
            .max_decoding_message_size(self.max_message_size)
            .max_encoding_message_size(self.max_message_size)
    }

    async fn subscriptions(&self, timeout: Duration) -> Result<Arc<Vec<String>>, AppError> {
        let mut cached = self.subscriptions.lock().await;
        if let Some(list) = cached.as_ref() {
            return Ok(list.clone());
        }
        let mut request = self.request(());
        request.set_timeout(timeout);
        let answer = tokio::time::timeout(timeout, self.callback().list_input_bindings(request))
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("context deadline exceeded")));
        match answer {
            Ok(response) => {
                let list = Arc::new(response.into_inner().bindings);
                tracing::debug!(bindings = ?list, "The app listed its input bindings.");
                *cached = Some(list.clone());
                Ok(list)
            }
            Err(status) => Err(app_error("ListInputBindings", &status)),
        }
    }
}

#[async_trait]
impl AppChannel for GrpcAppChannel {
    async fn is_subscribed(
        &self,
        target: &InputTarget,
        timeout: Duration,
    ) -> Result<bool, AppError> {
        let bindings = self.subscriptions(timeout).await?;
        Ok(bindings.contains(&target.name))
    }

    async fn deliver(&self, target: &InputTarget, event: InputEvent) -> Result<AppReply, AppError> {
        let span = self.tracer.start_delivery(&target.name, &event.metadata);
        let mut request = self.request(BindingEventRequest {
            name: target.name.clone(),
            data: event.data.to_vec(),
            metadata: event.metadata,
        });
        if let Some(span) = &span {
            let context = span.context();
            let headers = request.metadata_mut();
            if let Ok(value) = AsciiMetadataValue::try_from(context.traceparent()) {
                headers.insert(TRACEPARENT, value);
            }
            if let Some(Ok(value)) = context.state.as_deref().map(AsciiMetadataValue::try_from) {
                headers.insert(TRACESTATE, value);
            }
        }
        let result = self
            .callback()
            .on_binding_event(request)
            .await
            .map_err(|status| app_error("OnBindingEvent", &status))
            .map(|response| reply(response.into_inner()));
        if let Some(span) = span {
            span.end(result.as_ref().err().map(|e| e.message.clone()));
        }
        result
    }

    async fn check_health(&self, timeout: Duration) -> Result<(), AppError> {
        let mut request = self.request(());
        request.set_timeout(timeout);
        let mut client = AppCallbackHealthCheckClient::new(self.channel.clone());
        let answer = tokio::time::timeout(timeout, client.health_check(request))
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("context deadline exceeded")));
        answer
            .map(|_| ())
            .map_err(|status| app_error("HealthCheck", &status))
    }
}

/// What the runtime does with the app's answer: `data` goes back to the component and, when
/// `to` names output bindings, is sent there after a JSON round trip (daprd decodes into a Go
/// value and re-encodes it, so invalid JSON becomes `null`).
fn reply(response: BindingEventResponse) -> AppReply {
    let forward_data = if response.to.is_empty() {
        Bytes::new()
    } else {
        let value = serde_json::from_slice(&response.data).unwrap_or(serde_json::Value::Null);
        Bytes::from(bindery_core::gojson::to_go_json(&value))
    };
    AppReply {
        forward_in_parallel: response.concurrency == BindingEventConcurrency::Parallel as i32,
        forward_to: response.to,
        forward_data,
        body: Bytes::from(response.data),
    }
}

/// daprd's `error invoking app: <status>`, with grpc-go's rendering of a status.
fn app_error(rpc: &str, status: &Status) -> AppError {
    let message = format!(
        "error invoking app: rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    );
    tracing::debug!(rpc, code = ?status.code(), "A call to the gRPC app failed.");
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            AppError::unreachable(message)
        }
        _ => AppError::rejected(message),
    }
}

/// TLS to the app without certificate verification (daprd's `grpcs`), offering HTTP/2 only.
mod tls {
    use std::sync::Arc;

    use bindery_tls::AcceptAnyCertificate;
    use rustls::pki_types::ServerName;
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;

    use super::{TokioIo, Uri};

    pub(super) fn connector() -> Result<
        impl tower::Service<
            Uri,
            Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
            Error = std::io::Error,
            Future = impl Send,
        > + Clone
        + Send
        + 'static,
        String,
    > {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS to the app: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tls = TlsConnector::from(Arc::new(config));
        Ok(tower::service_fn(move |uri: Uri| {
            let tls = tls.clone();
            async move {
                let invalid =
                    |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_owned());
                let host = uri
                    .host()
                    .ok_or_else(|| invalid("the app address has no host"))?
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let port = uri.port_u16().unwrap_or(443);
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let name = ServerName::try_from(host)
                    .map_err(|_| invalid("the app address is not a valid TLS server name"))?;
                let stream = tls.connect(name, tcp).await?;
                Ok(TokioIo::new(stream))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_data_is_json_round_tripped() {
        let r = reply(BindingEventResponse {
            to: vec!["out".into()],
            data: br#"{"b":1, "a":"<x>"}"#.to_vec(),
            concurrency: BindingEventConcurrency::Parallel as i32,
            ..Default::default()
        });
        assert_eq!(&r.forward_data[..], br#"{"a":"\u003cx\u003e","b":1}"#);
        assert!(r.forward_in_parallel);
        assert_eq!(&r.body[..], br#"{"b":1, "a":"<x>"}"#);

        let r = reply(BindingEventResponse {
            to: vec!["out".into()],
            data: b"not json".to_vec(),
            ..Default::default()
        });
        assert_eq!(&r.forward_data[..], b"null");
        assert!(!r.forward_in_parallel);
    }
}
