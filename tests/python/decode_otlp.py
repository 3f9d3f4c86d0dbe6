#!/usr/bin/env python3
"""Decodes OTLP metrics payloads with the official protobuf definitions
(PyPI `opentelemetry-proto` + `protobuf`) and prints a flattened JSON view
that the Rust tests compare with what they recorded.

Usage:
  decode_otlp.py protobuf FILE...   each FILE is one request body
                                    (gzip bodies are recognised by magic)
  decode_otlp.py jsonl FILE         every line parsed with
                                    google.protobuf.json_format.Parse

Output: {"requests": [request, ...]} where a request is
  {"resource": {k: v}, "resource_schema_url": str, "unknown_bytes": int,
   "metrics": [{"scope", "scope_version", "name", "description", "unit",
                "type": "gauge"|"sum"|"histogram"|"exponential_histogram",
                "temporality": int,
                "monotonic": bool, "points": [...]}]}
and a point is
  {"attributes": {k: v}, "start": int, "time": int, "flags": int,
   "as_int": int | "as_double": float,                       (numbers)
   "count", "sum", "min", "max", "bounds", "bucket_counts"}  (histograms)
   "count", "sum", "min", "max", "scale", "zero_count", "zero_threshold",
   "positive", "negative": {"offset", "bucket_counts"} | null}
                                                   (exponential histograms)
"sum", "min", "max" are present only when set; "positive"/"negative" are
null when the message is absent. A point with exemplars also has
  "exemplars": [{"filtered_attributes": {k: v}, "time": int,
                 "as_int": int | "as_double": float,
                 "trace_id": hex, "span_id": hex}]   (ids "" when unset)
In jsonl mode, exemplars' "traceId"/"spanId" must be hex strings (the
OTLP/JSON rule); they are turned into protobuf JSON's base64 before
parsing, as OTLP/JSON receivers do, and anything but 32 (16) lowercase hex
digits is an error.
"unknown_bytes" is how many bytes of the body the official definitions did
not recognise (a wrong field number or wire type shows up here); it must
be 0.
"""

import base64
import gzip
import json
import math
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attrs(v.kvlist_value.values)
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def num(x):
    # JSON has no NaN/Infinity: keep them as strings.
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def exemplars(point, out):
    if len(point.exemplars) == 0:
        return out
    out["exemplars"] = []
    for e in point.exemplars:
        x = {
            "filtered_attributes": attrs(e.filtered_attributes),
            "time": e.time_unix_nano,
            "trace_id": e.trace_id.hex(),
            "span_id": e.span_id.hex(),
        }
        kind = e.WhichOneof("value")
        if kind is not None:
            x[kind] = num(getattr(e, kind))
        out["exemplars"].append(x)
    return out


def number_point(p):
    out = {
        "attributes": attrs(p.attributes),
        "start": p.start_time_unix_nano,
        "time": p.time_unix_nano,
        "flags": p.flags,
    }
    kind = p.WhichOneof("value")
    if kind is not None:
        out[kind] = num(getattr(p, kind))
    return exemplars(p, out)


def histogram_point(p):
    out = {
        "attributes": attrs(p.attributes),
        "start": p.start_time_unix_nano,
        "time": p.time_unix_nano,
        "flags": p.flags,
        "count": p.count,
        "bounds": [num(b) for b in p.explicit_bounds],
        "bucket_counts": list(p.bucket_counts),
    }
    for f in ("sum", "min", "max"):
        if p.HasField(f):
            out[f] = num(getattr(p, f))
    return exemplars(p, out)


def exponential_buckets(point, field):
    if not point.HasField(field):
        return None
    b = getattr(point, field)
    return {"offset": b.offset, "bucket_counts": list(b.bucket_counts)}


def exponential_point(p):
    out = {
        "attributes": attrs(p.attributes),
        "start": p.start_time_unix_nano,
        "time": p.time_unix_nano,
        "flags": p.flags,
        "count": p.count,
        "scale": p.scale,
        "zero_count": p.zero_count,
        "zero_threshold": num(p.zero_threshold),
        "positive": exponential_buckets(p, "positive"),
        "negative": exponential_buckets(p, "negative"),
    }
    for f in ("sum", "min", "max"):
        if p.HasField(f):
            out[f] = num(getattr(p, f))
    return exemplars(p, out)


def flatten(req, unknown_bytes):
    out = []
    for rm in req.resource_metrics:
        metrics = []
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                entry = {
                    "scope": sm.scope.name,
                    "scope_version": sm.scope.version,
                    "name": m.name,
                    "description": m.description,
                    "unit": m.unit,
                    "type": kind,
                    "temporality": 0,
                    "monotonic": False,
                    "points": [],
                }
                if kind == "gauge":
                    entry["points"] = [number_point(p) for p in m.gauge.data_points]
                elif kind == "sum":
                    entry["temporality"] = m.sum.aggregation_temporality
                    entry["monotonic"] = m.sum.is_monotonic
                    entry["points"] = [number_point(p) for p in m.sum.data_points]
                elif kind == "histogram":
                    entry["temporality"] = m.histogram.aggregation_temporality
                    entry["points"] = [
                        histogram_point(p) for p in m.histogram.data_points
                    ]
                elif kind == "exponential_histogram":
                    e = m.exponential_histogram
                    entry["temporality"] = e.aggregation_temporality
                    entry["points"] = [exponential_point(p) for p in e.data_points]
                metrics.append(entry)
        out.append(
            {
                "resource": attrs(rm.resource.attributes),
                "resource_schema_url": rm.schema_url,
                "unknown_bytes": unknown_bytes,
                "metrics": metrics,
            }
        )
    return out


def decode_protobuf(body):
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    req = ExportMetricsServiceRequest()
    req.ParseFromString(body)
    full = len(body)
    req.DiscardUnknownFields()
    unknown = full - len(req.SerializeToString())
    return flatten(req, unknown)


def hex_ids_to_base64(node):
    """OTLP/JSON ids (hex) to protobuf JSON bytes (base64), in place."""
    if isinstance(node, list):
        for x in node:
            hex_ids_to_base64(x)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k in ("traceId", "spanId"):
                want = 32 if k == "traceId" else 16
                if (
                    not isinstance(v, str)
                    or len(v) != want
                    or v != v.lower()
                    or any(c not in "0123456789abcdef" for c in v)
                ):
                    raise SystemExit(f"{k} {v!r} is not {want} lowercase hex digits")
                node[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                hex_ids_to_base64(v)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("protobuf", "jsonl"):
        print(__doc__, file=sys.stderr)
        return 2
    requests = []
    if sys.argv[1] == "protobuf":
        for path in sys.argv[2:]:
            with open(path, "rb") as f:
                requests.extend(decode_protobuf(f.read()))
    else:
        with open(sys.argv[2], encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    raise SystemExit(f"line {n} is empty")
                req = ExportMetricsServiceRequest()
                # Strict: an unknown or misspelt field is an error.
                if '"traceId"' in line or '"spanId"' in line:
                    obj = json.loads(line)
                    hex_ids_to_base64(obj)
                    json_format.ParseDict(obj, req, ignore_unknown_fields=False)
                else:
                    json_format.Parse(line, req, ignore_unknown_fields=False)
                requests.extend(flatten(req, 0))
    json.dump({"requests": requests}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
