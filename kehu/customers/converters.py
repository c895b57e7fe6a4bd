"""Customer codes in URLs: `<code:code>` reverses and resolves every stored code as one path segment.

New codes are letters, digits, '-', '_' and '.' (forms.validate_customer_code), but a store may hold codes typed
before that rule ('A/1', '50%', '..'). Their '%' and '/' are escaped (and a code of only dots too), so the list
still renders and the customer still opens: reverse() quotes the escape once more, the server unquotes once,
and to_python undoes the rest.
"""

from urllib.parse import unquote


class CustomerCodeConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        text = str(value).replace("%", "%25").replace("/", "%2F")
        return text.replace(".", "%2E") if not text.strip(".") else text
