"""The SAML assertion format the emulator accepts for the saml2-bearer grant.

An assertion is base64 of XML like::

    <saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">
      <saml:Issuer>https://idp.example.test</saml:Issuer>
      <saml:Subject><saml:NameID>alice@example.test</saml:NameID></saml:Subject>
      <saml:Conditions NotOnOrAfter="2030-01-01T00:00:00Z"/>
    </saml:Assertion>

The emulator checks the encoding, the element names, the issuer and the expiry; it does not check signatures.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

NS = "urn:oasis:names:tc:SAML:2.0:assertion"


class InvalidAssertionError(ValueError):
    """The assertion is not acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class Assertion:
    issuer: str
    subject: str
    not_on_or_after: datetime


def build_assertion(issuer: str, subject: str, not_on_or_after: datetime) -> str:
    stamp = not_on_or_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        f'<saml:Assertion xmlns:saml="{NS}"><saml:Issuer>{escape(issuer)}</saml:Issuer>'
        f"<saml:Subject><saml:NameID>{escape(subject)}</saml:NameID></saml:Subject>"
        f'<saml:Conditions NotOnOrAfter="{stamp}"/></saml:Assertion>'
    )
    return base64.b64encode(xml.encode()).decode()


def parse_assertion(encoded: str, *, issuer: str, now: datetime) -> Assertion:
    try:
        xml = base64.b64decode(encoded, validate=True)
        root = ET.fromstring(xml)  # noqa: S314 - see module docstring
    except (binascii.Error, ValueError, ET.ParseError):
        raise InvalidAssertionError("assertion is not base64-encoded SAML XML") from None
    if root.tag != f"{{{NS}}}Assertion":
        raise InvalidAssertionError("root element is not saml:Assertion")
    found_issuer = root.findtext(f"{{{NS}}}Issuer")
    subject = root.findtext(f"{{{NS}}}Subject/{{{NS}}}NameID")
    conditions = root.find(f"{{{NS}}}Conditions")
    if found_issuer != issuer:
        raise InvalidAssertionError("assertion issuer is not trusted")
    if not subject:
        raise InvalidAssertionError("assertion has no NameID")
    if conditions is None or "NotOnOrAfter" not in conditions.attrib:
        raise InvalidAssertionError("assertion has no NotOnOrAfter condition")
    try:
        expiry = datetime.fromisoformat(conditions.attrib["NotOnOrAfter"].replace("Z", "+00:00"))
    except ValueError:
        raise InvalidAssertionError("NotOnOrAfter is not an ISO-8601 time") from None
    if expiry <= now:
        raise InvalidAssertionError("assertion has expired")
    return Assertion(found_issuer, subject, expiry)
