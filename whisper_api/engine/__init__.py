"""Speech engines behind one protocol, looked up by name."""

from whisper_api.engine.base import (
    Engine,
    EngineJob,
    EngineResult,
    ProgressCallback,
    create_engine,
    engine_names,
    register_engine,
)


def _native() -> Engine:
    from whisper_api.engine.native import NativeEngine  # loads the C extension only when used

    return NativeEngine()


register_engine("native", _native)

__all__ = [
    "Engine",
    "EngineJob",
    "EngineResult",
    "ProgressCallback",
    "create_engine",
    "engine_names",
    "register_engine",
]
