#!/usr/bin/env python3
"""OTLP/gRPC fault sink for tests/otlp_grpc_faults.rs.

A grpcio server implementing the official
opentelemetry.proto.collector.metrics.v1.MetricsService (the
opentelemetry-proto package's generated service), behind a small TCP
front that can reset connections. The Rust test drives it over stdin,
one command per line, and reads one answer line per command:

  mode accept                      -> ok   (store every request, answer OK)
  mode unavailable                 -> ok   (UNAVAILABLE, no RetryInfo)
  mode unavailable_retry <ms>      -> ok   (UNAVAILABLE + google.rpc.RetryInfo)
  mode exhausted                   -> ok   (RESOURCE_EXHAUSTED, no RetryInfo)
  mode exhausted_retry <ms>        -> ok   (RESOURCE_EXHAUSTED + RetryInfo)
  mode invalid                     -> ok   (INVALID_ARGUMENT)
  mode hang <ms>                   -> ok   (answer OK after <ms>, stored only
                                            if the client still waits)
  mode reset                       -> ok   (the TCP front resets every
                                            connection that sends data)
  mode partial <n>                 -> ok   (store, answer OK with a partial
                                            success rejecting <n> points)
  A trailing "once" (mode unavailable_retry 600 once) applies the mode
  to one call, then accepts again.
  times                            -> the monotonic milliseconds of every
                                      call, space-separated
  meta                             -> the last call's metadata whose keys
                                      start with "x-", as k=v words
  dump                             -> one hex line per stored request
                                      (ExportMetricsServiceRequest bytes,
                                      re-serialized), then "end"
  calls                            -> "<calls> <faulted>"
  quit                             -> (exits)

At start it prints "port <n>": the front's port on 127.0.0.1.

With arguments `--tls CERT KEY CA` the gRPC server speaks TLS with that
certificate and requires a client certificate signed by CA (the front
passes the TLS bytes through).
"""

import socket
import struct
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)

lock = threading.Lock()
state = {"mode": ["accept"], "stored": [], "calls": 0, "faulted": 0, "times": [], "meta": []}


def details(code, message, retry_ms):
    """grpc-status-details-bin: a google.rpc.Status with a RetryInfo."""
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(
            seconds=retry_ms // 1000, nanos=(retry_ms % 1000) * 1_000_000
        )
    )
    st = status_pb2.Status(code=code, message=message)
    st.details.add().Pack(info)
    return st.SerializeToString()


class Service(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        with lock:
            mode = list(state["mode"])
            if mode[-1] == "once":
                state["mode"] = ["accept"]
            state["calls"] += 1
            state["times"].append(int(time.monotonic() * 1000))
            state["meta"] = [
                f"{k}={v}"
                for k, v in context.invocation_metadata()
                if k.startswith("x-")
            ]
            if mode[0] not in ("accept", "partial", "hang"):
                state["faulted"] += 1
        kind = mode[0]
        if kind == "hang":
            end = time.monotonic() + int(mode[1]) / 1000
            while time.monotonic() < end and context.is_active():
                time.sleep(0.005)
            if not context.is_active():
                with lock:
                    state["faulted"] += 1
                return metrics_service_pb2.ExportMetricsServiceResponse()
        if kind in ("unavailable", "unavailable_retry", "exhausted", "exhausted_retry"):
            grpc_code, code, msg = {
                "unavailable": (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE, "sink down"),
                "unavailable_retry": (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE, "sink down"),
                "exhausted": (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED, "sink full"),
                "exhausted_retry": (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED, "sink full"),
            }[kind]
            if kind.endswith("_retry"):
                context.set_trailing_metadata(
                    (("grpc-status-details-bin", details(code, msg, int(mode[1]))),)
                )
            context.abort(grpc_code, msg)
        if kind == "invalid":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sink refuses this request")
        resp = metrics_service_pb2.ExportMetricsServiceResponse()
        if kind == "partial":
            resp.partial_success.rejected_data_points = int(mode[1])
            resp.partial_success.error_message = "sink rejected some points"
        with lock:
            state["stored"].append(request.SerializeToString())
        return resp


def pump(src, dst, check_reset):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if check_reset and state["mode"][0] == "reset":
                with lock:
                    state["calls"] += 1
                    state["faulted"] += 1
                reset(src)
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def reset(s):
    # SO_LINGER with a zero timeout: close() sends a TCP RST.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def front(listener, backend_port):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", backend_port))
        except OSError:
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Service(), server)
    if len(sys.argv) == 5 and sys.argv[1] == "--tls":
        cert, key, ca = (open(f, "rb").read() for f in sys.argv[2:5])
        creds = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=True
        )
        backend_port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        backend_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=front, args=(listener, backend_port), daemon=True).start()
    print(f"port {listener.getsockname()[1]}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "mode":
            with lock:
                state["mode"] = words[1:]
            print("ok", flush=True)
        elif words[0] == "dump":
            with lock:
                stored = list(state["stored"])
            out = "".join(b.hex() + "\n" for b in stored)
            sys.stdout.write(out + "end\n")
            sys.stdout.flush()
        elif words[0] == "times":
            with lock:
                print(" ".join(str(t) for t in state["times"]), flush=True)
        elif words[0] == "meta":
            with lock:
                print(" ".join(state["meta"]), flush=True)
        elif words[0] == "calls":
            with lock:
                print(f"{state['calls']} {state['faulted']}", flush=True)
        elif words[0] == "quit":
            break
    listener.close()
    server.stop(0)


if __name__ == "__main__":
    main()
