//! Tests of the otlp exporter against a receiver that decodes with the official
//! opentelemetry-proto messages (Python, grpcio): gRPC and HTTP, values, errors, TLS, outages.

mod delivery;
mod outage;
mod peer;
mod points;
