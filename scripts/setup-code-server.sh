#!/usr/bin/env bash
# Builds code-server (VS Code in the browser, from npm) once into a cache outside the repo,
# so end-to-end tests run against a real VS Code without downloading one from the internet.
# Prints the path of the built package folder on its last line.
set -euo pipefail
VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CACHE="${ATTENTION_LENS_CACHE:-$HOME/.cache/attention-lens}"
DEST="$CACHE/code-server-$VERSION"
if [ -f "$DEST/.built" ]; then echo "$DEST/package"; exit 0; fi

mkdir -p "$CACHE"
LOG="$CACHE/setup-code-server.log"
: >"$LOG"
# apt's and npm's own output goes to the log, shown only when a step fails.
quiet() { "$@" >>"$LOG" 2>&1 || { echo "setup-code-server: '$*' failed; its output:" >&2; cat "$LOG" >&2; exit 1; }; }

need=()
for p in libkrb5-dev ripgrep chromium; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-code-server: Debian packages missing: ${need[*]}. Run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup-code-server: installing ${need[*]} (apt-get)…" >&2
  quiet apt-get update -qq
  quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

echo "setup-code-server: building code-server $VERSION once into $DEST (a few minutes)…" >&2
rm -rf "$DEST"; mkdir -p "$DEST"; cd "$DEST"
quiet npm pack "code-server@$VERSION"
tar xzf "code-server-$VERSION.tgz"; rm -f "code-server-$VERSION.tgz"
(cd package && quiet npm install --omit=dev --ignore-scripts --no-audit --no-fund)
(cd package/lib/vscode && quiet npm install --omit=dev --ignore-scripts --no-audit --no-fund)
(cd package/lib/vscode && quiet env npm_config_yes=true npm rebuild kerberos node-pty @parcel/watcher @vscode/spdlog native-watchdog @vscode/deviceid)
(cd package && quiet npm rebuild argon2)
mkdir -p package/lib/vscode/node_modules/@vscode/ripgrep/bin
ln -sf /usr/bin/rg package/lib/vscode/node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules package/lib/vscode/node_modules.asar
node package/out/node/entry.js --version >&2
touch .built
echo "$DEST/package"
