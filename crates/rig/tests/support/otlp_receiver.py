"""An OTLP/HTTP trace receiver for the tracing tests.

POST /v1/traces: the body is decoded against the real OTLP schema
(opentelemetry-proto's ExportTraceServiceRequest; JSON or protobuf by
content-type), so a malformed export fails here with a 400 as a collector
would answer. POST /api/v2/spans takes Zipkin v2 JSON. GET /spans returns every
span received so far as JSON: {"otlp": [...], "zipkin": [...]}. Prints the port
on stdout once it listens.
"""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

LOCK = threading.Lock()
OTLP = []
ZIPKIN = []


def hex_ids_to_base64(doc):
    """OTLP/JSON writes trace and span ids as hex, where plain proto3 JSON (which
    json_format implements) expects base64; collectors convert the same way.
    A malformed hex id raises, and the export is refused."""
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return doc


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"{}"):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            if self.path == "/v1/traces":
                req = trace_service_pb2.ExportTraceServiceRequest()
                if self.headers.get("content-type", "").startswith("application/json"):
                    json_format.ParseDict(hex_ids_to_base64(json.loads(body)), req)
                else:
                    req.ParseFromString(body)
                spans = []
                for rs in req.resource_spans:
                    service = {a.key: a.value.string_value for a in rs.resource.attributes}.get("service.name")
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            d = json_format.MessageToDict(s)
                            # MessageToDict renders bytes ids as base64; give hex like OTLP/JSON.
                            d["traceId"] = s.trace_id.hex()
                            d["spanId"] = s.span_id.hex()
                            d["parentSpanId"] = s.parent_span_id.hex()
                            d["service"] = service
                            d["headers"] = {k.lower(): v for k, v in self.headers.items()}
                            spans.append(d)
                with LOCK:
                    OTLP.extend(spans)
            elif self.path == "/api/v2/spans":
                with LOCK:
                    ZIPKIN.extend(json.loads(body))
            else:
                return self.reply(404)
        except Exception as e:  # a malformed export is the sender's fault
            return self.reply(400, json.dumps({"error": str(e)}).encode())
        self.reply(200)

    def do_GET(self):
        with LOCK:
            body = json.dumps({"otlp": OTLP, "zipkin": ZIPKIN}).encode()
        self.reply(200, body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
