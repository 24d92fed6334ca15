"""Drives the Python SDK against a real gigafab server (run by test/clients/python.test.ts).

Reads GIGAFAB_URL and GIGAFAB_TOKEN (a tenant of project lab-ml with L4 GPUs on a local-driver
site); prints one JSON object with what it saw, for the test to check.
"""
import json
import time

from gigafab import Client, GigafabError

c = Client()
out = {}

job = c.submit(name="hello", project="lab-ml", gpu_type="L4", gpus_per_node=1,
               command=["sh", "-c", "echo line-one; echo line-two"])
out["submitted_state"] = job["state"]
done = c.wait(job["id"], timeout=60, poll=0.2)
out["final_state"] = done["state"]
out["logs"] = c.logs(job["id"])
out["event_types"] = [e["type"] for e in c.events(job["id"], follow=False)]

slow = c.submit({"name": "slow", "project": "lab-ml", "gpuType": "L4", "gpusPerNode": 1,
                 "command": ["sh", "-c", "echo first; sleep 1; echo second"]})
out["followed_lines"] = list(c.logs(slow["id"], follow=True))
out["live_event_types"] = [e["type"] for e in c.events(slow["id"])]

long = c.submit(name="long", project="lab-ml", gpu_type="L4", gpus_per_node=1, command=["sleep", "300"])
deadline = time.monotonic() + 60
while c.get(long["id"])["state"] != "running" and time.monotonic() < deadline:
    time.sleep(0.2)
c.cancel(long["id"])
out["cancelled_state"] = c.wait(long["id"], timeout=60, poll=0.2)["state"]

out["listed_ids"] = sorted(j["id"] for j in c.list(project="lab-ml"))
out["submitted_ids"] = sorted([job["id"], slow["id"], long["id"]])

try:
    c.submit(name="bad", project="lab-ml", gpu_type="H999", gpus_per_node=1, command=["true"])
    out["error"] = None
except GigafabError as e:
    out["error"] = {"status": e.status, "code": e.code, "title": e.title, "detail": e.detail}

try:
    c.get(987654)
    out["missing"] = None
except GigafabError as e:
    out["missing"] = {"status": e.status, "code": e.code}

print(json.dumps(out))
