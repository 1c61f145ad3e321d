"""The trivial Flask app that bench/bench_app.py compares the app with: the same two endpoints, nothing else.

    gunicorn --workers 2 --threads 4 --keep-alive 5 --bind 0.0.0.0:8000 baseline_app:app

It answers ``GET /version`` with a fixed JSON object of the same shape as the app's, and ``POST /api/v1/items``
by parsing the JSON body and answering 201 with it plus an id: no validation, no store, no metrics, no logs
beyond gunicorn's defaults (no access log). That is the floor: what Flask + gunicorn cost for these requests.
"""

from __future__ import annotations

import itertools

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
app.json.sort_keys = False  # type: ignore[attr-defined]
_ids = itertools.count(1)
_VERSION = {
    "version": "0.1.0",
    "commit": "unknown",
    "image_tag": "unknown",
    "build_time": "unknown",
    "environment": "baseline",
}


@app.get("/version")
def version() -> Response:
    return jsonify(_VERSION)


@app.post("/api/v1/items")
def create_item() -> tuple[Response, int]:
    payload = request.get_json()
    return jsonify({"id": next(_ids), **payload}), 201


@app.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})
