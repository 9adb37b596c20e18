"""The Deepgram-compatible HTTP server (Litestar + uvicorn)."""
