from django.db import models
from django.utils import timezone

from kehu.lib.crypto import key_fingerprint


class StoreKey(models.Model):
    """The fingerprint of the data key this store's contact fields are encrypted with (one row).

    It lives inside the database, so every backup, encrypted or `--plain`, carries it; a restore under
    another key is refused instead of leaving a store whose contact fields cannot be decrypted.
    """

    fingerprint = models.CharField("数据密钥指纹", max_length=16)
    recorded_at = models.DateTimeField("记录时间", default=timezone.now)

    class Meta:
        verbose_name = verbose_name_plural = "数据密钥指纹"

    @classmethod
    def recorded(cls) -> str:
        """The fingerprint on record, recording the current key's the first time."""
        row = cls.objects.order_by("id").first() or cls.objects.create(fingerprint=key_fingerprint())
        return row.fingerprint
