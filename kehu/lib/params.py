"""Query parameters that cannot mean anything: a 400 on a page (422 in the API) naming the parameter, never a 500."""

from django.core.exceptions import BadRequest
from django.utils.translation import gettext as _

BIGINT_MAX = 2**63 - 1  # the largest id a database column holds


class BadParameter(BadRequest):
    """`name` has a value that cannot be used; `message` tells the person what is wrong (translated)."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.message = message
        super().__init__(message)


def parse_id(name: str, value: str) -> int:
    """A record id given as text: ASCII digits only, within the range of a database id."""
    if value.isascii() and value.isdigit() and int(value) <= BIGINT_MAX:
        return int(value)
    raise BadParameter(name, _("参数 %(name)s 应为记录编号（数字），而不是“%(value)s”") % {
        "name": name, "value": value[:40]})
