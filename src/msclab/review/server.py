"""The review page's local web server (standard library ``http.server``).

Bound to 127.0.0.1 only. Every request must carry the session's random token
(``?token=`` in the URL the command prints, or the ``X-Review-Token`` header);
without it the answer is 403. Only the bundled page assets and the JSON API are
served: no path of the file system is ever mapped to a URL, so nothing outside
the output folder and the experiment folder can be read, and overrides are
written only to ``gates/overrides/`` of the experiment.
"""

from __future__ import annotations

import hmac
import json
import secrets
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from ..errors import MsclabError
from .data import ReviewStudy

#: Bundled assets: URL path -> (file in msclab/review/static, content type).
ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/review.js": ("review.js", "text/javascript; charset=utf-8"),
          "/review.css": ("review.css", "text/css; charset=utf-8")}
_MAX_BODY = 1 << 20


class ReviewServer(ThreadingHTTPServer):
    """A threading HTTP server holding one :class:`ReviewStudy` and its token."""

    daemon_threads = True

    def __init__(self, study: ReviewStudy, port: int = 0, token: str | None = None) -> None:
        self.study = study
        self.token = token or secrets.token_urlsafe(24)
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        """The page's URL with the token."""
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - base-class signature
        return  # quiet: the terminal shows only the URL and errors

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        given = self.headers.get("X-Review-Token") or (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.server.token.encode())

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page was closed or reloaded while the answer was on its way

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload, allow_nan=False).encode(), "application/json")

    def _route(self) -> tuple[str, dict[str, list[str]]] | None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if not self._authorised(query):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: missing or wrong token\n", "text/plain")
            return None
        return parts.path, query

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        routed = self._route()
        if routed is None:
            return
        path, query = routed
        try:
            if path in ASSETS:
                name, ctype = ASSETS[path]
                body = resources.files("msclab.review").joinpath("static", name).read_bytes()
                if name == "index.html":  # asset URLs carry the token too
                    body = body.replace(b"{{TOKEN}}", self.server.token.encode())
                self._send(HTTPStatus.OK, body, ctype)
            elif path == "/api/panels":
                self._json(HTTPStatus.OK, {"panels": self.server.study.panels,
                                           "out": str(self.server.study.out),
                                           "gate_qc": self.server.study.gate_qc is not None})
            elif path == "/api/panel":
                self._json(HTTPStatus.OK, self.server.study.panel_cards((query.get("name") or [""])[0]))
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        except MsclabError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        routed = self._route()
        if routed is None:
            return
        path, _ = routed
        if path != "/api/save":
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > _MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "empty or too large request"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            written = self.server.study.save(str(body["panel"]), str(body["gate"]),
                                             [str(s) for s in body["sample_ids"]], dict(body["shape"]))
        except (KeyError, TypeError, ValueError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {exc}"})
            return
        except MsclabError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        root = self.server.study.root
        self._json(HTTPStatus.OK, {"written": [str(p.relative_to(root)) for p in written]})
