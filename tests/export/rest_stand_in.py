"""A stand-in for TF Serving's REST predict endpoint, for testing the documented client code without docker.

It follows TF Serving's documented JSON mapping: "instances" (row format: a list with one entry per example; with
named inputs each entry is {input: value}) answered with {"predictions": [...]}, "inputs" (columnar: {input:
tensor}) answered with {"outputs": {...}}, and {"b64": "..."} for binary strings.
"""

import base64
import http.server
import json
import threading

import numpy as np
import tensorflow as tf


def _decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _tensor(value, spec):
    return tf.constant(_decode(value), dtype=spec.dtype)


def _jsonable(array):
    array = np.asarray(array)
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    return array.tolist()


def predict(loaded, body):
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        rows = body["instances"]
        if all(isinstance(row, dict) and set(row) <= set(specs) and not set(row) == {"b64"} for row in rows):
            columns = {name: [row[name] for row in rows] for name in specs}
        else:
            (name,) = specs
            columns = {name: rows}
        out = signature(**{name: _tensor(value, specs[name]) for name, value in columns.items()})
        names = sorted(out)
        batch = len(rows)
        return {"predictions": [{k: _jsonable(out[k][i]) for k in names} for i in range(batch)]}
    inputs = body["inputs"]
    if not isinstance(inputs, dict):
        (name,) = specs
        inputs = {name: inputs}
    out = signature(**{name: _tensor(value, specs[name]) for name, value in inputs.items()})
    return {"outputs": {k: _jsonable(v) for k, v in out.items()}}


class StandIn:
    """Serves POST /v1/models/<name>:predict for one SavedModel on a free local port."""

    def __init__(self, name, path):
        loaded = tf.saved_model.load(path)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                if self.path != f"/v1/models/{name}:predict":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    status, answer = 200, predict(loaded, body)
                except tf.errors.InvalidArgumentError as error:
                    status, answer = 400, {"error": error.message}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
