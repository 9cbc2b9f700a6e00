#!/usr/bin/env bash
# The README's first command (`npm run setup`): on a machine with Node 20 and npm, install pnpm, the system
# packages the tests use, every workspace dependency, then run the main job (`pnpm start`).
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
bash scripts/install-system-deps.sh
pnpm install --frozen-lockfile
pnpm start
