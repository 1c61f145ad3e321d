"""``/api/v1/items``: a small in-memory resource with strict input validation.

An item is ``{"name": str (1..100 characters, not only whitespace), "quantity": int >= 0 (not a bool)}``.
Unknown fields are rejected, like missing ones (422), so a typo never passes silently. The body must be
``application/json`` (415 otherwise), parse as JSON (400 otherwise) and be an object (422 otherwise).
The store belongs to one app instance, so under gunicorn each worker process has its own items: this is a
teaching service, not a database. It keeps at most ``ITEMS_MAX`` items: creating one more evicts the oldest
(lowest id), so memory stays bounded and a create never fails for lack of room.

Writes (POST, DELETE) need ``Authorization: Bearer <token>`` when the write token file (``APP_WRITE_TOKEN_FILE``)
exists, and answer 401 with a problem body without it or with a wrong one; with no token file configured, or none
there yet, writes are open as before (app/write_token.py). Reads never need it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import write_token
from app.logs import timestamp
from app.problems import MALFORMED_JSON, VALIDATION_ERROR, Problem

NAME_MAX = 100
FIELDS = {"name": "string", "quantity": "integer"}

log = logging.getLogger(__name__)
bp = Blueprint("items", __name__, url_prefix="/api/v1/items")


@dataclass(frozen=True)
class Item:
    id: int
    name: str
    quantity: int
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "quantity": self.quantity, "created_at": self.created_at}


class ItemStore:
    """Thread-safe (gunicorn threads share it); ids are never reused; at most ``max_items`` items, the oldest
    (lowest id) evicted to make room for a new one."""

    def __init__(self, max_items: int) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[int, Item] = OrderedDict()  # in creation order: the first is the oldest
        self._next_id = 1
        self._max_items = max_items
        self.evicted = 0

    def create(self, name: str, quantity: int) -> Item:
        created_at = timestamp(time.time())
        with self._lock:
            if len(self._items) >= self._max_items:
                self._items.popitem(last=False)
                self.evicted += 1
            item = Item(self._next_id, name, quantity, created_at)
            self._items[item.id] = item
            self._next_id += 1
            return item

    def list(self) -> list[Item]:
        with self._lock:
            return list(self._items.values())

    def get(self, item_id: int) -> Item | None:
        with self._lock:
            return self._items.get(item_id)

    def delete(self, item_id: int) -> bool:
        with self._lock:
            return self._items.pop(item_id, None) is not None


def validate(payload: object) -> tuple[str, int]:
    """Return (name, quantity) or raise a 422 Problem listing every field error."""
    if not isinstance(payload, dict):
        raise Problem(
            422,
            f"The body must be a JSON object, not {_json_type(payload)}.",
            type_=VALIDATION_ERROR,
            title="Invalid item",
            errors=[{"field": "", "message": "expected an object"}],
        )
    errors: list[dict[str, str]] = []
    for key in sorted(set(payload) - set(FIELDS)):
        errors.append({"field": key, "message": "unknown field"})
    name = payload.get("name")
    if "name" not in payload:
        errors.append({"field": "name", "message": "required"})
    elif not isinstance(name, str):
        errors.append({"field": "name", "message": f"expected a string, got {_json_type(name)}"})
    elif not name.strip():
        errors.append({"field": "name", "message": "must not be empty"})
    elif len(name) > NAME_MAX:
        errors.append({"field": "name", "message": f"must be at most {NAME_MAX} characters, got {len(name)}"})
    quantity = payload.get("quantity")
    if "quantity" not in payload:
        errors.append({"field": "quantity", "message": "required"})
    elif not isinstance(quantity, int) or isinstance(quantity, bool):
        errors.append({"field": "quantity", "message": f"expected an integer, got {_json_type(quantity)}"})
    elif quantity < 0:
        errors.append({"field": "quantity", "message": "must be >= 0"})
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise Problem(422, f"Invalid fields: {fields}.", type_=VALIDATION_ERROR, title="Invalid item", errors=errors)
    assert isinstance(name, str) and isinstance(quantity, int)
    return name, quantity


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _read_json() -> object:
    if not request.is_json:
        raise Problem(415, "Send the item as JSON with 'Content-Type: application/json'.")
    raw = read_body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Problem(
            400, f"The body is not valid JSON: {_short(exc)}", type_=MALFORMED_JSON, title="Malformed JSON"
        ) from None


def read_body() -> bytes:
    """The request body; RequestEntityTooLarge (413) when it is larger than MAX_CONTENT_LENGTH, with or without a
    Content-Length.

    With a Content-Length above the limit Werkzeug refuses before reading. Without one (Transfer-Encoding: chunked)
    its stream is limited to MAX_CONTENT_LENGTH but stops there quietly (werkzeug 3.1 wsgi.py,
    `LimitedStream.readall` reads while not exhausted): the body would be cut at the limit and read as broken JSON.
    So a body without a length is read here, one byte past the limit, from the server's own input, which ends at
    the end of the body (gunicorn sets `wsgi.input_terminated`; PEP 3333 servers without it give no such body).
    """
    limit = request.max_content_length
    terminated = request.environ.get("wsgi.input_terminated")
    if limit is None or request.content_length is not None or not terminated:
        return request.get_data(cache=False)
    stream = request.environ["wsgi.input"]
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return bytes(data)


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "…"


@bp.before_request
def _write_token() -> Response | None:
    """POST and DELETE need the write token once one is provisioned (app/write_token.py); reads never do."""
    return write_token.check(current_app.extensions["gitops_lab.settings"].write_token_file)


def _store() -> ItemStore:
    store: ItemStore = current_app.extensions["gitops_lab.items"]
    return store


@bp.get("")
def list_items() -> Response:
    items = [item.to_json() for item in _store().list()]
    return jsonify({"items": items, "count": len(items)})


@bp.post("")
def create_item() -> tuple[Response, int, dict[str, str]]:
    name, quantity = validate(_read_json())
    item = _store().create(name, quantity)
    log.info("item created", extra={"item_id": item.id})
    # what url_for("items.get_item", item_id=item.id) builds, without the URL map's build step
    return jsonify(item.to_json()), 201, {"Location": f"{request.script_root}{bp.url_prefix}/{item.id}"}


@bp.get("/<int:item_id>")
def get_item(item_id: int) -> Response:
    item = _store().get(item_id)
    if item is None:
        raise Problem(404, f"No item with id {item_id}.")
    return jsonify(item.to_json())


@bp.delete("/<int:item_id>")
def delete_item(item_id: int) -> Response:
    if not _store().delete(item_id):
        raise Problem(404, f"No item with id {item_id}.")
    log.info("item deleted", extra={"item_id": item_id})
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response
