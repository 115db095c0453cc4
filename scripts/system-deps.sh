#!/usr/bin/env bash
# The system parts the tests run for real, from Debian's packages, installed when missing (as root, with apt;
# elsewhere it says what is missing and the tests that need it skip, or fail under CI):
#   docker-compose  tests/deploy validate docker-compose.yml with the real tool (no Docker engine needed);
#   prometheus      tests/deploy/test_k8s_prometheus.py evaluates the autoscalers' PromQL (its own server, port 0);
#   chromium        tests/console drive the web console in it (Playwright never fetches a browser of its own);
#   postgresql      tests/pg.py starts a real PostgreSQL server for the scoring-session store tests.
# `make test` runs this first; it takes no time when everything is there.
set -euo pipefail

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing ${missing[*]} (Debian packages) for the tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"; } >/dev/null 2>&1 || echo "could not install ${missing[*]}: their tests will fail" >&2
else
    echo "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) or their tests skip" >&2
fi
