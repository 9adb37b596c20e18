"""Boolean flags as typer options. Typer's help shows a ``<bool>`` value after every option, flags
included, which reads as if ``--txt true`` were the way to use one (and ``true`` then becomes a
file name); a flag takes no value, so its help shows none."""

from __future__ import annotations

from typing import Any

import typer


def flag(*names: str, **options: Any) -> Any:
    """``typer.Option`` for a ``bool`` parameter (``--txt``, or ``--vad/--no-vad``)."""
    return typer.Option(*names, metavar="", **options)
