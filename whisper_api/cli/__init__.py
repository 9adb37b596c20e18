"""The ``whisper-api`` command line: a thin door onto the core."""
