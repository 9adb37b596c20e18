"""Deepgram's API: batch and live transcription, callbacks, models, tokens, key management."""
