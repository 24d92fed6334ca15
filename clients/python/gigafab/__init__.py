"""gigafab: a Python client for the gigafab control plane's REST API (standard library only)."""
from ._generated import API_VERSION, Job, JobEvent, JobSpec
from .client import TERMINAL_STATES, Client
from .errors import GigafabError

__all__ = ["API_VERSION", "Client", "GigafabError", "Job", "JobEvent", "JobSpec", "TERMINAL_STATES"]
