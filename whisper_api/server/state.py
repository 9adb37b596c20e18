"""What the server holds while it runs: settings, workers, the key store, readiness."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from litestar.params import SkipValidation

from whisper_api.core import Transcriber
from whisper_api.keys import KeyStore
from whisper_api.models import ModelStore
from whisper_api.models.identity import ModelRecord, record
from whisper_api.server.admission import Admission
from whisper_api.server.auth import Authenticator, load_secret
from whisper_api.server.fetch import AllowList
from whisper_api.settings import Settings

logger = logging.getLogger("whisper_api.server")


@dataclass
class ServerState:
    settings: Settings
    store: KeyStore | None
    auth: Authenticator
    admission: Admission[Transcriber]
    transcribers: list[Transcriber]
    models: ModelStore
    allowed_hosts: AllowList
    jobs: ThreadPoolExecutor = field(default_factory=ThreadPoolExecutor)
    """Threads for transcription only, so long jobs never starve auth checks and DNS look-ups."""
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once loading finished, well or not (then load_error says why)."""
    load_error: str | None = None

    @classmethod
    def create(cls, settings: Settings) -> ServerState:
        store = None if settings.no_auth else KeyStore(settings.database_url)
        transcribers = [Transcriber(settings) for _ in range(settings.workers)]
        return cls(settings, store, Authenticator(store, load_secret(settings.home)),
                   Admission(transcribers, settings.queue_size), transcribers, ModelStore(settings.models_dir),
                   AllowList.parse(settings.allowed_hosts),
                   ThreadPoolExecutor(settings.workers, thread_name_prefix="transcribe"))

    @property
    def max_bytes(self) -> int:
        return self.settings.max_upload_mb * 1_000_000

    def model(self, name: str) -> ModelRecord:
        return record(name, self.models)

    async def load_models(self) -> None:
        """Load the default model into every worker, off the event loop; readiness follows."""
        try:
            path = self.models.resolve(self.settings.model)
            for transcriber in self.transcribers:
                await asyncio.to_thread(transcriber.engine.preload, path)
        except Exception as exc:  # reported by /readyz and the log; requests get 503
            self.load_error = str(exc)
            logger.error("cannot load model %s: %s", self.settings.model, exc)
            return
        finally:
            self.loaded.set()
        logger.info("model %s loaded in %d worker(s)", self.settings.model, len(self.transcribers))

    def close(self) -> None:
        self.jobs.shutdown(wait=True, cancel_futures=True)
        for transcriber in self.transcribers:
            transcriber.close()
        if self.store is not None:
            self.store.close()


Server = SkipValidation[ServerState]
"""How handlers receive the state: injected as is (Litestar would otherwise try to validate it)."""
