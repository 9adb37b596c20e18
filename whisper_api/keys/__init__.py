"""API keys: tokens, expiry parsing, limits, usage and the SQLModel store used by the CLI and the server."""

from whisper_api.clock import utc_now
from whisper_api.keys.expiry import parse_expiry
from whisper_api.keys.limits import KeyLimits
from whisper_api.keys.store import SCOPES, ApiKey, KeyStore, Verification
from whisper_api.keys.tokens import KeyToken
from whisper_api.keys.usage import DayUsage

__all__ = ["SCOPES", "ApiKey", "DayUsage", "KeyLimits", "KeyStore", "KeyToken", "Verification", "parse_expiry",
           "utc_now"]
