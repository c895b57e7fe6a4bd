import pytest


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    """Uploaded files go under KEHU_HOME/imports: keep them in the test's own folder; imports run in the
    request (a background thread would not see SQLite's in-memory test database)."""
    settings.KEHU_HOME = tmp_path / "kehu-home"
    settings.KEHU_IMPORT_BACKGROUND = False
