#!/usr/bin/env sh
# Build whisper-cli from the pinned whisper.cpp source into vendor/whisper.cpp/bin (see README.md).
# Extra arguments go to `whisper-api engine build`, e.g. --cmake-arg=-DGGML_CUDA=ON or --force.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" -m whisper_api engine build --dest "$here/bin" "$@"
