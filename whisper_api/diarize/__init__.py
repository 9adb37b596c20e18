"""Speaker diarization: who spoke when (docs/diarization.md).

Modules import numpy and scipy, so nothing is imported here: ``options`` is the light one that
front ends read; ``diarizer.Diarizer`` is the entry point.
"""
