#!/usr/bin/env bash
# Builds code-server (VS Code in the browser, from npm) once into a cache outside the repo,
# so end-to-end tests run against a real VS Code without downloading one from the internet.
# Prints the path of the built package folder on its last line.
set -euo pipefail
VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CACHE="${ATTENTION_LENS_CACHE:-$HOME/.cache/attention-lens}"
DEST="$CACHE/code-server-$VERSION"
if [ -f "$DEST/.built" ]; then echo "$DEST/package"; exit 0; fi

need=()
for p in libkrb5-dev ripgrep chromium; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

rm -rf "$DEST"; mkdir -p "$DEST"; cd "$DEST"
npm pack "code-server@$VERSION" >&2
tar xzf "code-server-$VERSION.tgz"; rm -f "code-server-$VERSION.tgz"
(cd package && npm install --omit=dev --ignore-scripts --no-audit --no-fund >&2)
(cd package/lib/vscode && npm install --omit=dev --ignore-scripts --no-audit --no-fund >&2)
(cd package/lib/vscode && npm_config_yes=true npm rebuild kerberos node-pty @parcel/watcher @vscode/spdlog native-watchdog @vscode/deviceid >&2)
(cd package && npm rebuild argon2 >&2)
mkdir -p package/lib/vscode/node_modules/@vscode/ripgrep/bin
ln -sf /usr/bin/rg package/lib/vscode/node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules package/lib/vscode/node_modules.asar
node package/out/node/entry.js --version >&2
touch .built
echo "$DEST/package"
