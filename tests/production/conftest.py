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
def server(ready_store):
    """`kehu serve` on a free port over `ready_store`."""
    live = LiveServer(ready_store).start()
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
