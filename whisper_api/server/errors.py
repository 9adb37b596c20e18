"""HTTP errors in Deepgram's shape: ``{"err_code", "err_msg", "request_id"}`` with the right status.

The SDKs retry 5xx, 408, 409 and 429, so a failure that a retry cannot fix is never a 5xx.
"""

from __future__ import annotations

from whisper_api.errors import WhisperApiError

BAD_AUDIO = "Bad Request: failed to process audio: corrupt or unsupported data"
NO_MODEL = "Bad Request: No such model/language/tier combination found."
JSON_TYPE = "application/json"
BAD_JSON = "Content-type was application/json, but we could not process the JSON payload."


CLOSE_CONNECTION = {"Connection": "close"}
"""On a refusal whose request body is not read to its end: the server closes instead of reading the rest."""


class ClientGone(Exception):
    """The client disconnected before its request was answered."""


class ApiError(Exception):
    def __init__(self, status: int, err_code: str, err_msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(err_msg)
        self.status = status
        self.err_code = err_code
        self.err_msg = err_msg
        self.headers = headers or {}


def header_text(text: str, limit: int = 200) -> str:
    """Text fit for a header value: printable ASCII only (no CR/LF, whatever a request put in it), cut short."""
    return "".join(char if " " <= char <= "~" else "?" for char in text[:limit])


def bad_request(message: str) -> ApiError:
    return ApiError(400, "Bad Request", message)


def invalid_auth(hint: str = "") -> ApiError:
    """Deepgram's answer; ``hint`` says how to send a key when the request sent none the server reads."""
    return ApiError(401, "INVALID_AUTH", f"Invalid credentials.{' ' + hint if hint else ''}")


def forbidden() -> ApiError:
    return ApiError(403, "INSUFFICIENT_PERMISSIONS", "User does not have sufficient permissions.")


def too_many(retry_after: int) -> ApiError:
    return ApiError(429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later",
                    {"Retry-After": str(retry_after)})


SERVER_SIDE = {
    503: ApiError(503, "SERVICE_UNAVAILABLE", "The database is unavailable."),
    500: ApiError(500, "INTERNAL_SERVER_ERROR", "Transcription failed on the server."),
}
"""What a client hears of a failure on our side: never its message, which may name a server path or URL."""


def from_core(exc: WhisperApiError) -> ApiError:
    """A core error in Deepgram's shape, by the status it carries; the message words follow Deepgram's."""
    if exc.status >= 500:
        return SERVER_SIDE.get(exc.status, SERVER_SIDE[500])
    if exc.code == "BAD_AUDIO":
        return bad_request(BAD_AUDIO)
    if exc.code in ("MODEL_NOT_FOUND", "INVALID_OPTION"):
        return bad_request(f"{NO_MODEL} ({exc})")
    if exc.status == 400:
        return bad_request(f"Bad Request: {exc}.")
    return ApiError(exc.status, exc.code, str(exc))
