"""The match centre page: plain HTML, CSS and JavaScript in ``chalicelib/match_centre``, packaged with the app.

``GET /`` is the page, ``GET /assets/{name}`` its script and style sheet, and
``GET /config`` tells it where the WebSocket API is (the page finds the REST
API from its own address).
"""

from pathlib import Path

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
