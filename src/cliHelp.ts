/** What the CLI says about its commands: the usage lines shown with every argument error, and the full help. */

/** The usage line, shown with every argument error. */
export const USAGE = 'usage: attention-lens inspect --model <folder> [--onnx <file>] (--text <string> | --text-file <path> | --image <file>) [--target <string>] [--json] [--layer N] [--head H] [--top K] [--stats] [--aggregate mean|max|rollout [--rollout-fusion mean|max|min] [--rollout-discard R]] [--words] [--hide special|first[,…]] [--mechanism] [--export FILE] [--keep-weights-mb N] [--timings] [--backend native|native-cuda|wasm]';
/** The download command's usage line. */
export const DOWNLOAD_USAGE = 'usage: attention-lens download <org/name>[@revision] [--file onnx/model.onnx] [--cache-dir DIR]';

/** The compare command's usage line. */
export const COMPARE_USAGE = 'usage: attention-lens compare --model <A> [--onnx <file>] [--model <B> [--onnx <file>]] (--text <string> | --text-file <path> | --image <file>) [--text-b <string> | --text-b-file <path>] [--json] [--diff] [--layer-b N] [--keep-weights-mb N] [--backend native|native-cuda|wasm]';

/** The generate command's usage line. */
export const GENERATE_USAGE = 'usage: attention-lens generate --model <folder> [--onnx <file>] (--text <string> | --text-file <path> | --image <file>) [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--top K] [--json] [--backend native|native-cuda|wasm]';

