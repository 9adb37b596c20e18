"""``python -m whisper_api`` runs the same command line as ``whisper-api``."""

from whisper_api.cli.app import main

main()
