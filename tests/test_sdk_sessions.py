"""The SDK's per-thread HTTP sessions (Trengo's and Zendesk's clients use them from their crawl pools)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from helpdesk_migrate import sdk


def test_each_thread_keeps_its_own_session_and_close_ends_them_all():
    sessions = sdk.ThreadSessions({"User-Agent": "helpdesk-migrate/test"})
    mine = sessions.get()
    assert sessions.get() is mine and mine.headers["User-Agent"] == "helpdesk-migrate/test"
    with ThreadPoolExecutor(2) as pool:
        others = list(pool.map(lambda _: sessions.get(), range(8)))
    assert all(s is not mine for s in others) and len({id(s) for s in others}) <= 2
    closed = []
    for s in [mine, *others]:
        s.close = lambda s=s: closed.append(s)  # record instead of closing
    sessions.close()
    assert {id(s) for s in closed} == {id(s) for s in [mine, *others]}
    assert sessions.get() is mine  # this thread's session object stays; close released its connections
