"""Optimum's merged decoder (decoder_model_merged.onnx) from a split export's two decoders, as
Optimum's merge_decoders writes it: one graph whose If on the `use_cache_branch` input runs the
with-past decoder (then) or the first decoder (else), taking the union of their inputs and
returning the first decoder's outputs (the with-past branch passes the cached cross-attention keys
and values through). Each branch keeps its own weights (Optimum shares them; the graphs compute the
same). Usage, with Debian's interpreter:
    /usr/bin/python3 tools/kv-fixtures/merge_decoders.py <folder>/onnx [<folder-for-the-result>/onnx]
"""
import os
import sys

import onnx
from onnx import helper


def main(src, dst):
    first = onnx.load(os.path.join(src, 'decoder_model.onnx'))
    past = onnx.load(os.path.join(src, 'decoder_with_past_model.onnx'))
    outputs = [o.name for o in first.graph.output]
    # Each branch writes the merged outputs under its own names, then the If returns them.
    def sub(model, tag):
        """`model`'s graph as a branch: every tensor it makes (and its weights) renamed `tag/…`, its inputs read from the outer graph."""
        g = model.graph
        local = {o for n in g.node for o in n.output} | {t.name for t in g.initializer}
        name = lambda t: f'{tag}/{t}' if t in local else t
        nodes = []
        for n in g.node:
            node = onnx.NodeProto()
            node.CopyFrom(n)
            node.name = f'{tag}/{n.name}'
            node.input[:] = [name(t) if t else t for t in n.input]
            node.output[:] = [name(t) for t in n.output]
            nodes.append(node)
        inits = []
        for t in g.initializer:
            c = onnx.TensorProto()
            c.CopyFrom(t)
            c.name = name(t.name)
            inits.append(c)
        produced = {o.name for o in g.output}
        # Outputs the with-past decoder lacks (the cached cross-attention keys and values) pass through.
        for out in outputs:
            if out not in produced:
                nodes.append(helper.make_node('Identity', [out.replace('present.', 'past_key_values.')], [f'{tag}/{out}'], name=f'{tag}/pass/{out}'))
        outs = []
        for out in outputs:
            vi = onnx.ValueInfoProto()
            vi.CopyFrom(next(o for o in first.graph.output if o.name == out))
            vi.name = f'{tag}/{out}'
            outs.append(vi)
        return helper.make_graph(nodes, f'{tag}_branch', [], outs, initializer=inits)
    then_g, else_g = sub(past, 'with_past'), sub(first, 'without_past')
    inputs = list(first.graph.input) + [i for i in past.graph.input if i.name not in {x.name for x in first.graph.input}]
    inputs.append(helper.make_tensor_value_info('use_cache_branch', onnx.TensorProto.BOOL, [1]))
    node = helper.make_node('If', ['use_cache_branch'], outputs, name='optimum::if', then_branch=then_g, else_branch=else_g)
    graph = helper.make_graph([node], 'merged_decoder', inputs, list(first.graph.output))
    model = helper.make_model(graph, opset_imports=first.opset_import)
    model.ir_version = first.ir_version
    onnx.checker.check_model(model)
    os.makedirs(dst, exist_ok=True)
    onnx.save(model, os.path.join(dst, 'decoder_model_merged.onnx'))
    print('wrote', os.path.join(dst, 'decoder_model_merged.onnx'))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else sys.argv[1])
