"""The load test's virtual users (bench/load.py runs this file as a child process, one per
phase): locust in this process, with gevent patching the standard library, which is why it is
not imported into load.py. Reads a phase's spec (JSON: the portal's address, the logins, the
pages and their weights, think time, users, warm-up and duration), runs the phase headless and
writes per page requests, errors and p50/p95/p99, and the requests per second, as JSON.

Each virtual user logs in as its own user (staff with their second-factor code from pyotp) and
then opens pages at random by weight; a page counts as an error unless it answers 200 itself
(a redirect, to the login page or elsewhere, is an error). The figures are taken after every
user has logged in and a warm-up has passed.

    .venv/bin/python bench/_load_users.py SPEC.json
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path

import gevent
import pyotp
from locust import FastHttpUser, between, constant, task
from locust.env import Environment
from locust.exception import StopUser
from locust.log import setup_logging

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def drive(spec_path: str) -> int:
    """Run the phase `spec_path` describes and write its figures as JSON to spec["result"]."""
    setup_logging("WARNING")
    spec = json.loads(Path(spec_path).read_text())
    employers = list(spec["employers"])
    staff_logins = list(spec["staff"])
    state = {"logged_in": 0, "login_failures": 0}
    totp = pyotp.TOTP(spec["totp_secret"])
    think = between(*spec["think"]) if spec["think"][1] > 0 else constant(0)

    def token(html: str) -> str:
        match = CSRF.search(html)
        return (match.group(1) or match.group(2)) if match else ""

    def weighted(pages):
        return [page for page in pages for _ in range(page[2])]

    class Portal(FastHttpUser):
        abstract = True
        host = spec["base"]
        wait_time = think
        pages: list = []

        def log_in(self, email: str) -> bool:
            try:
                ok = self.try_log_in(email)
            except Exception:  # counted, and the user stops: never a silent missing user
                ok = False
            state["logged_in" if ok else "login_failures"] += 1
            return ok

        def try_log_in(self, email: str) -> bool:
            page = self.client.get("/login", name="login")
            answer = self.client.post(
                "/login",
                data={"csrf_token": token(page.text), "email": email, "password": spec["password"]},
                name="login",
            )
            if 'name="code"' in (answer.text or ""):
                # A code is good once per user and 30-second step: a step already used (a
                # login a moment ago) is refused, so try the next step's code (one step
                # either side of now is accepted).
                for offset in (0, 30):
                    form = token(answer.text)
                    answer = self.client.post(
                        "/login/code",
                        data={"csrf_token": form, "code": totp.at(time.time() + offset)},
                        name="login",
                    )
                    if 'name="code"' not in (answer.text or ""):
                        break
            ok = answer.status_code == 200 and 'name="password"' not in (answer.text or "")
            return ok and 'name="code"' not in (answer.text or "")

        def visit(self, label: str, path: str) -> None:
            with self.client.get(
                path, name=label, allow_redirects=False, catch_response=True
            ) as response:
                if response.status_code != 200:
                    where = response.headers.get("Location", "") if response.headers else ""
                    response.failure(f"HTTP {response.status_code} {where}".strip())
                else:
                    response.success()

        @task
        def browse(self):
            label, path, _ = random.choice(self.pages)
            self.visit(label, self.fill(path))

        def fill(self, path: str) -> str:
            return path

    class EmployerUser(Portal):
        weight = 1

        def on_start(self):
            login = employers.pop(0) if employers else None
            if login is None:
                state["login_failures"] += 1
                raise StopUser()
            self.group_id, self.invoices = login["group"], login["invoices"]
            self.pages = weighted(
                [p for p in spec["employer_pages"] if self.invoices or "{invoice}" not in p[1]]
            )
            if not self.log_in(login["email"]):
                raise StopUser()

        def fill(self, path: str) -> str:
            invoice = random.choice(self.invoices) if self.invoices else 0
            return path.format(group=self.group_id, invoice=invoice)

    class StaffUser(Portal):
        fixed_count = spec["staff_users"]

        def on_start(self):
            email = staff_logins.pop(0) if staff_logins else None
            self.pages = weighted(
                [
                    p
                    for p in spec["staff_pages"]
                    if spec["upload_reviews"] or "{upload_review}" not in p[1]
                ]
            )
            if email is None:
                state["login_failures"] += 1
                raise StopUser()
            if not self.log_in(email):
                raise StopUser()

        def fill(self, path: str) -> str:
            if "{upload_review}" in path:
                return random.choice(spec["upload_reviews"])
            return path

    env = Environment(user_classes=[EmployerUser, StaffUser])
    runner = env.create_local_runner()
    users = spec["users"]
    runner.start(users, spawn_rate=spec["spawn_rate"])
    deadline = time.monotonic() + 60 + users * 3
    while state["logged_in"] + state["login_failures"] < users and time.monotonic() < deadline:
        gevent.sleep(0.2)
    gevent.sleep(spec["warmup"])
    env.stats.reset_all()
    started = time.time()
    gevent.sleep(spec["duration"])
    elapsed = time.time() - started
    pages = []
    for entry in env.stats.entries.values():
        if entry.num_requests == 0:
            continue
        pages.append(
            {
                "name": entry.name,
                "requests": entry.num_requests,
                "errors": entry.num_failures,
                "p50": entry.get_response_time_percentile(0.50),
                "p95": entry.get_response_time_percentile(0.95),
                "p99": entry.get_response_time_percentile(0.99),
                "max": entry.max_response_time,
            }
        )
    total = env.stats.total
    per_second = sorted(total.num_reqs_per_sec.items())[1:-1]  # whole seconds only
    result = {
        "started": started,
        "elapsed": elapsed,
        "pages": pages,
        "requests": total.num_requests,
        "errors_total": total.num_failures,
        "rps": total.num_requests / elapsed if elapsed else 0.0,
        "best_second": max((count for _, count in per_second), default=0),
        "errors": [
            {"name": e.name, "error": str(e.error), "count": e.occurrences}
            for e in env.stats.errors.values()
        ],
        "logged_in": state["logged_in"],
        "login_failures": state["login_failures"],
    }
    runner.quit()
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(drive(sys.argv[1]))
