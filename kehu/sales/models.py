"""Purchases (消费记录): products, categories, orders and their lines."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kehu.customers.models import Customer
from kehu.lib import money


class Category(models.Model):
    name = models.CharField(_("品类"), max_length=50, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        verbose_name = _("商品品类")
        verbose_name_plural = _("商品品类")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField(_("商品"), max_length=100, unique=True)
    category = models.ForeignKey(Category, verbose_name=_("品类"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="products")
    price = models.DecimalField(_("标价"), max_digits=12, decimal_places=2, default=Decimal("0"),
                                validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        verbose_name = _("商品")
        verbose_name_plural = _("商品")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("现金")
    CARD = "card", _("银行卡")
    WECHAT_PAY = "wechat_pay", _("微信支付")
    ALIPAY = "alipay", _("支付宝")
    TRANSFER = "transfer", _("对公转账")
    OTHER = "other", _("其他")


class SalesChannel(models.TextChoices):
    STORE = "store", _("门店")
    ONLINE = "online", _("线上商城")
    WECHAT = "wechat", _("微信")
    PLATFORM = "platform", _("电商平台")
    PHONE = "phone", _("电话")
    OTHER = "other", _("其他")


class OrderStatus(models.TextChoices):
    COMPLETED = "completed", _("已完成")
    REFUNDED = "refunded", _("已退款")


class OrderQuerySet(models.QuerySet):
    def completed(self) -> "OrderQuerySet":
        """Orders that count as purchases (refunded ones do not)."""
        return self.filter(status=OrderStatus.COMPLETED)


class Order(models.Model):
    # no index of its own: order_customer_time_idx (customer, ordered_at) serves the customer's lookups
    customer = models.ForeignKey(Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="orders",
                                 db_index=False)
    number = models.CharField(_("订单号"), max_length=40, blank=True, default="")
    ordered_at = models.DateTimeField(_("消费时间"), default=timezone.now)
    amount = models.DecimalField(_("金额（元）"), max_digits=12, decimal_places=2,
                                 validators=[MinValueValidator(Decimal("0"))])
    payment_method = models.CharField(_("支付方式"), max_length=16, choices=PaymentMethod.choices,
                                      default=PaymentMethod.WECHAT_PAY)
    sales_channel = models.CharField(_("销售渠道"), max_length=16, choices=SalesChannel.choices,
                                     default=SalesChannel.STORE)
    status = models.CharField(_("状态"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.COMPLETED)
    note = models.CharField(_("备注"), max_length=200, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("消费记录")
        verbose_name_plural = _("消费记录")
        ordering = ["-ordered_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "ordered_at"], name="order_customer_time_idx"),
            # covers the analytics' reads of counted orders by time (no visit to the table's rows)
            models.Index(fields=["ordered_at", "status", "customer", "amount"], name="order_time_covering_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer.code} {self.ordered_at:%Y-%m-%d} {money.fmt(self.amount)}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, verbose_name=_("商品"), null=True, blank=True, on_delete=models.SET_NULL)
    product_name = models.CharField(_("商品名称"), max_length=100)
    category = models.ForeignKey(Category, verbose_name=_("品类"), null=True, blank=True, on_delete=models.SET_NULL)
    quantity = models.DecimalField(_("数量"), max_digits=10, decimal_places=2, default=Decimal("1"),
                                   validators=[MinValueValidator(Decimal("0"))])
    unit_price = models.DecimalField(_("单价（元）"), max_digits=12, decimal_places=2,
                                     validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        verbose_name = _("订单明细")
        verbose_name_plural = _("订单明细")

    def __str__(self) -> str:
        return f"{self.product_name} × {self.quantity}"

    @property
    def line_total(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))
