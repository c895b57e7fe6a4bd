"""Password-protected xlsx (ECMA-376 agile encryption, as Excel and WPS open it) via msoffcrypto-tool."""

import io

MAX_PASSWORD = 128


def encrypt_xlsx(data: bytes, password: str) -> bytes:
    """The workbook `data` locked with `password`; Excel, WPS and LibreOffice ask for it on opening."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def decrypt_xlsx(data: bytes, password: str) -> bytes:
    """The plain workbook inside a password-protected file (raises on a wrong password)."""
    import msoffcrypto

    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password)
    out = io.BytesIO()
    office.decrypt(out)
    return out.getvalue()
