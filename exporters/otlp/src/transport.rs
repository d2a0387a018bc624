//! Sending requests: OTLP/gRPC through tonic, OTLP/HTTP with protobuf bodies through reqwest.
//! Failures are classified as the OTLP specification says: retryable (unavailable, throttled,
//! timed out) or permanent (rejected, unauthenticated, malformed).

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use spider_collector::{ComponentError, ExportError};
use tonic::Code;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{Protocol, Resolved, TlsSettings};

/// A connection to an OTLP endpoint.
pub enum Transport {
    /// OTLP/gRPC.
    Grpc {
        /// The generated client (boxed: it is much larger than the HTTP variant).
        client: Box<MetricsServiceClient<Channel>>,
        /// Headers as gRPC metadata.
        metadata: MetadataMap,
    },
    /// OTLP/HTTP.
    Http {
        /// The HTTP client.
        client: reqwest::Client,
        /// Full URL of the metrics path.
        url: String,
        /// Headers.
        headers: Vec<(String, String)>,
    },
}

/// PEM files of the TLS settings, read now so that a missing file fails the start.
struct Pem {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn read_pem(tls: &TlsSettings) -> Result<Pem, ComponentError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| ComponentError::new(format!("tls: cannot read {}: {e}", path.display())))
    };
    let ca = tls.ca_file.as_deref().map(read).transpose()?;
    let identity = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    Ok(Pem { ca, identity })
}

impl Transport {
    /// Prepares a connection (opened lazily, so a down endpoint does not fail the start).
    pub fn new(resolved: &Resolved, tls: &TlsSettings) -> Result<Self, ComponentError> {
        // reqwest is built without a bundled crypto provider: ring serves both clients.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = read_pem(tls)?;
        match resolved.protocol {
            Protocol::Grpc => grpc(resolved, pem),
            Protocol::HttpProtobuf => http(resolved, pem),
        }
    }

    /// Sends a request; returns how many data points the endpoint rejected as invalid.
    pub async fn send(
        &mut self,
        request: &ExportMetricsServiceRequest,
    ) -> Result<i64, ExportError> {
        let response = match self {
            Transport::Grpc { client, metadata } => {
                let mut call = tonic::Request::new(request.clone());
                *call.metadata_mut() = metadata.clone();
                client
                    .export(call)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(grpc_error)?
            }
            Transport::Http {
                client,
                url,
                headers,
            } => {
                let mut call = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(request.encode_to_vec());
                for (name, value) in headers.iter() {
                    call = call.header(name.as_str(), value.as_str());
                }
                let response = call
                    .send()
                    .await
                    .map_err(|e| ExportError::retryable(format!("{url}: {e}")))?;
                http_response(response).await?
            }
        };
        Ok(response
            .partial_success
            .map_or(0, |partial| partial.rejected_data_points))
    }
}

fn grpc(resolved: &Resolved, pem: Pem) -> Result<Transport, ComponentError> {
    let invalid =
        |e: &dyn std::fmt::Display| ComponentError::new(format!("endpoint {}: {e}", resolved.url));
    let mut endpoint = Endpoint::from_shared(resolved.url.clone())
        .map_err(|e| invalid(&e))?
        .timeout(resolved.timeout)
        .connect_timeout(resolved.timeout);
    if resolved.url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(ca) = pem.ca {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = pem.identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| invalid(&e))?;
    }
    let mut metadata = MetadataMap::new();
    for (name, value) in &resolved.headers {
        let key = MetadataKey::from_bytes(name.as_bytes()).map_err(|e| invalid(&e))?;
        let value: MetadataValue<_> = value.parse().map_err(|e| invalid(&e))?;
        metadata.insert(key, value);
    }
    Ok(Transport::Grpc {
        client: Box::new(MetricsServiceClient::new(endpoint.connect_lazy())),
        metadata,
    })
}

fn http(resolved: &Resolved, pem: Pem) -> Result<Transport, ComponentError> {
    let invalid =
        |e: reqwest::Error| ComponentError::new(format!("endpoint {}: {e}", resolved.url));
    let mut builder = reqwest::Client::builder()
        .timeout(resolved.timeout)
        .connect_timeout(resolved.timeout);
    if let Some(ca) = pem.ca {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(&ca).map_err(invalid)?);
    }
    if let Some((mut cert, key)) = pem.identity {
        cert.extend_from_slice(&key);
        builder = builder.identity(reqwest::Identity::from_pem(&cert).map_err(invalid)?);
    }
    let client = builder.build().map_err(invalid)?;
    Ok(Transport::Http {
        client,
        url: resolved.url.clone(),
        headers: resolved.headers.clone(),
    })
}

/// gRPC codes the OTLP specification lists as retryable.
fn grpc_error(status: tonic::Status) -> ExportError {
    let message = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss
        | Code::ResourceExhausted => ExportError::retryable(message),
        _ => ExportError::Permanent(message),
    }
}

/// HTTP statuses the OTLP specification lists as retryable: 429, 502, 503, 504.
async fn http_response(
    response: reqwest::Response,
) -> Result<ExportMetricsServiceResponse, ExportError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    if status.is_success() {
        return Ok(ExportMetricsServiceResponse::decode(body).unwrap_or_default());
    }
    let message = format!(
        "HTTP {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    match status.as_u16() {
        429 | 502 | 503 | 504 => Err(ExportError::Retryable {
            message,
            retry_after,
        }),
        _ => Err(ExportError::Permanent(message)),
    }
}