/** The full help (`--help`, `help`, or no arguments). */
export const HELP = `Attention Lens: transformer attention from the command line (Node: onnxruntime-node, or WebAssembly).

${USAGE}

  --model <folder>        a Hugging Face-style model folder: config.json, tokenizer.json, onnx/model.onnx
                          (external data files beside it: model.onnx_data, model.onnx_data_1, …), or an
                          onnxruntime-genai folder (genai_config.json, tokenizer.json, model.onnx)
  --onnx <file>           the ONNX file in the folder to run, e.g. onnx/model_q4.onnx (default
                          onnx/model.onnx, else model.onnx, else genai_config.json's)
  --text <string>         the text to inspect
  --text-file <path>      read the text from a file instead
  --image <file>          an image (PNG, JPEG, WebP, BMP, GIF's first frame) for an image model (ViT, DeiT, BEiT,
                          DINOv2): processed as its preprocessor_config.json says; each patch is a token
  --target <string>       decoder text of an encoder-decoder model (default: the input)
  --json                  print one JSON object (tokens, attention, and heads with --stats)
  --layer N               which attention to print without --json: N counts the outputs in order,
                          from 1 (encoder-decoder: encoder layers, then decoder, then cross); default: the last.
                          With --mechanism: the only output whose mechanism is included
  --head H                print head H (from 1) instead of the mean of the heads
  --top K                 attended tokens printed per token (default 3)
  --stats                 per-head statistics and labels (a table without --json)
  --aggregate mean|max|rollout
                          one aggregate per layer instead of the heads
  --rollout-fusion mean|max|min
                          with rollout: fuse each layer's heads by their mean (default), max or min
  --rollout-discard R     with rollout: drop each fused layer's smallest share R (0 to 0.99) of weights
                          first, as vit-explain does
  --words                 merge subword tokens into words (the tokenizer's word ids)
  --hide special|first    drop special tokens and/or the first token, rows renormalised
  --export FILE           also write the run to FILE: .json (the --json document), .npz (NumPy:
                          float32 attentions [layers, heads, queries, keys] per kind, input_ids,
                          tokens, offsets, tokens.json), .svg (the head view of --layer, default 1,
                          and --head, default all), .png (the same at 2×) or .html (a standalone
                          interactive report); written whole or not at all
  --mechanism             with --json: add "mechanism", per attention output its queries, keys,
                          values, scale, scores before the softmax (masked: null), per-head output
                          (weights × values) and each key's contribution (‖α·v·W_O‖, else ‖α·v‖)
  --keep-weights-mb N     past N MB of weights (every layer's, float32; default 512), keep each layer's
                          queries and keys and compute its weights when written, one layer at a time
                          (0: always); .html reports need every weight at once and are refused there;
                          not with --mechanism or --image, which keep every weight
  --timings               print where the time went on stderr: reading the model files, tokenizing,
                          opening the session, inference
  --backend native|native-cuda|wasm
                          native (default): onnxruntime-node on every core, external data
                          memory-mapped, no 4 GB ceiling; native-cuda: on an NVIDIA GPU (needs
                          onnxruntime-node's CUDA files; else the CPU, with a warning); wasm:
                          onnxruntime-web on one thread, as in the panel. Where the native binary
                          cannot load (darwin-x64), WebAssembly runs, with a warning
  --help                  this help

${COMPARE_USAGE}

  Two models on one text (two --model), or one model on two texts (--text-b). Tokens are compared
  one to one when both tokenizations are identical, else at the words of the text (split on spaces
  and punctuation; rows renormalised over the words); two texts pair the tokens a diff leaves
  unchanged. Layer i of A faces layer round(i·(L_B−1)/(L_A−1)) of B.
  --onnx <file>           the ONNX file of the --model before it, as for inspect; two variants of
                          one folder (a quantized one against the full one): give the folder twice,
                          e.g. --model F --model F --onnx onnx/model_q4.onnx
  --image <file>          two image models on one image (each processes it as its own
                          preprocessor_config.json says): patch with patch on the same grid, else at
                          the coarser grid's patches (a finer patch counts in the one holding its centre)
  --json                  print both token lists, the alignment, and per layer pair every head
                          pair's Jensen-Shannon distance, each head's best match in B, and the mean
                          absolute difference where head counts match; without it, a table of the
                          most and least alike heads
  --diff                  with --json: add A − B weights [head][query][key] where head counts match
  --layer-b N             compare every layer of A with layer N of B (from 1) instead
  --keep-weights-mb N     as for inspect, each model by its own weights (one model on two texts:
                          both runs, when either is long); compared a layer pair at a time
  --backend …             as for inspect (default native)

${GENERATE_USAGE}

  Continues the text one token at a time (an encoder-decoder model writes an output for it, from
  decoder_start_token_id), stopping at the config's eos_token_id (generation_config.json, else
  config.json) or after --max-new-tokens (default 20; cut to the model's positions). Greedy unless a
  sampling option is given. Each step keeps what the model looked at when it chose the token: the
  last query's attention row over every key up to it, every layer and head (and the cross-attention
  row over the source), with the chosen token's probability and rank and the most probable tokens.
  An export with a key/value cache (past_key_values inputs; a split encoder-decoder model's
  decoder_with_past_model.onnx) takes one token per step; any other runs the growing sequence again.
  --image <file>          caption an image with a vision-encoder-decoder model (a ViT encoder and a
                          text decoder): the source is the image's patches (sourceTokens in --json,
                          each with its box, as inspect --image gives them)
  --temperature T         sample from softmax(logits / T) (T > 0; 0: greedy)
  --top-k K               sample among the K most probable tokens
  --top-p P               sample among the fewest most probable tokens whose probability reaches P (0 < P ≤ 1)
  --seed S                seed of the draws (default 0): the same seed gives the same tokens on every run and backend
  --top K                 strongest keys printed per step (default 3; the last layer, mean of its heads)
  --json                  print one JSON object: model, backend, text, output, stop ("eos", "max"),
                          ids (prompt then output; encoder-decoder: the decoder's), tokens ({id, text,
                          start, end, special, generated}; offsets into text + output, an
                          encoder-decoder's into output, its source in sourceTokens) and steps
                          ({step, query, token {id, text}, probability, rank, top [{id, text,
                          probability}], attention [{name, kind, layer, heads, keys, weights
                          [head][key]}]})
  --backend …             as for inspect (default native)

${DOWNLOAD_USAGE}

  Downloads a model's config.json, tokenizer.json, tokenizer_config.json and ONNX file from the
  Hub (HF_ENDPOINT, else https://huggingface.co; HF_TOKEN for gated models) into the Hugging Face
  cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub), where the extension's
  model picker and Hugging Face's own tools find it, with every external data file the ONNX file's
  graph names (onnx/model.onnx_data, onnx/model.onnx_data_1, …, or model.onnx.data): each must be
  beside it in the repository and listed at least as long as the graph reads, or nothing of the
  data is fetched. Every file is verified against the Hub's listing (size and SHA-256 or git blob
  id) before it counts, and the ONNX file is linked last; prints progress on stderr and the
  snapshot folder on stdout.
  --file <path>           the ONNX file in the repository (default onnx/model.onnx); for a split
                          encoder-decoder export, its encoder (onnx/encoder_model.onnx, or a
                          variant's): its decoders come with it
  --cache-dir <dir>       another cache folder

Errors are one line on stderr and a non-zero exit.`;
