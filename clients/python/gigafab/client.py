"""Client: the hand-written facade over the generated operations (submit, get, list, wait, logs, cancel, events)."""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Union

from ._generated import GeneratedApi, Job, JobEvent, JobSpec
from ._transport import Transport

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "timed-out"})

JobId = Union[str, int]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _saved_login() -> Dict[str, str]:
    """What `gigafab login` saved ($GIGAFAB_CONFIG, else $XDG_CONFIG_HOME or ~/.config, gigafab/config.json)."""
    path = os.environ.get("GIGAFAB_CONFIG") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config"), "gigafab", "config.json"
    )
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, dict):
        return {}
    return {k: v for k, v in saved.items() if k in ("url", "token") and isinstance(v, str)}


class Client(Transport, GeneratedApi):
    """A gigafab API client. `url` and `token` default to $GIGAFAB_URL and $GIGAFAB_TOKEN, then to
    what `gigafab login` saved (the CLI's precedence).

    Every operation of the API is a method (generated, named after its operationId in snake_case:
    `client.get_fleet()`, `client.set_quota("robotics", "B200", {"gpus": 64})`); the methods below
    are the everyday ones. Errors raise GigafabError with the problem's code, title, detail, status.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0) -> None:
        saved = _saved_login()
        url = url or os.environ.get("GIGAFAB_URL") or saved.get("url") or "http://127.0.0.1:8080"
        if token is None:
            token = os.environ.get("GIGAFAB_TOKEN") or saved.get("token")
        super().__init__(url, token, timeout)

    def submit(self, spec: Optional[JobSpec] = None, *, idempotency_key: Optional[str] = None, **fields: Any) -> Job:
        """Submits a job: a JobSpec dict, and/or its fields as keywords (`gpu_type="B200"` is `gpuType`)."""
        body: Dict[str, Any] = dict(spec or {})
        body.update({_camel(k): v for k, v in fields.items()})
        return self.submit_job(body, idempotency_key=idempotency_key)  # type: ignore[arg-type]

    def get(self, job_id: JobId) -> Job:
        return self.get_job(job_id)

    def list(
        self,
        *,
        state: Optional[str] = None,
        project: Optional[str] = None,
        label: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> List[Job]:
        """Jobs, newest first, following the pages (at most `limit` when given)."""
        jobs: List[Job] = []
        cursor: Optional[str] = None
        while True:
            page_size = min(1000, limit - len(jobs)) if limit else None
            page = self.list_jobs(state=state, project=project, label=label, limit=page_size, cursor=cursor)  # type: ignore[arg-type]
            jobs.extend(page["items"])
            cursor = page.get("nextCursor")
            if not cursor or (limit and len(jobs) >= limit):
                return jobs[:limit] if limit else jobs

    def wait(self, job_id: JobId, timeout: Optional[float] = None, poll: float = 1.0) -> Job:
        """Waits until the job is terminal and returns it; raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["state"] in TERMINAL_STATES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout} s")
            time.sleep(poll)

    def cancel(self, job_id: JobId) -> Job:
        return self.cancel_job(job_id)

    def logs(self, job_id: JobId, *, follow: bool = False, offset: int = 0, attempt: Optional[int] = None) -> Union[str, Iterator[str]]:
        """The job's output as text; with follow=True an iterator of lines, live until the job ends."""
        if not follow:
            return self.get_job_logs(job_id, offset=offset, attempt=attempt)
        return self._follow_logs(job_id, offset, attempt)

    def _follow_logs(self, job_id: JobId, offset: int, attempt: Optional[int]) -> Iterator[str]:
        query = {"offset": offset, "follow": "true", "attempt": attempt}
        with self.open("GET", "/v1/jobs/{id}/logs", path={"id": job_id}, query=query, headers={}, body=None, timeout=None) as res:
            pending = b""
            while True:
                chunk = res.read1(65536) if hasattr(res, "read1") else res.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", errors="replace")
            if pending:
                yield pending.decode("utf-8", errors="replace")

    def events(self, job_id: JobId, *, follow: bool = True) -> Iterator[JobEvent]:
        """The job's events, oldest first; with follow=True (default) live, until the job ends."""
        if not follow:
            yield from self.list_job_events(job_id)["items"]
            return
        with self.open("GET", "/v1/jobs/{id}/events/stream", path={"id": job_id}, query={}, headers={}, body=None, timeout=None) as res:
            event, data = "message", []
            for raw in res:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data and event == "job-event":
                        yield json.loads("\n".join(data))
                    if event == "end":
                        return
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    value = line[5:]
                    data.append(value[1:] if value.startswith(" ") else value)
