"""kehu demo: realistic, deterministic demo data."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from kehu.accounts.models import Role, User
from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Consent, Feedback, FeedbackRating, FollowUp, Preference
from kehu.lib.crypto import blind_index
from kehu.lib.phones import normalize_mobile
from kehu.ops.demo import DEMO_PASSWORD, season_weight
from kehu.sales.models import Order, OrderLine, OrderStatus

pytestmark = pytest.mark.django_db(transaction=False)


def demo(**options) -> str:
    out = StringIO()
    call_command("demo", stdout=out, verbosity=0, **options)
    return out.getvalue()


@pytest.fixture
def demo50():
    return demo(customers=50, seed=7)


def test_it_creates_the_customers_asked_for(demo50):
    assert Customer.objects.count() == 50
    assert "客户 50 位" in demo50
    codes = list(Customer.objects.order_by("code").values_list("code", flat=True))
    assert codes[0] == "KH000001" and codes[-1] == "KH000050"
    kinds = set(Customer.objects.values_list("kind", flat=True))
    assert kinds == {"person", "company"}


def test_it_gives_valid_mobiles_that_are_encrypted_at_rest(demo50):
    customers = list(Customer.objects.all())
    for c in customers:
        assert c.mobile.startswith("+861")
        assert normalize_mobile(c.mobile) == c.mobile
        assert c.mobile_hash == blind_index(c.mobile)
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile FROM customers_customer")
        raw = " ".join(r[0] for r in cursor.fetchall())
    for c in customers:
        assert c.mobile[3:] not in raw
    places = {(c.province, c.city) for c in customers}
    assert len({p for p, _ in places}) >= 5  # spread over provinces


def test_it_creates_orders_with_lines_and_leaves_some_customers_without(demo50):
    orders = Order.objects.annotate(n=Count("lines"))
    assert orders.count() > 50
    assert not orders.filter(n=0).exists()
    for order in Order.objects.prefetch_related("lines")[:40]:
        assert order.amount == sum((line.line_total for line in order.lines.all()), Decimal("0"))
    without = Customer.objects.annotate(n=Count("orders")).filter(n=0).count()
    assert 0 < without < 25
    assert OrderLine.objects.filter(product__isnull=False, category__isnull=False).count() == OrderLine.objects.count()


def test_it_spreads_orders_over_two_years_up_to_today(demo50):
    span = Order.objects.aggregate(first=Min("ordered_at"), last=Max("ordered_at"))
    now = timezone.now()
    assert span["last"] <= now
    assert now - span["last"] < datetime.timedelta(days=20)
    assert now - span["first"] > datetime.timedelta(days=600)


def test_it_creates_demo_users_for_every_role(demo50):
    roles = set(User.objects.values_list("role", flat=True))
    assert {Role.MANAGER, Role.SALES, Role.SERVICE, Role.VIEWER} <= roles
    assert User.objects.get(username="sales1").check_password(DEMO_PASSWORD)
    assert DEMO_PASSWORD in demo50
    assert Customer.objects.filter(owner__username="sales1").exists()


def test_it_fills_engagement(demo50):
    today = timezone.localdate()
    assert Communication.objects.exists()
    assert Preference.objects.exists() and Consent.objects.exists()
    assert Feedback.objects.exists() and FeedbackRating.objects.exists()
    for username in ("sales1", "sales2"):
        mine = FollowUp.objects.open().filter(assignee__username=username)
        assert mine.filter(due=today).count() >= 2
        assert mine.filter(due__lt=today).count() >= 2


def test_the_same_seed_gives_the_same_customers():
    demo(customers=30, seed=11)
    first = list(Customer.objects.order_by("code").values_list("code", "name", "city", "kind"))
    first_orders = Order.objects.count()
    demo(customers=30, seed=11, reset=True)
    assert list(Customer.objects.order_by("code").values_list("code", "name", "city", "kind")) == first
    assert Order.objects.count() == first_orders
    demo(customers=30, seed=12, reset=True)
    assert list(Customer.objects.order_by("code").values_list("code", "name", "city", "kind")) != first


def test_it_refuses_to_mix_with_existing_customers(zhang):
    with pytest.raises(CommandError, match="--reset"):
        demo(customers=5)
    assert Customer.objects.count() == 1


def test_it_builds_the_customer_metrics():
    from kehu.segments.models import CustomerMetrics

    demo(customers=20, seed=3)
    buyers = Customer.objects.filter(orders__status=OrderStatus.COMPLETED).distinct()
    assert buyers.exists()
    for customer in buyers:
        metrics = CustomerMetrics.objects.get(customer=customer)
        completed = customer.orders.filter(status=OrderStatus.COMPLETED)
        assert metrics.frequency == completed.count()
        assert metrics.monetary == completed.aggregate(s=Sum("amount"))["s"]


def test_double_eleven_is_busier_than_an_ordinary_day():
    ordinary = datetime.date(2025, 3, 12)  # a Wednesday
    assert season_weight(datetime.date(2025, 11, 11)) > 4 * season_weight(ordinary)
    assert season_weight(datetime.date(2025, 6, 18)) > 2 * season_weight(ordinary)
    assert season_weight(datetime.date(2025, 1, 15)) > season_weight(ordinary)  # 年货, two weeks before 春节
    assert season_weight(datetime.date(2025, 1, 30)) < season_weight(ordinary)  # shops close over 春节
