#!/usr/bin/env bash
# On the GPU machine (device tool), after bench/gpu/prepare.sh here; carry .devcarry, .gl and
# tools/real-size/generate.bundle.mjs. Unpacks the loaders, Node, dawn.node and the runtime, then
# runs bench/gpu/engineOnGpu.ts (bundled) and leaves its JSON in $OUT. When the tree and the carry
# are over 64 MiB, send Node in a call of its own first and leave .devcarry/node.xz out of the next
# (carry .devcarry/engineOnGpu.mjs and .devcarry/node_modules instead): a Node at /tmp/node is used.
set -uo pipefail
cd "$(dirname "$0")/../.."
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
C=.devcarry
NODE=$(command -v node || true)
[ -z "$NODE" ] && [ -x /tmp/node ] && NODE=/tmp/node
if [ -z "$NODE" ]; then xz -dc "$C/node.xz" > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node; fi
xz -dc "$C/node_modules/webgpu/dist/linux-x64/dawn.node.xz" > "$C/node_modules/webgpu/dist/linux-x64/dawn.node"
xz -dc "$C/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm.xz" > "$C/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm"
nvidia-smi -L; "$NODE" --version; nproc; ls /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d/ 2>&1 | head
export ATTENTION_LENS_CACHE=/tmp/attention-lens-cache
cp "$C/engineOnGpu.mjs" "$C/run.mjs"
"$NODE" --max-old-space-size=16000 "$C/run.mjs" 2>&1 | tee "${OUT:-.}/engineOnGpu.log"
