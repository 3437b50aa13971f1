#!/usr/bin/env bash
# Builds what bench/gpu/run.sh needs on a GPU machine that has no network and maybe no Node:
# .devcarry/ (this bench bundled, Node compressed, dawn.node from the `webgpu` npm package, the
# onnxruntime-web WebGPU bundle), tools/real-size/generate.bundle.mjs, and .gl/ (Vulkan/GL loader
# debs, as the device README says). All three are listed in .git/info/exclude and carried.
set -euo pipefail
cd "$(dirname "$0")/../.."
C=.devcarry
rm -rf "$C" && mkdir -p "$C/node_modules/webgpu/dist/linux-x64" "$C/node_modules/onnxruntime-web/dist"
for p in /.devcarry/ /.gl/ /tools/real-size/generate.bundle.mjs; do grep -qxF "$p" .git/info/exclude || echo "$p" >> .git/info/exclude; done
banner='import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);'
npx esbuild bench/gpu/engineOnGpu.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:webgpu --external:onnxruntime-web/webgpu "--banner:js=$banner" --outfile="$C/engineOnGpu.mjs"
npx esbuild tools/real-size/generate.mjs --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  "--banner:js=$banner" --outfile=tools/real-size/generate.bundle.mjs
# Stripped (its debug info is most of it) and x86-filtered: about 20 MiB, against 24 as it was.
strip --strip-all -o /tmp/node.stripped "$(command -v node)"
xz -T0 --x86 --lzma2=preset=9e -c /tmp/node.stripped > "$C/node.xz" && rm /tmp/node.stripped
( cd "$C" && npm pack --silent webgpu@0.6.2 >/dev/null && tar xzf webgpu-0.6.2.tgz package/index.js package/package.json package/dist/linux-x64/dawn.node && rm webgpu-0.6.2.tgz )
cp "$C/package/index.js" "$C/package/package.json" "$C/node_modules/webgpu/"
xz -T0 -6 -c "$C/package/dist/linux-x64/dawn.node" > "$C/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
rm -rf "$C/package"
ORT=node_modules/onnxruntime-web
cp "$ORT/package.json" "$C/node_modules/onnxruntime-web/"
cp "$ORT/dist/ort.webgpu.bundle.min.mjs" "$ORT/dist/ort-wasm-simd-threaded.asyncify.mjs" "$C/node_modules/onnxruntime-web/dist/"
xz -T0 -6 -c "$ORT/dist/ort-wasm-simd-threaded.asyncify.wasm" > "$C/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm.xz"
if [ ! -d .gl ]; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh "$C" .gl tools/real-size/generate.bundle.mjs
# The tracked tree is about 44 MiB, so with everything above one call is past the 64 MiB the device
# takes: send Node first (run.sh says how), then the rest.
