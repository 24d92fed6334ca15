"""The HTTP transport behind every call: urllib, bearer token, JSON in and out, problems as GigafabError."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Optional

from .errors import GigafabError


def _query_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class Transport:
    def __init__(self, url: str, token: Optional[str], timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def open(
        self,
        method: str,
        template: str,
        *,
        path: Dict[str, Any],
        query: Dict[str, Any],
        headers: Dict[str, Any],
        body: Any,
        timeout: Optional[float] = None,
    ):
        """Sends the request and returns the open response (for streams); raises GigafabError on a problem."""
        target = template
        for name, value in path.items():
            target = target.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
        q = {k: _query_value(v) for k, v in query.items() if v is not None}
        if q:
            target += "?" + urllib.parse.urlencode(q)
        h = {k: str(v) for k, v in headers.items() if v is not None}
        h["accept"] = "application/json, text/plain, text/event-stream"
        if self.token:
            h["authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["content-type"] = "application/json"
        req = urllib.request.Request(self.url + target, data=data, method=method, headers=h)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout if timeout is None else timeout)
        except urllib.error.HTTPError as e:
            raise _problem(e.code, e.read(), e.headers.get("x-request-id")) from None
        except urllib.error.URLError as e:
            raise GigafabError(0, "unreachable", "Unreachable", f"cannot reach {self.url}: {e.reason}") from None

    def _call(self, method: str, template: str, *, path: Dict[str, Any], query: Dict[str, Any], headers: Dict[str, Any], body: Any) -> Any:
        with self.open(method, template, path=path, query=query, headers=headers, body=body) as res:
            raw = res.read()
            if not raw:
                return None
            if "json" in (res.headers.get("content-type") or ""):
                return json.loads(raw)
            return raw.decode("utf-8", errors="replace")


def _problem(status: int, raw: bytes, request_id: Optional[str]) -> GigafabError:
    try:
        p = json.loads(raw)
    except ValueError:
        p = None
    if not isinstance(p, dict):
        text = raw.decode("utf-8", errors="replace").strip()
        return GigafabError(status, "http_error", "HTTP error", text or f"HTTP {status}", request_id=request_id)
    return GigafabError(
        int(p.get("status", status)),
        str(p.get("code", "http_error")),
        str(p.get("title", "")),
        str(p.get("detail", "")),
        p.get("errors"),
        request_id,
        p,
    )
