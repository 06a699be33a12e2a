"""The simulated annotators of ``bench/annotate.py``: each logs in through the login page and
loops over the endpoints the item page uses, recording latencies and judgements in ``Stats``."""

import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

SLUG = "bench"
PASSWORD = "bench-password-123"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "submit": []})
    judgements: list[int] = field(default_factory=list)
    judged_at: list[float] = field(default_factory=list)  # time.monotonic() of each
    errors: list[str] = field(default_factory=list)
    conflicts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Annotator:
    def __init__(self, port: int, username: str) -> None:
        self.port = port
        self.username = username
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, data

    def log_in(self) -> None:
        status, page = self.request("GET", "/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert status == 200 and token, "no login form"
        form = urllib.parse.urlencode(
            {
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1).decode(),
            }
        ).encode()
        status, _ = self.request(
            "POST", "/login/", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302 and "sessionid" in self.cookies, f"login failed: {status}"

    def next_item(self, stats: Stats) -> dict[str, Any] | None:
        start = time.perf_counter()
        status, body = self.request("GET", f"/p/{SLUG}/next/", None, {"Accept": "application/json"})
        elapsed = time.perf_counter() - start
        with stats.lock:
            if status != 200:
                stats.errors.append(f"next {status}: {body[:200]!r}")
                return None
            stats.latencies["next"].append(elapsed)
        item: dict[str, Any] | None = json.loads(body)["item"]
        return item

    def run(
        self,
        item: dict[str, Any] | None,
        until: float,
        stats: Stats,
        rng: random.Random,
        two_requests: bool,
    ) -> None:
        """Judge items until ``until``: submit each with ``?next=1`` and take the next
        item from the answer, as the item page does (``two_requests``: ask ``next`` after
        each submit instead)."""
        json_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-CSRFToken": self.cookies["csrftoken"],
        }
        while item is not None and time.monotonic() < until:
            order = list(item["shown_order"])
            rng.shuffle(order)
            ranking = (
                [[order[0]], order[1:3], [order[3]]]
                if rng.random() < 0.2
                else [[pk] for pk in order]
            )
            submit = json.dumps(
                {"ranking": ranking, "shown_order": item["shown_order"], "time_spent_ms": 1000}
            ).encode()
            path = f"/p/{SLUG}/items/{item['id']}/judgement/" + ("" if two_requests else "?next=1")
            start = time.perf_counter()
            status, body = self.request("POST", path, submit, json_headers)
            elapsed = time.perf_counter() - start
            answer = json.loads(body) if body else {}
            with stats.lock:
                stats.latencies["submit"].append(elapsed)
                if status == 201:
                    stats.judgements.append(answer["judgement"]["id"])
                    stats.judged_at.append(time.monotonic())
                elif status == 409:
                    stats.conflicts += 1
                else:
                    stats.errors.append(f"submit {status}: {body[:200]!r}")
            if two_requests or status != 201 or answer.get("next") is None:
                item = self.next_item(stats)
            else:
                item = answer["next"]["item"]
