"""Constants of an ONNX graph: initializers turned into arrays on first use, and the shape arithmetic exporters write
around Reshape (Shape, Gather, Unsqueeze, Concat, Slice, Add, ...) evaluated, for vae/onnx_graph.py's Graph.

Only small results are computed (MAX_FOLDED numbers): shapes are short, and weights are never computed here.
"""

from __future__ import annotations

import numpy as np

from vae.onnx_safe import SHAPE_OPS, OnnxError, node_label

FOLDABLE = ("Identity", "Add", "Sub", "Mul", "Div", "Slice", "Reshape")  # evaluated too when all their inputs are constants
MAX_FOLDED = 64  # numbers in a result of shape arithmetic
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
        if op == "Constant":
            value = next((self.attr(node, a.name) for a in node.attribute), None)
            if len(node.attribute) != 1 or node.attribute[0].name not in ("value", "value_float", "value_floats",
                                                                          "value_int", "value_ints"):
                raise self.fail(node, "must hold one numeric tensor")
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
        if op not in ("Constant", "Identity") and out.size > MAX_FOLDED:
            raise self.fail(node, f"computes {out.size} numbers from constants; only shape arithmetic is evaluated")
        self.values[node.output[0]] = out

    def _shape_op(self, node, args: list[np.ndarray]) -> np.ndarray:
        op = node.op_type
        try:
            if op in ("Add", "Sub", "Mul", "Div"):
                a, b = args
                if a.size > MAX_FOLDED or b.size > MAX_FOLDED:
                    raise ValueError("arithmetic on weights")
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
