"""Asynchronous transcription jobs (Deepgram's ``callback=`` mode), persisted in the shared database."""
