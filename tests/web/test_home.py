"""The home page and the frame around every page."""

import datetime
import re

import pytest
from django.utils import timezone

from kehu.engagement.models import FollowUp
from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db


def test_it_sends_strangers_to_the_login_page(client):
    r = client.get("/")
    assert r.status_code == 302 and r.url == "/accounts/login/?next=/"


def test_it_lists_my_follow_ups_due_today_and_overdue(sam, zhang, mary):
    today = timezone.localdate()
    FollowUp.objects.create(customer=zhang, title="昨天该打的电话", assignee=sam,
                            due=today - datetime.timedelta(days=1))
    FollowUp.objects.create(customer=zhang, title="今天的回访", due=today, assignee=sam)
    FollowUp.objects.create(customer=zhang, title="下周的事", due=today + datetime.timedelta(days=7), assignee=sam)
    FollowUp.objects.create(customer=zhang, title="别人的事", due=today, assignee=mary)
    html = client_for(sam).get("/").content.decode()
    assert "昨天该打的电话" in html and "今天的回访" in html
    assert "下周的事" not in html and "别人的事" not in html
    assert 'data-figure="overdue">1<' in html and 'data-figure="due-today">1<' in html
    assert "孙明" in html and "销售" in html


def test_it_has_the_navigation_csrf_header_and_no_cdn(alice):
    html = client_for(alice).get("/").content.decode()
    assert 'href="/customers/"' in html and 'href="/engagement/follow-ups/"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "/static/vendor/htmx.min.js" in html and "/static/css/kehu.css" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from a CDN
    assert 'action="/accounts/logout/" method="post"' in html


def test_it_serves_the_stylesheet(alice):
    r = client_for(alice).get("/static/css/kehu.css")
    assert r.status_code == 200


def test_it_counts_only_visible_customers(sam, zhang):
    make_customer(name="别人的客户")
    html = client_for(sam).get("/").content.decode()
    assert "我负责的客户" in html
