"""Scheduler leadership on both backends (PostgreSQL: pg_try_advisory_lock on a connection of
its own; SQLite: a lease row with an expiry): of two real schedulers on one database, one runs
the jobs and the other none; when the leader stops, its process is killed (SIGKILL), or
(PostgreSQL) the server ends its lock session, the other takes over and runs them; a SQLite
lease not renewed within its TTL is lost; no scheduled time is run twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cloud.analytics import automation
from cloud.database import CloudDb, open_runner
from cloud.jobs.leader import LeaseLeadership, PgLeadership, open_leadership
from cloud.jobs.scheduler import Analytics
from devtools.stack import eventually
from tests.helpers import ROOT

from .conftest import feed

TTL_S = 1.0
RENEW_S = 0.2
# reco.pairs every second, nothing else: what each run did is visible in the stores' feeds
CONFIG = {job: {"schedule": "every 1s" if job == "reco_pairs" else automation.OFF}
          for job in automation.JOBS}
HOLDER = """
import sys, time
from cloud.jobs.leader import open_leadership
leadership = open_leadership(sys.argv[1], float(sys.argv[2]))
while not leadership.acquire():
    time.sleep(0.05)
print("leading", flush=True)
while True:  # renew (SQLite) / keep the session (PostgreSQL) until killed
    time.sleep(0.1)
    leadership.acquire()
"""


async def scheduler(url: str) -> Analytics:
    runner = await open_runner(url)
    leadership = await asyncio.to_thread(open_leadership, url, TTL_S)
    analytics = Analytics(runner, None, leadership, CONFIG, renew_s=RENEW_S)
    await analytics.start()
    return analytics


@pytest.fixture
async def schedulers(db_url: str, hq: CloudDb) -> AsyncIterator[Callable[[], Any]]:
    """Start schedulers on ``hq``'s database; every one is closed afterwards."""
    started: list[Analytics] = []

    async def start() -> Analytics:
        started.append(await scheduler(db_url))
        return started[-1]

    yield start
    for analytics in started:
        await analytics.close()


def pushes(hq: CloudDb) -> int:
    return len(feed(hq, "s1", "reco.pairs"))


def test_the_backend_picks_its_kind_of_leadership(db_url: str, hq: CloudDb) -> None:
    leadership = open_leadership(db_url, TTL_S)
    try:
        kind = PgLeadership if hq.backend == "postgresql" else LeaseLeadership
        assert isinstance(leadership, kind)
    finally:
        leadership.close()


async def test_one_of_two_schedulers_runs_the_jobs_and_the_other_takes_over(
        hq: CloudDb, schedulers: Callable[[], Any]) -> None:
    a, b = await schedulers(), await schedulers()
    assert [a.leading, b.leading].count(True) == 1
    leader, follower = (a, b) if a.leading else (b, a)
    await eventually(lambda: len(leader.ran) >= 3, timeout=10)
    await asyncio.sleep(0.5)
    assert follower.ran == [] and not follower.leading
    assert follower.scheduler.get_job("reco_pairs") is not None  # scheduled, but not run
    await eventually(lambda: pushes(hq) == len(leader.ran), timeout=5)
    # the leader stops (releases): the other leads within a round and runs the job
    await leader.close()
    await eventually(lambda: follower.leading and len(follower.ran) >= 2, timeout=10)
    await eventually(lambda: pushes(hq) == len(leader.ran) + len(follower.ran), timeout=5)
    fired = [at for _, at in leader.ran + follower.ran]
    assert len(set(fired)) == len(fired) and fired == sorted(fired)


async def test_a_killed_leader_process_hands_over(
        db_url: str, hq: CloudDb, schedulers: Callable[[], Any]) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, str(TTL_S)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 20)
        assert line.strip() == "leading"
        follower = await schedulers()
        await asyncio.sleep(TTL_S * 2)  # well past a lease's expiry: the holder renews it
        assert not follower.leading and follower.ran == [] and pushes(hq) == 0
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.to_thread(holder.wait, 20)
        await eventually(lambda: follower.leading, timeout=10)
        took = time.monotonic() - killed
        # PostgreSQL ends the session's lock at once; a lease runs out within its TTL
        assert took < TTL_S + 3 * RENEW_S + 1.0, took
        await eventually(lambda: len(follower.ran) >= 1 and pushes(hq) == len(follower.ran),
                         timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(20)
        if holder.stdout is not None:
            holder.stdout.close()


async def test_the_leader_picks_up_settings_stored_through_another_process(
        hq: CloudDb, schedulers: Callable[[], Any]) -> None:
    a, b = await schedulers(), await schedulers()
    leader, follower = (a, b) if a.leading else (b, a)
    assert leader.scheduler.get_job("winback") is None  # "off" in CONFIG
    # what PUT /api/v1/automation/winback/settings on the follower's process stores
    await follower.runner.call(CloudDb.put_automation_settings, "winback", {"schedule": "5 2 * * *"})
    await eventually(lambda: leader.scheduler.get_job("winback") is not None, timeout=5)
    await follower.runner.call(CloudDb.put_automation_settings, "reco_pairs", {"schedule": "off"})
    await eventually(lambda: leader.scheduler.get_job("reco_pairs") is None, timeout=5)
    ran = len(leader.ran)
    await asyncio.sleep(1.5)
    assert len(leader.ran) == ran and pushes(hq) == ran


def test_a_lease_runs_out_unless_renewed_and_is_then_lost(tmp_path: Any) -> None:
    """SQLite's lease with a controlled clock: taken, renewed, refused to another while
    live; a holder that stalls past the TTL loses it to the other and learns so at its next
    round; a clean release hands over at once."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    CloudDb.open(url).close()  # migrated
    now = [1000.0]
    a, b = (LeaseLeadership(url, TTL_S, lambda: now[0]) for _ in range(2))
    try:
        assert a.acquire() and not b.acquire()
        now[0] += TTL_S * 0.9
        assert a.acquire() and not b.acquire()  # renewed: still a's
        now[0] += TTL_S * 1.01  # a stalled past its lease
        assert b.acquire() and not a.acquire()
        b.release()
        assert a.acquire()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_leader_whose_lock_session_is_cut_steps_down(
        db_url: str, hq: CloudDb, schedulers: Callable[[], Any]) -> None:
    """PostgreSQL: the server ends the leader's lock session (as after a network cut): the
    leader stops running jobs at its next check and the other process takes over."""
    import psycopg

    a, b = await schedulers(), await schedulers()
    leader, follower = (a, b) if a.leading else (b, a)
    assert isinstance(leader.leadership, PgLeadership)
    pid = leader.leadership._conn.info.backend_pid
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    await eventually(lambda: follower.leading, timeout=5)
    await eventually(lambda: not leader.leading, timeout=5)
    ran = len(leader.ran)
    await eventually(lambda: len(follower.ran) >= 2, timeout=10)
    assert len(leader.ran) == ran and pushes(hq) == len(leader.ran) + len(follower.ran)
