"""Model fields whose value is encrypted in the database and plain in Python."""

import datetime

from django.db import models

from .crypto import decrypt, encrypt


class EncryptedTextField(models.TextField):
    """Stores AES-GCM ciphertext; reads back the text. Cannot be filtered on: use a blind index."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return self.from_plaintext(decrypt(value))

    def get_prep_value(self, value):
        if value is None or value == "":
            return value
        return encrypt(self.to_plaintext(value))

    def from_plaintext(self, text: str):
        return text

    def to_plaintext(self, value) -> str:
        return str(value)


class EncryptedDateField(EncryptedTextField):
    """A date kept encrypted (birthdays); Python sees datetime.date."""

    def from_plaintext(self, text: str):
        return datetime.date.fromisoformat(text)

    def to_plaintext(self, value) -> str:
        if isinstance(value, str):
            value = datetime.date.fromisoformat(value)
        return value.isoformat()

    def to_python(self, value):
        if value in (None, "") or isinstance(value, datetime.date):
            return value
        return datetime.date.fromisoformat(str(value))

    def formfield(self, **kwargs):
        from django import forms

        return super(models.TextField, self).formfield(**{"form_class": forms.DateField, **kwargs})
