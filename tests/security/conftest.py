import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Argon2 takes half a second per persona; these tests make many users and do not test hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
