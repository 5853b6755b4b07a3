"""The match centre page: plain HTML, CSS and JavaScript in ``chalicelib/match_centre``, packaged with the app.

``GET /`` is the page, ``GET /assets/{name}`` its script and style sheet, and
``GET /config`` tells it where the WebSocket API is (the page finds the REST
API from its own address).
"""

from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.errors import NotFound

SITE = Path(__file__).resolve().parent / "match_centre"
ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
PAGE_TYPE = "text/html; charset=utf-8"


def page() -> str:
    return (SITE / "index.html").read_text()


def asset(name: str) -> tuple[str, str]:
    """(text, content type) of one of the page's assets."""
    if name not in ASSETS:
        raise NotFound(f"no such asset: {name}")
    return (SITE / name).read_text(), ASSETS[name]


def config(websocket_url: str | None) -> dict[str, str | None]:
    return {"websocket": websocket_url}


def security_headers(websocket_url: str | None) -> dict[str, str | list[str]]:
    """What the page and its assets are served with: nothing loads from another host (the WebSocket API
    aside), nothing frames the page, no referrer leaves it, no type is sniffed."""
    socket = urlsplit(websocket_url) if websocket_url else None
    connect = "'self'" + (f" {socket.scheme}://{socket.netloc}" if socket and socket.netloc else "")
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
