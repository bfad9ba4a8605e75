"""Constants of an ONNX graph: initializers turned into arrays on first use, and the shape arithmetic exporters write
around Reshape (Shape, Gather, Unsqueeze, Concat, Slice, Add, ...) evaluated, for vae/onnx_graph.py's Graph.

Only small results are computed: each op's output size is worked out from its inputs' shapes first, and an op that
would make more than settings.ONNX_FOLDED numbers is refused before numpy allocates anything (Concat of one weight
4,000 times, a Gather by a long index, a Mod that broadcasts two vectors into a matrix). Identity and a Constant
holding a tensor make nothing new: the file holds that data, within onnx_safe's declared-weights quota.
"""

from __future__ import annotations

import math

import numpy as np

from vae import settings
from vae.onnx_safe import SHAPE_OPS, OnnxError, node_label

FOLDABLE = ("Identity", "Add", "Sub", "Mul", "Div", "Slice", "Reshape")  # evaluated too when all their inputs are constants
BROADCAST = ("Add", "Sub", "Mul", "Div", "Mod")
CONSTANT_ATTRS = ("value", "value_float", "value_floats", "value_int", "value_ints")
CAST = {1: np.float32, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}


class Constants:
    """What a node reads that is not computed from the input: arrays by name, evaluated on demand."""

    def __init__(self, model, what: str):
        from onnx import numpy_helper

        self.what, self.to_array = what, numpy_helper.to_array
        self.tensors = {t.name: t for t in model.graph.initializer}  # arrays made on first use, after onnx_safe's checks
        self.values: dict[str, np.ndarray] = {}
        self.acts: dict = {}  # the computed tensors (the subclass's)
        self.batch: int | None = None

    def fail(self, node, why: str) -> OnnxError:
        return OnnxError(f"{self.what}: {node_label(node)} {why}")

    def const(self, name: str, node) -> np.ndarray:
        if name in self.values:
            return self.values[name]
        if name in self.tensors:
            self.values[name] = self.to_array(self.tensors[name])
            return self.values[name]
        raise self.fail(node, f"needs {name[:60]!r} as a constant, and it is computed from the input" if name in self.acts
                        else f"reads {name[:60]!r}, which no earlier node makes (a truncated or altered file?)")

    @staticmethod
    def attr(node, name: str, default=None):
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def _fold(self, node, ins: list[str]) -> None:
        """Evaluate a node whose inputs are all constants (shape arithmetic), or the Shape of a computed tensor."""
        op = node.op_type
        if op not in SHAPE_OPS + FOLDABLE:
            raise self.fail(node, "computes on constants only; export with do_constant_folding=True")
        if op == "Constant" and (len(node.attribute) != 1 or node.attribute[0].name not in CONSTANT_ATTRS):
            raise self.fail(node, "must hold one numeric tensor")
        n, limit = self._size(node, ins), settings.ONNX_FOLDED
        if n > limit.value():
            raise self.fail(node, f"would compute {n:,} numbers from constants, above the {limit.shown()} limit on "
                                  f"shape arithmetic evaluated on import (set {limit.env} to change it)")
        if op == "Constant":
            value = self.attr(node, node.attribute[0].name)
            out = self.to_array(value) if node.attribute[0].name == "value" else np.asarray(value)
        elif op == "Identity":
            out = self.const(ins[0], node)
        elif op == "Shape":
            full = ([self.batch or -1, *self.acts[ins[0]].shape] if ins[0] in self.acts
                    else list(self.const(ins[0], node).shape))
            out = np.array(full[self.attr(node, "start", 0):self.attr(node, "end", len(full))], dtype=np.int64)
        else:
            args = [self.const(i, node) for i in ins]
            out = self._shape_op(node, args)
        self.values[node.output[0]] = out

    def _size(self, node, ins: list[str]) -> int:
        """How many numbers folding `node` would make, from its inputs' shapes alone (0: none new)."""
        op = node.op_type
        if op == "Constant":  # a tensor is data the file holds; value_ints/value_floats are bounded by onnx_safe
            a = node.attribute[0]
            return 0 if a.name == "value" else len(a.ints) + len(a.floats) + 1
        if op == "Identity":
            return 0
        if op == "Shape":
            return len(self.acts[ins[0]].shape) + 1 if ins[0] in self.acts else self.const(ins[0], node).ndim
        shapes = [self.const(i, node).shape for i in ins]
        try:
            if op in BROADCAST:
                return math.prod(np.broadcast_shapes(*shapes))
            if op == "Concat":
                return sum(math.prod(s) or 1 for s in shapes)  # a scalar counts as one (np.atleast_1d)
            if op == "Gather":
                data, index = shapes[0], shapes[1]
                axis = self.attr(node, "axis", 0)
                axis = axis + len(data) if axis < 0 else axis
                if not 0 <= axis < len(data):
                    raise ValueError(f"axis {axis} of a {len(data)}-d tensor")
                return math.prod(data[:axis]) * math.prod(index) * math.prod(data[axis + 1:])
        except ValueError as e:
            raise self.fail(node, f"cannot be evaluated ({str(e)[:80]})") from e
        return math.prod(shapes[0]) if shapes else 0  # Slice, Reshape, Cast, (Un)squeeze: at most their input

    def _shape_op(self, node, args: list[np.ndarray]) -> np.ndarray:
        op = node.op_type
        try:
            if op in ("Add", "Sub", "Mul", "Div"):
                a, b = args
                if op == "Div" and np.issubdtype(a.dtype, np.integer):
                    return np.trunc(a / b).astype(a.dtype)  # ONNX integer division truncates
                return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b).astype(a.dtype)
            if op == "Mod":
                return (np.fmod if self.attr(node, "fmod", 0) else np.mod)(*args)
            if op == "Reshape":  # 0 copies the size at that position (unless allowzero), -1 is inferred
                t = [a.shape[i] if v == 0 and not self.attr(node, "allowzero", 0) else int(v)
                     for i, v in enumerate(args[1].ravel())]
                return args[0].reshape(t)
            if op == "Slice":
                starts, ends = args[1].ravel(), args[2].ravel()
                axes = args[3].ravel() if len(args) > 3 else range(len(starts))
                steps = args[4].ravel() if len(args) > 4 else [1] * len(starts)
                index = [slice(None)] * args[0].ndim
                for a, b, e, st in zip(axes, starts, ends, steps):
                    index[int(a)] = slice(int(b), int(e), int(st))
                return args[0][tuple(index)]
            if op == "Gather":
                return np.take(args[0], args[1].astype(np.int64), axis=self.attr(node, "axis", 0))
            if op == "Concat":
                return np.concatenate([np.atleast_1d(a) for a in args], axis=self.attr(node, "axis", 0))
            if op == "Cast":
                return args[0].astype(CAST[self.attr(node, "to")])
            axes = [int(a) for a in (args[1].ravel() if len(args) > 1 else self.attr(node, "axes") or [])]
            if op == "Unsqueeze":
                return np.expand_dims(args[0], tuple(a % (args[0].ndim + len(axes)) for a in axes))
            return np.squeeze(args[0], axis=tuple(axes) if axes else None)  # Squeeze
        except (ValueError, IndexError, KeyError, TypeError, np.exceptions.AxisError) as e:
            raise self.fail(node, f"cannot be evaluated ({str(e)[:80]})") from e
