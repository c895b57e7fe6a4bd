"""Purchases (消费记录): products, categories, orders and their lines."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib import money


class Category(models.Model):
    name = models.CharField("品类", max_length=50, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        verbose_name = "商品品类"
        verbose_name_plural = "商品品类"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField("商品", max_length=100, unique=True)
    category = models.ForeignKey(Category, verbose_name="品类", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="products")
    price = models.DecimalField("标价", max_digits=12, decimal_places=2, default=Decimal("0"),
                                validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        verbose_name = "商品"
        verbose_name_plural = "商品"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PaymentMethod(models.TextChoices):
    CASH = "cash", "现金"
    CARD = "card", "银行卡"
    WECHAT_PAY = "wechat_pay", "微信支付"
    ALIPAY = "alipay", "支付宝"
    TRANSFER = "transfer", "对公转账"
    OTHER = "other", "其他"


class SalesChannel(models.TextChoices):
    STORE = "store", "门店"
    ONLINE = "online", "线上商城"
    WECHAT = "wechat", "微信"
    PLATFORM = "platform", "电商平台"
    PHONE = "phone", "电话"
    OTHER = "other", "其他"


class OrderStatus(models.TextChoices):
    COMPLETED = "completed", "已完成"
    REFUNDED = "refunded", "已退款"


class OrderQuerySet(models.QuerySet):
    def completed(self) -> "OrderQuerySet":
        """Orders that count as purchases (refunded ones do not)."""
        return self.filter(status=OrderStatus.COMPLETED)


class Order(models.Model):
    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="orders")
    number = models.CharField("订单号", max_length=40, blank=True, default="")
    ordered_at = models.DateTimeField("消费时间", default=timezone.now)
    amount = models.DecimalField("金额（元）", max_digits=12, decimal_places=2,
                                 validators=[MinValueValidator(Decimal("0"))])
    payment_method = models.CharField("支付方式", max_length=16, choices=PaymentMethod.choices,
                                      default=PaymentMethod.WECHAT_PAY)
    sales_channel = models.CharField("销售渠道", max_length=16, choices=SalesChannel.choices,
                                     default=SalesChannel.STORE)
    status = models.CharField("状态", max_length=12, choices=OrderStatus.choices, default=OrderStatus.COMPLETED)
    note = models.CharField("备注", max_length=200, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = "消费记录"
        verbose_name_plural = "消费记录"
        ordering = ["-ordered_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "ordered_at"], name="order_customer_time_idx"),
            models.Index(fields=["ordered_at"], name="order_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer.code} {self.ordered_at:%Y-%m-%d} {money.fmt(self.amount)}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, verbose_name="商品", null=True, blank=True, on_delete=models.SET_NULL)
    product_name = models.CharField("商品名称", max_length=100)
    category = models.ForeignKey(Category, verbose_name="品类", null=True, blank=True, on_delete=models.SET_NULL)
    quantity = models.DecimalField("数量", max_digits=10, decimal_places=2, default=Decimal("1"),
                                   validators=[MinValueValidator(Decimal("0"))])
    unit_price = models.DecimalField("单价（元）", max_digits=12, decimal_places=2,
                                     validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        verbose_name = "订单明细"
        verbose_name_plural = "订单明细"

    def __str__(self) -> str:
        return f"{self.product_name} × {self.quantity}"

    @property
    def line_total(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))
