"""Whisper's input rate, in a module of its own so light modules (voice-activity rules, stream
options) can use it without importing the audio stack and numpy (the CLI starts faster)."""

SAMPLE_RATE = 16000
