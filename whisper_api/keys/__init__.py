"""API keys: tokens, expiry parsing and the SQLModel store used by the CLI and the server."""

from whisper_api.keys.expiry import parse_expiry
from whisper_api.keys.store import SCOPES, ApiKey, KeyStore, Verification, utc_now
from whisper_api.keys.tokens import KeyToken

__all__ = ["SCOPES", "ApiKey", "KeyStore", "KeyToken", "Verification", "parse_expiry", "utc_now"]
