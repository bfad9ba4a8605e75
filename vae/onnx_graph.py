"""An ONNX graph (checked by vae/onnx_safe.py) -> an op program in the vocabulary of vae/export.py.

The graph must be a chain of layers from its one input: each node reads one computed tensor, and constants. Gemm and
MatMul become `linear`; BatchNormalization (inference), and Add/Sub/Mul/Div by a constant, fold into the linear or
conv before them when they act per channel, and become `add`/`mul` ops otherwise; the shape arithmetic exporters
write for Reshape (Shape, Gather, Concat, ...) is evaluated here. Anything else is refused with the node and its op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vae.onnx_fold import Constants
from vae.onnx_safe import OnnxError, node_label

MAX_FIXED_BATCH = 64  # a file may fix its batch size; the import check runs it on batches of that size
AFFINE = ("linear", "conv2d", "conv_transpose2d")
POINTWISE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


@dataclass(frozen=True)
class Act:
    """A computed tensor: the ops from the graph input to it, and its shape per image (no batch dim)."""
    ops: tuple
    shape: tuple[int, ...]
    by: str  # the node that made it, for messages
    part: tuple | None = None  # (start, stop, the Act it was cut from) for a Split's or a Slice's part


class Graph(Constants):
    """The graph walked node by node (ONNX lists them in topological order): each computed tensor is an Act."""

    def __init__(self, model, what: str):
        super().__init__(model, what)
        g = model.graph
        self.acts: dict[str, Act] = {}
        inputs = [i for i in g.input if i.name not in self.tensors]
        if len(inputs) != 1:
            raise OnnxError(f"{what}: the graph has {len(inputs)} inputs; an encoder or decoder has exactly one")
        dims = inputs[0].type.tensor_type.shape.dim
        if inputs[0].type.tensor_type.elem_type not in (1, 11) or len(dims) < 2:
            raise OnnxError(f"{what}: input {inputs[0].name[:60]!r} must be a float tensor with a batch dim first")
        self.batch = dims[0].dim_value if dims[0].HasField("dim_value") else None
        if self.batch is not None and not 1 <= self.batch <= MAX_FIXED_BATCH:
            raise OnnxError(f"{what}: input {inputs[0].name[:60]!r} fixes the batch size at {self.batch}; export with "
                            f"a dynamic batch dim (dynamic_axes) or a batch of 1 to {MAX_FIXED_BATCH}")
        shape = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:])
        if min(shape) < 1:
            raise OnnxError(f"{what}: input {inputs[0].name[:60]!r} must have fixed sizes after the batch dim")
        self.input_shape = shape
        self.acts[inputs[0].name] = Act((), shape, f"input {inputs[0].name[:60]!r}")
        for node in g.node:
            self._node(node)
        self.outputs = []
        for o in g.output:
            if o.name not in self.acts:
                raise OnnxError(f"{what}: output {o.name[:60]!r} is not computed from the input")
            self.outputs.append(self.acts[o.name])

    # --- helpers --------------------------------------------------------------------------------------------

    def per_image(self, c: np.ndarray, act: Act, node) -> np.ndarray:
        """A constant broadcast against (B, *shape) as one array of `shape` (its batch dim must be 1)."""
        c = np.asarray(c, dtype=np.float64)
        if c.ndim > len(act.shape) + 1 or (c.ndim == len(act.shape) + 1 and c.shape[0] != 1):
            raise self.fail(node, f"broadcasts a constant of shape {list(c.shape)} over the batch")
        c = c.reshape(c.shape[1:]) if c.ndim == len(act.shape) + 1 else c
        try:
            if np.broadcast_shapes(c.shape, act.shape) != act.shape:
                raise ValueError
        except ValueError:
            raise self.fail(node, f"would change the shape {list(act.shape)} with a constant of shape {list(c.shape)}") from None
        return np.broadcast_to(c, act.shape)

    # --- nodes ----------------------------------------------------------------------------------------------

    def _node(self, node) -> None:
        ins = [i for i in node.input if i]
        computed = [i for i in ins if i in self.acts]
        if not computed or node.op_type == "Shape":
            self._fold(node, ins)
            return
        if len(computed) > 1:
            raise self.fail(node, "reads more than one computed tensor; only a chain of layers can be imported")
        if computed[0] != node.input[0] and node.op_type not in ("Add", "Mul", "Sub", "Div"):
            raise self.fail(node, "must read the computed tensor as its first input, and constants after it")
        act = self.acts[computed[0]]
        if act.part is not None:
            raise self.fail(node, "reads a part of a Split or Slice: those may only make the encoder's two outputs")
        if len([o for o in node.output if o]) != 1 and node.op_type not in ("BatchNormalization", "Split"):
            raise self.fail(node, "has more than one output")
        out = self._layer(node, act, ins)
        if out is not None:
            self.acts[node.output[0]] = out

    def _layer(self, node, act: Act, ins: list[str]) -> Act | None:
        op, label = node.op_type, node_label(node)
        if op in POINTWISE:
            return Act(act.ops + ({"op": POINTWISE[op]},), act.shape, label)
        if op == "LeakyRelu":
            return Act(act.ops + ({"op": "leaky_relu", "slope": float(self.attr(node, "alpha", 0.01))},), act.shape, label)
        if op == "Elu":
            return Act(act.ops + ({"op": "elu", "alpha": float(self.attr(node, "alpha", 1.0))},), act.shape, label)
        if op == "Identity":
            return act
        if op in ("Gemm", "MatMul"):
            return self._linear(node, act, ins)
        if op in ("Conv", "ConvTranspose"):
            return self._conv(node, act, ins)
        if op == "BatchNormalization":
            return self._batchnorm(node, act, ins)
        if op in ("Add", "Sub", "Mul", "Div"):
            return self._arith(node, act, ins)
        if op == "Flatten":
            if self.attr(node, "axis", 1) not in (1, -len(act.shape)):
                raise self.fail(node, "flattens other than from axis 1 (the batch dim must stay)")
            return self._reshape(act, (math.prod(act.shape),), label)
        if op == "Reshape":
            return self._reshape(act, self._target(node, act, self.const(node.input[1], node)), label)
        if op == "Split":
            return self._split(node, act, ins)
        if op == "Slice":
            return self._slice(node, act, ins)
        raise self.fail(node, "is not a layer of an encoder or decoder that can be imported")

    @staticmethod
    def _reshape(act: Act, shape: tuple[int, ...], label: str) -> Act:
        return act if shape == act.shape else Act(act.ops + ({"op": "reshape", "shape": list(shape)},), shape, label)

    def _target(self, node, act: Act, target: np.ndarray) -> tuple[int, ...]:
        """Reshape's target shape with its batch dim taken off and -1 / 0 resolved."""
        t = [int(v) for v in np.asarray(target).ravel()]
        full = [self.batch or -1, *act.shape]
        if not self.attr(node, "allowzero", 0):  # 0 copies the input's size at that position
            t = [full[i] if v == 0 and i < len(full) else v for i, v in enumerate(t)]
        if not 2 <= len(t) <= 4 or t[0] not in (-1, self.batch):
            raise self.fail(node, f"reshapes to {t}: the first dim must stay the batch, with 1 to 3 dims per image")
        rest, n = t[1:], math.prod(act.shape)
        if any(v < -1 or v == 0 for v in rest) or rest.count(-1) > (0 if t[0] == -1 else 1):
            raise self.fail(node, f"reshapes to {t}: which dim is the batch cannot be told")
        if -1 in rest:
            known = math.prod(v for v in rest if v != -1)
            rest = [n // known if v == -1 else v for v in rest]
        if math.prod(rest) != n:
            raise self.fail(node, f"cannot reshape {list(act.shape)} to {t}")
        return tuple(rest)

    def _linear(self, node, act: Act, ins: list[str]) -> Act:
        if len(act.shape) != 1:
            raise self.fail(node, f"must multiply a flat (B, features) input by a constant, not shape {list(act.shape)}")
        b = np.asarray(self.const(node.input[1], node), dtype=np.float64)
        if node.op_type == "Gemm":
            if self.attr(node, "transA", 0):
                raise self.fail(node, "transposes its input (transA=1)")
            w = (b if self.attr(node, "transB", 0) else b.T) * float(self.attr(node, "alpha", 1.0))  # (N, K)
            c = self.const(ins[2], node) if len(ins) > 2 else np.zeros(1)
            bias = float(self.attr(node, "beta", 1.0)) * np.asarray(c, dtype=np.float64)
        else:
            w, bias = b.T, np.zeros(1)
        if w.ndim != 2 or w.shape[1] != act.shape[0]:
            raise self.fail(node, f"has a weight of shape {list(b.shape)} for {act.shape[0]} input features")
        try:
            bias = np.broadcast_to(bias.reshape(-1) if bias.size == w.shape[0] else bias, (1, w.shape[0]))[0]
        except ValueError:
            raise self.fail(node, f"has a bias of shape {list(bias.shape)} for {w.shape[0]} outputs") from None
        op = {"op": "linear", "in": int(w.shape[1]), "out": int(w.shape[0]), "weight": w, "bias": bias.copy()}
        return Act(act.ops + (op,), (int(w.shape[0]),), node_label(node))

    def _conv(self, node, act: Act, ins: list[str]) -> Act:
        transpose = node.op_type == "ConvTranspose"
        w = np.asarray(self.const(node.input[1], node), dtype=np.float64)
        if len(act.shape) != 3 or w.ndim != 4:
            raise self.fail(node, f"must be a 2-D convolution of a (B, C, H, W) input, not shape {list(act.shape)}")
        if self.attr(node, "group", 1) != 1 or any(d != 1 for d in self.attr(node, "dilations", [1, 1])):
            raise self.fail(node, "has groups or dilations other than 1")
        if self.attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID"):
            raise self.fail(node, "uses auto_pad SAME; export with explicit pads")
        if transpose and self.attr(node, "output_shape") is not None:
            raise self.fail(node, "sets output_shape; export with output_padding instead")
        k = [int(v) for v in w.shape[2:]]
        if list(self.attr(node, "kernel_shape", k)) != k:
            raise self.fail(node, "has a kernel_shape that is not its weight's")
        pads = [int(v) for v in self.attr(node, "pads", [0, 0, 0, 0])]
        if len(pads) != 4 or pads[:2] != pads[2:]:
            raise self.fail(node, f"pads {pads} unevenly; only the same padding on both sides is supported")
        s = [int(v) for v in self.attr(node, "strides", [1, 1])]
        ci, co = (w.shape[0], w.shape[1]) if transpose else (w.shape[1], w.shape[0])
        if ci != act.shape[0]:
            raise self.fail(node, f"expects {ci} input channels, gets {act.shape[0]}")
        sides = act.shape[1:]
        if transpose:
            extra = [int(v) for v in self.attr(node, "output_padding", [0, 0])]
            if len(extra) != 2 or not all(0 <= e < st for e, st in zip(extra, s)):
                raise self.fail(node, f"has output_padding {extra}; it must be below the stride")
            out = [(n - 1) * st - 2 * p + kk + e for n, st, p, kk, e in zip(sides, s, pads, k, extra)]
        else:
            out = [(n + 2 * p - kk) // st + 1 for n, p, kk, st in zip(sides, pads, k, s)]
        if min(out) < 1:
            raise self.fail(node, f"leaves no output for an input of shape {list(act.shape)}")
        bias = np.asarray(self.const(ins[2], node), dtype=np.float64) if len(ins) > 2 else np.zeros(co)
        if bias.shape != (co,):
            raise self.fail(node, f"has a bias of shape {list(bias.shape)} for {co} channels")
        shape = (int(co), *out)
        op = {"op": "conv_transpose2d" if transpose else "conv2d", "in_shape": list(act.shape), "out_shape": list(shape),
              "kernel": k, "stride": s, "padding": pads[:2], "weight": w, "bias": bias}
        return Act(act.ops + (op,), shape, node_label(node))

    def _batchnorm(self, node, act: Act, ins: list[str]) -> Act:
        if self.attr(node, "training_mode", 0) or len([o for o in node.output if o]) != 1:
            raise self.fail(node, "is in training mode; export the model in eval() mode")
        scale, shift, mean, var = (np.asarray(self.const(i, node), dtype=np.float64).ravel() for i in ins[1:5])
        c = act.shape[0]
        if not all(a.shape == (c,) for a in (scale, shift, mean, var)):
            raise self.fail(node, f"has statistics that are not one per channel ({c})")
        s = scale / np.sqrt(var + float(self.attr(node, "epsilon", 1e-5)))
        per = (c,) + (1,) * (len(act.shape) - 1)
        return self._affine(node, act, s.reshape(per), (shift - mean * s).reshape(per))

    def _arith(self, node, act: Act, ins: list[str]) -> Act:
        op, first = node.op_type, node.input[0] in self.acts
        c = self.const(node.input[1] if first else node.input[0], node)
        c = self.per_image(c, act, node)
        if op == "Add":
            return self._affine(node, act, None, c)
        if op == "Mul":
            return self._affine(node, act, c, None)
        if op == "Sub":
            return self._affine(node, act, None, -c) if first else self._affine(node, act, -np.ones_like(c), c)
        if not first or not np.all(c != 0):
            raise self.fail(node, "divides by the input or by zero; only division by a nonzero constant is supported")
        return self._affine(node, act, 1 / c, None)

    def _affine(self, node, act: Act, scale, shift) -> Act:
        """x * scale + shift, folded into the linear or conv before it when both are per channel."""
        scale = None if scale is None else np.broadcast_to(scale, act.shape)
        shift = None if shift is None else np.broadcast_to(shift, act.shape)
        last = act.ops[-1] if act.ops else None
        channel = [_per_channel(a) for a in (scale, shift) if a is not None]
        label = node_label(node)
        if last is not None and last["op"] in AFFINE and all(v is not None for v in channel):
            s = channel[0] if scale is not None else np.ones(act.shape[0])
            t = channel[-1] if shift is not None else np.zeros(act.shape[0])
            axis = 1 if last["op"] == "conv_transpose2d" else 0  # the output channel of the weight
            shape = [1] * last["weight"].ndim
            shape[axis] = -1
            op = {**last, "weight": last["weight"] * s.reshape(shape), "bias": last["bias"] * s + t}
            return Act(act.ops[:-1] + (op,), act.shape, label)
        ops = act.ops
        for kind, v in (("mul", scale), ("add", shift)):
            if v is not None:
                one = bool(np.all(v == v.flat[0]))
                ops += ({"op": kind, "scalar": one, "value": np.array(v.flat[:1]) if one else np.array(v)},)
        return Act(ops, act.shape, label)

    def _split(self, node, act: Act, ins: list[str]) -> Act | None:
        outs = [o for o in node.output if o]
        sizes = self.const(ins[1], node) if len(ins) > 1 else self.attr(node, "split")
        n = act.shape[0] if len(act.shape) == 1 else 0
        halves = sizes is None or [int(v) for v in np.asarray(sizes).ravel()] == [n // 2] * 2
        if len(outs) != 2 or self.attr(node, "axis", 0) not in (1, -1) or not n or n % 2 or not halves:
            raise self.fail(node, "must split a flat (B, 2D) tensor into two equal halves (mu, logvar) on axis 1")
        for i, o in enumerate(outs):
            self.acts[o] = Act(act.ops, (n // 2,), node_label(node), part=(i * n // 2, (i + 1) * n // 2, act))
        return None

    def _slice(self, node, act: Act, ins: list[str]) -> Act:
        """A contiguous part of a flat tensor (as torch writes h[:, :d] or h.chunk(2, 1)): for the encoder's outputs."""
        args = [np.asarray(self.const(i, node)).ravel().tolist() for i in node.input[1:5] if i] + [[1], [1]]
        (start,), (stop,), axes, steps = (args[0], args[1], args[2], args[3]) if len(args[0]) == 1 else ([0], [0], [], [])
        n = act.shape[0] if len(act.shape) == 1 else 0
        if not n or len(node.input) < 4 or axes not in ([1], [-1]) or steps != [1]:
            raise self.fail(node, "must cut a flat (B, features) tensor along axis 1 in steps of 1")
        start, stop = (min(max(v + n if v < 0 else v, 0), n) for v in (start, stop))
        if stop <= start:
            raise self.fail(node, "cuts out nothing")
        return Act(act.ops, (stop - start,), node_label(node), part=(start, stop, act))

def _per_channel(a: np.ndarray) -> np.ndarray | None:
    """The one value per channel (axis 0) of an array that is constant over every other axis, or None."""
    flat = a.reshape(a.shape[0], -1)
    return flat[:, 0].astype(np.float64) if np.all(flat == flat[:, :1]) else None
