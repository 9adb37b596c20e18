"""Live transcription: audio arriving in pieces, results while it is spoken."""
