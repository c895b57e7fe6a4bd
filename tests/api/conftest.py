"""API clients for the personas: each signs in with a personal token, as an integration would."""

import pytest
from django.test import Client

from kehu.accounts.tokens import issue_token


def token_client(user) -> Client:
    _, raw = issue_token(user, "tests")
    return Client(headers={"Authorization": f"Bearer {raw}"})


@pytest.fixture
def api_as():
    """api_as(alice).get("/api/customers") — a client that sends alice's token."""
    return token_client
