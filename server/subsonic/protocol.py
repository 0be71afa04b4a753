"""The Subsonic / OpenSubsonic wire protocol: parameters in, ``subsonic-response`` out.

Every answer is HTTP 200 with a ``subsonic-response`` envelope (``status``, ``version``, ``type``,
``serverVersion``, ``openSubsonic``), in XML by default, JSON with ``f=json`` and JSONP with
``f=jsonp&callback=``. Errors are the protocol's codes inside the envelope, never an HTTP error page.

XML answers are well-formed whatever the data or the request held: characters XML 1.0 forbids (C0
controls but tab and newlines, lone surrogates, U+FFFE/U+FFFF) are dropped from every text and
attribute before escaping.

Answers are built as plain values, one shape for both formats: a dict is an element (its scalar
values are attributes in XML; its dict values are child elements; its list values are repeated child
elements of that name; the key ``value`` is the element's text), exactly how the Subsonic XSD and
the OpenSubsonic JSON map onto each other.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

API_VERSION = "1.16.1"
SERVER_TYPE = "harmonystream"
XMLNS = "http://subsonic.org/restapi"
_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class SubsonicError(Exception):
    """An error answer of the protocol (its ``code`` and ``message``)."""

    code = 0
    message = "A generic error."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class Generic(SubsonicError):
    code = 0


class MissingParameter(SubsonicError):
    code = 10
    message = "Required parameter is missing."


class InvalidParameter(MissingParameter):
    """A parameter that is there but not what the method takes: the protocol has no code of its own for
    it, and 10 is what clients treat as "fix the request" (0 reads as the server's fault)."""

    message = "A parameter is not valid."


class ClientTooOld(SubsonicError):
    code = 20
    message = "Incompatible Subsonic REST protocol version. Client must upgrade."


class WrongCredentials(SubsonicError):
    code = 40
    message = "Wrong username or password."


class TokenAuthNotSupported(SubsonicError):
    code = 41
    message = "Token authentication not supported for this user."


class AuthMechanismNotSupported(SubsonicError):
    code = 42
    message = "Provided authentication mechanism not supported."


class ConflictingAuth(SubsonicError):
    code = 43
    message = "Multiple conflicting authentication mechanisms provided."


class InvalidApiKey(SubsonicError):
    code = 44
    message = "Invalid API key."


class NotAuthorized(SubsonicError):
    code = 50
    message = "User is not authorized for the given operation."


class NotFound(SubsonicError):
    code = 70
    message = "The requested data was not found."


class Params:
    """The request's parameters, from the query string and a form body alike (``formPost``)."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self._values = values

    @classmethod
    async def of(cls, request: web.Request) -> Params:
        values: dict[str, list[str]] = {}
        for key, value in request.query.items():
            values.setdefault(key, []).append(value)
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    values.setdefault(key, []).append(value)
        return cls(values)

    def get(self, name: str, default: str | None = None) -> str | None:
        found = self._values.get(name)
        return found[0] if found else default

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None or value == "":
            raise MissingParameter(f"Required parameter is missing: {name}.")
        return value

    def integer(
        self, name: str, default: int | None = None, *, low: int = 0, high: int | None = None
    ) -> int | None:
        raw = self.get(name)
        if raw is None or raw == "":
            return default
        if len(raw) > 20:  # int() of a very long string is slow (CPython caps it at 4,300 digits)
            raise InvalidParameter(f"Parameter {name} is out of range.")
        try:
            value = int(raw)
        except ValueError as exc:
            raise InvalidParameter(f"Parameter {name} must be a whole number.") from exc
        if value < low or (high is not None and value > high):
            raise InvalidParameter(f"Parameter {name} is out of range.")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.get(name)
        return default if raw is None else raw.lower() in ("true", "1", "yes")


def envelope(server_version: str, status: str = "ok") -> dict[str, Any]:
    return {
        "status": status,
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": server_version,
        "openSubsonic": True,
    }


def respond(params: Params, server_version: str, body: dict[str, Any] | None = None) -> web.Response:
    """An ``ok`` answer carrying ``body``'s elements, in the format the client asked for."""
    return render(params, {**envelope(server_version), **(body or {})})


def respond_error(params: Params, server_version: str, error: SubsonicError) -> web.Response:
    return render(
        params,
        {**envelope(server_version, "failed"), "error": {"code": error.code, "message": error.message}},
    )


def render(params: Params, response: dict[str, Any]) -> web.Response:
    fmt = (params.get("f") or "xml").lower()
    headers = {"Cache-Control": "no-store"}
    if fmt in ("json", "jsonp"):
        # Absent is absent in both formats: XML leaves the attribute out, so JSON leaves the key out.
        text = json.dumps(
            {"subsonic-response": _present(response)}, separators=(",", ":"), ensure_ascii=False
        )
        callback = params.get("callback") or ""
        if fmt == "jsonp" and _CALLBACK.match(callback):
            return web.Response(
                text=f"{callback}({text});", content_type="application/javascript", headers=headers
            )
        return web.Response(text=text, content_type="application/json", headers=headers)
    xml = '<?xml version="1.0" encoding="UTF-8"?>' + _element("subsonic-response", response, root=True)
    return web.Response(text=xml, content_type="text/xml", charset="utf-8", headers=headers)


def _present(value: Any) -> Any:
    """``value`` without its None members, at every depth (only dicts and lists nest in answers)."""
    # Scalars are copied without a call: a page of 500 songs has some 10,000 of them.
    if type(value) is dict:
        return {k: _present(v) if type(v) in _NESTED else v for k, v in value.items() if v is not None}
    if type(value) is list:
        return [_present(v) if type(v) in _NESTED else v for v in value]
    return value


_NESTED = (dict, list)


def _element(name: str, value: dict[str, Any], *, root: bool = False) -> str:
    attrs: list[str] = [f"xmlns={quoteattr(XMLNS)}"] if root else []
    children: list[str] = []
    text = ""
    for key, item in value.items():
        if item is None:
            continue
        if key == "value" and not isinstance(item, dict | list):
            text = escape(_scalar(item))
        elif isinstance(item, dict):
            children.append(_element(key, item))
        elif isinstance(item, list):
            for entry in item:
                children.append(
                    _element(key, entry)
                    if isinstance(entry, dict)
                    else f"<{key}>{escape(_scalar(entry))}</{key}>"
                )
        else:
            attrs.append(f"{key}={quoteattr(_scalar(item))}")
    head = " ".join([name, *attrs])
    inner = text + "".join(children)
    return f"<{head}>{inner}</{name}>" if inner else f"<{head}/>"


def _scalar(value: Any) -> str:
    """``value`` as XML text: booleans as the protocol spells them, forbidden characters dropped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return _NOT_XML.sub("", text) if _NOT_XML.search(text) else text
