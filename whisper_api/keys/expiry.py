"""Key expiry as people write it: a duration from now (``30d``, ``12h``, ``2w``) or a date."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from whisper_api.errors import InvalidOptionError

_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str, now: datetime) -> datetime:
    """The moment a key expires, in UTC; a date alone means midnight UTC at its start."""
    value = text.strip().lower()
    match = _DURATION.match(value)
    if match:
        try:
            moment = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise InvalidOptionError(f"expiry '{text}' is too far in the future") from None
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InvalidOptionError(
                f"bad expiry '{text}': use a duration such as 30d, 12h, 2w, 90m or a date such as 2027-01-01"
            ) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if moment <= now:
        raise InvalidOptionError(f"expiry '{text}' is not in the future")
    return moment.astimezone(timezone.utc)
