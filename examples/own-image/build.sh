#!/usr/bin/env bash
# Builds example/wordfreq:1 from this folder and saves it to wordfreq.tar, the archive job.yaml
# ships to providers (none of them needs a registry). Needs golemflow/compute:1 (npm run runtimes).
set -euo pipefail
cd "$(dirname "$0")"
DOCKER_BUILDKIT=0 docker build -q -t example/wordfreq:1 . >/dev/null
docker save example/wordfreq:1 -o wordfreq.tar
# Local providers share this Docker engine: without the image here, they must load it from the
# archive, as a provider on another machine would. (--keep keeps it.)
[ "${1:-}" = "--keep" ] || docker rmi -f example/wordfreq:1 >/dev/null
echo "saved example/wordfreq:1 to $(pwd)/wordfreq.tar ($(du -h wordfreq.tar | cut -f1))"
