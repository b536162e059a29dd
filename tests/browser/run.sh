#!/usr/bin/env bash
# Runs the browser tests of web/mastodon-comments.js against the daemon's demo mode,
# in Debian's Chromium (/usr/bin/chromium; no browser is ever downloaded).
#
#   tests/browser/run.sh [extra node --test arguments]
#
# Environment:
#   MC_BIN        the daemon binary (default: target/debug/mastodon-comments at the repository root)
#   MC_TEST_OUT   directory for PNG screenshots (default: target/browser-screenshots at the repository root)
#   MC_CHROMIUM   the browser (default: /usr/bin/chromium)
#   MC_TIMEOUT    overall time bound in seconds (default: 600)
#   MC_README_SCREENSHOT  also write the page of the demo command (its built-in sample, 1000 px wide) to this path
# SPDX-License-Identifier: AGPL-3.0-or-later
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bin="${MC_BIN:-$here/../../target/debug/mastodon-comments}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"
if [[ -d "$(dirname "$bin")" ]]; then
  bin="$(cd "$(dirname "$bin")" && pwd -P)/$(basename "$bin")"
fi
if [[ ! -f "$bin" || ! -x "$bin" ]]; then
  echo "run.sh: daemon binary not found or not executable: $bin (build it with 'cargo build' or set MC_BIN)" >&2
  exit 2
fi
export MC_BIN="$bin"

chromium="${MC_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "run.sh: Chromium not found at $chromium (apt-get install chromium, or set MC_CHROMIUM)" >&2
  exit 2
fi
export MC_CHROMIUM="$chromium"

# playwright-core needs Node.js 20 (Debian 12's own nodejs package is 18).
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if (( node_major < 20 )); then
  echo "run.sh: the browser tests need Node.js 20 or newer, found $(node --version 2>/dev/null || echo none);" \
    "install Node.js 20 or newer (for example from NodeSource) and run again" >&2
  exit 2
fi

export MC_TEST_OUT="${MC_TEST_OUT:-$repo/target/browser-screenshots}"
mkdir -p "$MC_TEST_OUT"

# playwright-core must not try to fetch browsers.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

cd "$here"
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund
fi

exec timeout --kill-after=10 "${MC_TIMEOUT:-600}" node --test "$@" comments.test.mjs
