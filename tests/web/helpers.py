"""Logging a persona in for the Django test client."""

from django.test import Client

BACKEND = "django.contrib.auth.backends.ModelBackend"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def htmx(**extra) -> dict:
    """Headers of a request made by htmx."""
    return {"HTTP_HX_REQUEST": "true", **extra}
