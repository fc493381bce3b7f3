"""A tiny audit client for Vigil (Python standard library only).

Send your application's audit events to a running `vigil run`:

    from vigil_audit import AuditClient
    audit = AuditClient("http://127.0.0.1:9097", project_name="orders",
                        project_market="XNYS", project_privileges="trader")
    audit.event("trade_opened", "bought 100 AAPL", symbol="AAPL", price=191.2)

`event` never blocks and never raises: events wait in a bounded in-memory queue and a
background thread posts them in batches (NDJSON to /api/v1/audit). When the daemon is down
or slow, events beyond the queue are dropped and counted (`audit.dropped`), so the
application keeps running whatever happens to its monitoring. `close()` sends what is left
(within a timeout) and stops the thread.
"""

import json
import os
import queue
import threading
import time
import urllib.request
from datetime import datetime, timezone


class AuditClient:
    def __init__(self, server, project_name, project_market="", project_description="",
                 project_privileges="", token=None, max_queue=10000, batch=500, timeout=2.0):
        self.url = server.rstrip("/") + "/api/v1/audit"
        self.project = {
            "project_name": project_name,
            "project_market": project_market,
            "project_description": project_description,
            "project_privileges": project_privileges,
        }
        self.token = token if token is not None else os.environ.get("VIGIL_INGEST_TOKEN")
        self.timeout = timeout
        self.batch = batch
        self.sent = 0
        self.dropped = 0
        self._queue = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-audit", daemon=True)
        self._thread.start()

    def event(self, event_type, event_description="", **fields):
        """Queues one event; returns at once (False when it had to be dropped)."""
        try:
            e = dict(self.project)
            e.update(fields)
            e["event_type"] = str(event_type)
            e["event_description"] = str(event_description)
            e.setdefault("timestamp", datetime.now(timezone.utc).isoformat())
            self._queue.put_nowait(e)
            return True
        except Exception:  # a full queue, or fields that are not plain values
            self.dropped += 1
            return False

    def close(self, timeout=5.0):
        """Sends what is queued (for at most `timeout` seconds) and stops."""
        self._stop.set()
        self._thread.join(timeout)

    def _take(self, wait):
        items = []
        try:
            items.append(self._queue.get(timeout=wait))
            while len(items) < self.batch:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return items

    def _post(self, items):
        body = "".join(json.dumps(e, default=str) + "\n" for e in items).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                r.read()
            self.sent += len(items)
        except Exception:  # down, refused, slow: count and carry on
            self.dropped += len(items)

    def _run(self):
        while not self._stop.is_set():
            items = self._take(0.5)
            if items:
                self._post(items)
        # Closing: what is left, without waiting for more.
        while True:
            items = self._take(0.01)
            if not items:
                return
            self._post(items)


if __name__ == "__main__":
    # A demonstration: `python3 vigil_audit.py http://127.0.0.1:9097`
    import sys
    client = AuditClient(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9097",
                         project_name="demo", project_market="XNYS")
    client.event("boot", "demo application started")
    client.event("trade_opened", "bought 100 AAPL", symbol="AAPL", price=191.2)
    client.event("error", "order rejected", symbol="AAPL")
    client.close()
    print(f"sent {client.sent}, dropped {client.dropped}")
