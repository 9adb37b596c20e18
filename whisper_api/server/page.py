"""The page at ``/``: upload a file or talk to the server from a browser (plain HTML, CSS and JS,
all served from the package: no CDN, nothing fetched from elsewhere)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from litestar import Response, get
from litestar.exceptions import NotFoundException

from whisper_api.server.deps import PUBLIC, access
from whisper_api.server.results import UTF8, response_media_type
from whisper_api.server.state import Server

ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
SECURITY_HEADERS = {
    # Only our own scripts, styles and connections (the API and its WebSocket); nothing framed.
    "content-security-policy": "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
                               "img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@cache
def _asset(name: str) -> str:
    return (files("whisper_api.server") / "static" / name).read_text(encoding="utf-8")


@get("/", include_in_schema=False, opt=access(PUBLIC))
async def page(server: Server) -> Response[str]:
    """The page; with --no-auth it hides the key field."""
    html = _asset("index.html").replace("{{auth}}", "none" if server.settings.no_auth else "key")
    return Response(html, media_type="text/html", headers=SECURITY_HEADERS)


@get("/static/{name:str}", include_in_schema=False, opt=access(PUBLIC))
async def asset(name: str) -> Response[str]:
    if name not in ASSETS:
        raise NotFoundException(f"no asset {name}")
    return Response(_asset(name), media_type=response_media_type(ASSETS[name] + UTF8), headers=SECURITY_HEADERS)
