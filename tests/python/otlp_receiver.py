"""An OTLP metrics receiver built on the official opentelemetry-proto messages and grpcio.

Every request it accepts, over OTLP/gRPC or OTLP/HTTP (protobuf), is decoded with the official
ExportMetricsServiceRequest and appended to OUT as one JSON line. Prints "ready" once listening.

    otlp_receiver.py --grpc-port P --http-port Q --out FILE [--require-header NAME=VALUE]
                     [--unavailable N]   (answer the first N requests UNAVAILABLE / HTTP 503)
                     [--tls CERT KEY]    (serve gRPC and HTTP over TLS)
"""
import argparse
import http.server
import json
import ssl
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc


class Gate:
    """Decides, request by request, whether to accept; records what it accepts."""

    def __init__(self, out, required, unavailable):
        self.out, self.required, self.unavailable = out, required, unavailable
        self.lock = threading.Lock()

    def check(self, headers):
        with self.lock:
            if self.required and headers.get(self.required[0]) != self.required[1]:
                return "unauthenticated"
            if self.unavailable > 0:
                self.unavailable -= 1
                return "unavailable"
        return None

    def record(self, transport, headers, request):
        line = {"transport": transport, "headers": headers, "request": MessageToDict(request, preserving_proto_field_name=True)}
        with self.lock, open(self.out, "a") as out:
            out.write(json.dumps(line) + "\n")


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, gate):
        self.gate = gate

    def Export(self, request, context):
        headers = {k: v for k, v in context.invocation_metadata()}
        refusal = self.gate.check(headers)
        if refusal == "unauthenticated":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong credentials")
        if refusal == "unavailable":
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again later")
        self.gate.record("grpc", headers, request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def http_handler(gate):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path != "/v1/metrics" or self.headers.get("content-type") != "application/x-protobuf":
                return self.reply(404 if self.path != "/v1/metrics" else 415, b"")
            headers = {k.lower(): v for k, v in self.headers.items()}
            refusal = gate.check(headers)
            if refusal:
                return self.reply(401 if refusal == "unauthenticated" else 503, refusal.encode())
            try:
                request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
            except Exception:
                return self.reply(400, b"not an ExportMetricsServiceRequest")
            gate.record("http", headers, request)
            self.reply(200, metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString())

        def reply(self, status, body):
            self.send_response(status)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--require-header")
    parser.add_argument("--unavailable", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    required = tuple(args.require_header.split("=", 1)) if args.require_header else None
    gate = Gate(args.out, required, args.unavailable)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(gate), server)
    address = f"127.0.0.1:{args.grpc_port}"
    if args.tls:
        cert, key = (open(path, "rb").read() for path in args.tls)
        server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        server.add_insecure_port(address)
    server.start()

    web = http.server.ThreadingHTTPServer(("127.0.0.1", args.http_port), http_handler(gate))
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        web.socket = context.wrap_socket(web.socket, server_side=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
