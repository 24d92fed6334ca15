"""GigafabError: an API error as an exception, carrying the RFC 9457 problem details."""
from __future__ import annotations

from typing import Any, Dict, List, Optional


class GigafabError(Exception):
    """The API answered with a problem (4xx/5xx), or could not be reached (status 0)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: Optional[List[Dict[str, Any]]] = None,
        request_id: Optional[str] = None,
        problem: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(f"{code}: {detail} (HTTP {status})" if status else f"{code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.request_id = request_id
        self.problem = problem or {}
