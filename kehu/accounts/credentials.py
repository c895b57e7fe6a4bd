"""What a user name and a password must be, on every path that makes one: kehu init, kehu createuser,
the settings pages (through the User model's validators and Django's password forms) and Django's own
commands. Passwords go through settings.AUTH_PASSWORD_VALIDATORS."""

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.utils.translation import gettext_lazy

USERNAME_MIN_LENGTH = 2
USERNAME_MAX_LENGTH = 32
USERNAME_HELP = gettext_lazy("2–32 个字符：字母（含中文）、数字和 @ . + - _。 2–32 letters, digits and @ . + - _.")
username_validators = [
    UnicodeUsernameValidator(),
    MinLengthValidator(USERNAME_MIN_LENGTH, "用户名至少 2 个字符。 A user name has at least 2 characters."),
    MaxLengthValidator(USERNAME_MAX_LENGTH, "用户名最多 32 个字符。 A user name has at most 32 characters."),
]


def check_new_credentials(user, password: str | None) -> None:
    """Raise ValidationError (all problems at once) unless `user.username` and `password` may be used.

    `user` need not be saved; `password` None means one will be generated."""
    problems = []
    for validator in username_validators:
        try:
            validator(user.username)
        except ValidationError as exc:
            problems.extend(exc.messages)
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            problems.extend(exc.messages)
    if problems:
        raise ValidationError(problems)
