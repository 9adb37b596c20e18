"""Speech engines behind one protocol, looked up by name."""

from whisper_api.engine.base import (
    Decoding,
    Engine,
    EngineJob,
    EngineResult,
    ProgressCallback,
    create_engine,
    engine_names,
    register_engine,
    resolve_language,
)
from whisper_api.settings import Settings


def _native(settings: Settings) -> Engine:
    from whisper_api.engine.native import NativeEngine  # loads the C extension only when used

    return NativeEngine(weights=settings.weights)


def _cli(settings: Settings) -> Engine:
    from whisper_api.engine.whisper_cli import CliEngine

    return CliEngine(settings.whisper_cli or None, home=settings.home)


register_engine("native", _native)
register_engine("cli", _cli)

__all__ = [
    "Decoding",
    "Engine",
    "EngineJob",
    "EngineResult",
    "ProgressCallback",
    "create_engine",
    "engine_names",
    "register_engine",
    "resolve_language",
]
