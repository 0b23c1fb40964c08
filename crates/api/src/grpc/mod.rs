//! Dapr's gRPC API for bindings (`dapr.proto.runtime.v1.Dapr`): `InvokeBinding`,
//! `GetMetadata`, `SetMetadata` and `Shutdown`, with server reflection. Every other Dapr RPC is
//! unknown here and answered UNIMPLEMENTED.

mod incoming;
mod layer;

use std::time::Duration;

use bindery_core::InvokeRequest;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::{ApiError, insert_metadata_grpc};
use crate::metadata::MetadataView;
use crate::proto::runtime::dapr_server::{Dapr, DaprServer};
use crate::proto::runtime::{
    ActorRuntime, AppConnectionHealthProperties, AppConnectionProperties, GetMetadataRequest,
    GetMetadataResponse, InvokeBindingRequest, InvokeBindingResponse, RegisteredComponents,
    SetMetadataRequest, ShutdownRequest, actor_runtime::ActorRuntimeStatus,
};
use crate::state::ApiState;
use crate::trace::TraceContext;

pub use incoming::merge_headers;
pub use layer::{ApiLayer, Authority};

/// The `Dapr` service over the shared API state.
#[derive(Clone)]
pub struct DaprApi {
    state: ApiState,
}

impl DaprApi {
    pub fn new(state: ApiState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Dapr for DaprApi {
    async fn invoke_binding(
        &self,
        request: Request<InvokeBindingRequest>,
    ) -> Result<Response<InvokeBindingResponse>, Status> {
        let authority = request.extensions().get::<Authority>().cloned();
        let headers = request.metadata().clone();
        let call = request.into_inner();
        let mut metadata = call.metadata;
        merge_headers(
            &mut metadata,
            &headers,
            authority.as_ref().map(|a| a.0.as_str()),
        );
        let invoke = InvokeRequest {
            operation: call.operation,
            data: call.data.into(),
            metadata,
        };
        let parent = TraceContext::from_metadata(&invoke.metadata);
        let called = self
            .state
            .tracer
            .invoke_output(
                &self.state.runtime,
                &call.name,
                invoke,
                parent,
                "/dapr.proto.runtime.v1.Dapr/InvokeBinding",
            )
            .await;
        match called {
            Ok(answer) => {
                let (data, metadata) = answer
                    .map(|r| (r.data.to_vec(), r.metadata))
                    .unwrap_or_default();
                let mut response = Response::new(InvokeBindingResponse {
                    data,
                    metadata: Default::default(),
                });
                insert_metadata_grpc(response.metadata_mut(), &metadata);
                response.get_mut().metadata = metadata;
                Ok(response)
            }
            Err(error) => Err(ApiError::InvokeOutputBinding {
                name: call.name,
                error,
            }
            .into_grpc_status()),
        }
    }

    async fn get_metadata(
        &self,
        _request: Request<GetMetadataRequest>,
    ) -> Result<Response<GetMetadataResponse>, Status> {
        Ok(Response::new(metadata_response(MetadataView::new(
            &self.state,
        ))))
    }

    async fn set_metadata(
        &self,
        request: Request<SetMetadataRequest>,
    ) -> Result<Response<()>, Status> {
        let SetMetadataRequest { key, value } = request.into_inner();
        self.state.runtime.set_extended_metadata(key, value);
        Ok(Response::new(()))
    }

    async fn shutdown(&self, _request: Request<ShutdownRequest>) -> Result<Response<()>, Status> {
        tracing::info!("Shutdown requested through the gRPC API.");
        self.state.runtime.request_shutdown();
        Ok(Response::new(()))
    }
}

fn metadata_response(view: MetadataView) -> GetMetadataResponse {
    let app = view.app_connection;
    GetMetadataResponse {
        id: view.id,
        registered_components: view
            .components
            .into_iter()
            .filter(|c| c.loaded)
            .map(|c| RegisteredComponents {
                name: c.name,
                r#type: c.spec_type,
                version: c.version,
                capabilities: c.capabilities.into_iter().map(str::to_owned).collect(),
            })
            .collect(),
        extended_metadata: view.extended.into_iter().collect(),
        app_connection_properties: Some(AppConnectionProperties {
            port: app.port.map(i32::from).unwrap_or_default(),
            protocol: app.protocol.to_owned(),
            channel_address: app.channel_address,
            max_concurrency: app
                .max_concurrency
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or_default(),
            health: app.health.map(|h| AppConnectionHealthProperties {
                health_check_path: h.path,
                health_probe_interval: h.interval,
                health_probe_timeout: h.timeout,
                health_threshold: i32::try_from(h.threshold).unwrap_or(i32::MAX),
            }),
        }),
        runtime_version: view.runtime_version.to_owned(),
        enabled_features: view.enabled_features,
        actor_runtime: Some(ActorRuntime {
            runtime_status: ActorRuntimeStatus::Disabled.into(),
            ..ActorRuntime::default()
        }),
        ..GetMetadataResponse::default()
    }
}

/// Serves the gRPC API on `listener` until `shutdown` fires, then lets in-flight calls finish
/// within `drain`. `--max-body-size` bounds a request message.
pub async fn serve_grpc(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
    drain: Duration,
) -> Result<(), String> {
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("cannot build gRPC reflection: {e}"))?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| format!("cannot build gRPC reflection: {e}"))?;
    let dapr = DaprServer::new(DaprApi::new(state.clone()))
        .max_decoding_message_size(state.max_body_size)
        .max_encoding_message_size(usize::MAX);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tonic::transport::Server::builder()
        .layer(ApiLayer::new(state.api_token.clone()))
        .add_service(dapr)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = server => result.map_err(|e| format!("gRPC API server failed: {e}")),
        () = deadline => {
            tracing::warn!("Some gRPC calls were still open when the drain time ran out.");
            Ok(())
        }
    }
}
