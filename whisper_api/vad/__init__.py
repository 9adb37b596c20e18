"""Voice activity: what is speech, for batch gating, live utterances and diarization alike.

``detector`` gives one speech probability per frame (Silero through whisper.cpp in ``silero``,
loaded only when a model is installed, else the ``energy`` detector); ``regions`` turns
probabilities into speech regions with one rule set per use; ``gate`` cuts long non-speech out
of a recording before decoding. Nothing here loads whisper.cpp on import.
"""

from whisper_api.sample_rate import SAMPLE_RATE

FRAME_SAMPLES = 512
"""Silero's window: one probability per 32 ms at 16 kHz."""
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
