#!/usr/bin/env python3
"""Decodes a Prometheus protobuf exposition (varint-length-delimited
io.prometheus.client.MetricFamily messages) with the OFFICIAL definitions:
client_model's io/prometheus/client/metrics.proto, compiled here with
grpcio-tools into Python classes in a temporary directory, and prints a
flattened JSON view that the Rust tests compare with what they produced.

Usage: decode_prom_proto.py METRICS_PROTO_DIR BODY_FILE
  METRICS_PROTO_DIR holds io/prometheus/client/metrics.proto (the Dir that
  `go mod download -json github.com/prometheus/client_model@v0.6.1` names).

Output: {"families": [family, ...]} where a family is
  {"name", "help", "type": "COUNTER"|"GAUGE"|"HISTOGRAM"|..., "unknown_bytes",
   "metrics": [{"labels": {name: value}, "timestamp_ms"?: int,
                "gauge"?: float, "counter"?: float, "counter_created"?: [s, ns],
                "histogram"?: histogram}]}
and a histogram is
  {"sample_count", "sample_sum", "created"?: [s, ns],
   "buckets": [[cumulative_count, upper_bound], ...],
   "native": bool (Prometheus' own test: schema, zero bucket, spans, deltas),
   "schema"?, "zero_threshold"?, "zero_count"?,
   "positive"/"negative": {prometheus_index: absolute_count} expanded from
   the spans and deltas, "positive_spans"/"negative_spans": [[offset, length]]}
Exemplars appear only where set: "counter_exemplar" on a metric,
"exemplar" as a third element of a bucket ([count, bound, exemplar]),
"exemplars" on a histogram; an exemplar is
  {"labels": {name: value}, "value": float, "timestamp"?: [s, ns]}.
"unknown_bytes" counts bytes the official definitions did not recognise
(a wrong field number or wire type shows up there); it must be 0.
"""

import importlib.util
import json
import math
import os
import sys
import tempfile

from grpc_tools import protoc


def load_classes(proto_dir):
    out = tempfile.mkdtemp(prefix="prom-proto-")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{include}",
            f"--python_out={out}",
            "io/prometheus/client/metrics.proto",
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed ({rc}) on {proto_dir}")
    # Loaded by path: the package name `io` is also the standard library's.
    path = os.path.join(out, "io", "prometheus", "client", "metrics_pb2.py")
    spec = importlib.util.spec_from_file_location("prometheus_metrics_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def num(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def read_varint(buf, pos):
    shift = 0
    value = 0
    while True:
        if pos >= len(buf):
            raise SystemExit("truncated length prefix")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def expand(spans, deltas):
    counts = {}
    index = 0
    count = 0
    it = iter(deltas)
    for s in spans:
        index += s.offset
        for _ in range(s.length):
            count += next(it)
            counts[str(index)] = count
            index += 1
    if next(it, None) is not None:
        raise SystemExit("more deltas than span lengths")
    return counts


def exemplar(e):
    out = {"labels": {lp.name: lp.value for lp in e.label}, "value": num(e.value)}
    if len(out["labels"]) != len(e.label):
        raise SystemExit(f"duplicate exemplar label names in {e}")
    if e.HasField("timestamp"):
        out["timestamp"] = [e.timestamp.seconds, e.timestamp.nanos]
    return out


def bucket(b):
    out = [b.cumulative_count, num(b.upper_bound)]
    if b.HasField("exemplar"):
        out.append(exemplar(b.exemplar))
    return out


def histogram(h):
    out = {
        "sample_count": h.sample_count,
        "sample_sum": num(h.sample_sum),
        "buckets": [bucket(b) for b in h.bucket],
        # The test Prometheus' protobuf parser applies.
        "native": bool(
            h.zero_threshold > 0
            or h.zero_count > 0
            or len(h.positive_span) > 0
            or len(h.negative_span) > 0
            or len(h.positive_delta) > 0
            or len(h.negative_delta) > 0
        ),
    }
    if h.HasField("created_timestamp"):
        out["created"] = [h.created_timestamp.seconds, h.created_timestamp.nanos]
    if len(h.exemplars) > 0:
        out["exemplars"] = [exemplar(e) for e in h.exemplars]
    for f in ("schema", "zero_threshold", "zero_count"):
        if h.HasField(f):
            out[f] = num(getattr(h, f))
    if out["native"]:
        out["positive"] = expand(h.positive_span, h.positive_delta)
        out["negative"] = expand(h.negative_span, h.negative_delta)
        out["positive_spans"] = [[s.offset, s.length] for s in h.positive_span]
        out["negative_spans"] = [[s.offset, s.length] for s in h.negative_span]
    return out


def metric(m):
    out = {"labels": {lp.name: lp.value for lp in m.label}}
    if len(out["labels"]) != len(m.label):
        raise SystemExit(f"duplicate label names in {m}")
    if m.HasField("timestamp_ms"):
        out["timestamp_ms"] = m.timestamp_ms
    if m.HasField("gauge"):
        out["gauge"] = num(m.gauge.value)
    if m.HasField("counter"):
        out["counter"] = num(m.counter.value)
        if m.counter.HasField("created_timestamp"):
            c = m.counter.created_timestamp
            out["counter_created"] = [c.seconds, c.nanos]
        if m.counter.HasField("exemplar"):
            out["counter_exemplar"] = exemplar(m.counter.exemplar)
    if m.HasField("histogram"):
        out["histogram"] = histogram(m.histogram)
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    pb = load_classes(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        body = f.read()
    families = []
    pos = 0
    while pos < len(body):
        n, pos = read_varint(body, pos)
        raw = body[pos : pos + n]
        if len(raw) != n:
            raise SystemExit("truncated message")
        pos += n
        fam = pb.MetricFamily()
        fam.ParseFromString(raw)
        fam.DiscardUnknownFields()
        unknown = n - len(fam.SerializeToString())
        families.append(
            {
                "name": fam.name,
                "help": fam.help,
                "type": pb.MetricType.Name(fam.type),
                "unknown_bytes": unknown,
                "metrics": [metric(m) for m in fam.metric],
            }
        )
    json.dump({"families": families}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
