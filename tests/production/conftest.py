"""Fixtures for the production path: a store of its own, a live `kehu serve`, Chromium against it."""

import pytest

from .harness import LiveServer, Store


@pytest.fixture
def store(tmp_path):
    """A fresh, uninitialised store on the engine of this pass (SQLite file in WAL mode, or PostgreSQL)."""
    made = Store.create(tmp_path)
    yield made
    made.drop()


@pytest.fixture
def server(request, ready_store):
    """`kehu serve --no-worker` on a free port over `ready_store`; with its worker beside it for a test marked
    `worker` (one that starts a web import or a classification from a page)."""
    live = LiveServer(ready_store, worker=request.node.get_closest_marker("worker") is not None).start()
    yield live
    live.stop()


@pytest.fixture
def browser_page(browser, server):
    """A Chromium page on the live server, logged in as the admin."""
    from .harness import signed_in_page

    page = signed_in_page(browser, server.url)
    context = page.context
    yield page
    context.close()
