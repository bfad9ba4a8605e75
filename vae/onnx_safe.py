"""Hostile ONNX is normal input: checks on a file's bytes and parsed structure before any tensor is built.

The file is parsed from bytes only (never `onnx.load(path)`, which follows external-data paths), with onnx 1.21 or
later (earlier versions have path-traversal CVEs), once vae/onnx_wire.py has counted the attribute lists on the raw
bytes (parsing alone inflates a list of ints eightfold). Then, before a single weight is turned into an array: no tensor
may keep its data outside the file, the default domain only, a known op list, no subgraphs or functions, and the
file size, node count, declared weight count (initializers and every attribute's tensors and lists) and opset
within the quotas in vae/settings.py.
"""

from __future__ import annotations

import math

from vae.errors import VaeError
from vae import settings

MIN_ONNX = (1, 21)
# ops the translator reads (vae/onnx_graph.py): the layers, then the shape arithmetic exporters emit around Reshape
LAYER_OPS = ("Gemm", "MatMul", "Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
             "Elu", "Add", "Sub", "Mul", "Div", "Flatten", "Reshape", "Identity", "Split", "Slice")
SHAPE_OPS = ("Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Mod")
OPS = LAYER_OPS + SHAPE_OPS
DEFAULT_DOMAINS = ("", "ai.onnx")
# element types a weight or a shape constant may have, with their sizes in bytes
DTYPES = {1: ("float32", 4), 11: ("float64", 8), 10: ("float16", 2), 7: ("int64", 8), 6: ("int32", 4)}
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class OnnxError(VaeError, ValueError):
    """An ONNX file that is refused; the message names the file and, where there is one, the node and its op."""


def _onnx():
    import onnx

    version = tuple(int(p) for p in onnx.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_ONNX:
        raise OnnxError(f"onnx {onnx.__version__} is installed; importing needs onnx >= 1.21 (older versions have "
                        "path-traversal CVEs): pip install 'onnx>=1.21'")
    return onnx


def parse(blob: bytes, what: str):
    """The checked ModelProto of an ONNX file's bytes; OnnxError with a one-line reason otherwise."""
    limit = settings.ONNX_FILE.value()
    if len(blob) == 0:
        raise OnnxError(f"{what}: file is empty")
    if len(blob) > limit:
        raise OnnxError(f"{what}: file is {len(blob) / 1024**2:.1f} MB, above the {settings.ONNX_FILE.shown()} limit "
                        f"(set {settings.ONNX_FILE.env} to change it)")
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    from vae.onnx_wire import list_problem

    problem = list_problem(blob, what)  # before the parse, which alone turns a 63 MB list of ints into 1 GB
    if problem:
        raise OnnxError(problem)

    model = onnx.ModelProto()
    try:
        model.ParseFromString(bytes(blob))
    except (DecodeError, RuntimeError, ValueError) as e:
        raise OnnxError(f"{what}: not an ONNX model, or the file is truncated ({str(e)[:80]})") from e
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise OnnxError(f"{what}: not an ONNX model, or the file is truncated (it holds no graph)")
    _check_opset(model, what)
    _check_graph(model.graph, what)
    return model


def _check_opset(model, what: str) -> None:
    if len(model.functions):
        raise OnnxError(f"{what}: the model defines functions ({model.functions[0].name[:40]!r}); only plain graphs "
                        "of the default ONNX ops are imported")
    versions = {}
    for imp in model.opset_import:
        if imp.domain not in DEFAULT_DOMAINS:
            raise OnnxError(f"{what}: the model imports operator domain {imp.domain[:40]!r}; only the default ONNX "
                            "domain is supported")
        versions[imp.domain] = imp.version
    lo, hi = settings.ONNX_OPSET_MIN.value(), settings.ONNX_OPSET_MAX.value()
    version = versions.get("", versions.get("ai.onnx"))
    if version is None or not lo <= version <= hi:
        raise OnnxError(f"{what}: opset {version} is outside the supported range {lo}..{hi} (export with "
                        f"opset_version between {lo} and {hi})")


def _check_graph(graph, what: str) -> None:
    n_nodes = len(graph.node)
    if n_nodes > settings.ONNX_NODES.value():
        raise OnnxError(f"{what}: {n_nodes:,} nodes, above the {settings.ONNX_NODES.shown()} limit (set "
                        f"{settings.ONNX_NODES.env} to change it)")
    if len(graph.sparse_initializer):
        raise OnnxError(f"{what}: sparse initializers are not supported")
    declared = 0
    for t in graph.initializer:
        declared += _check_tensor(t, what, f"initializer {t.name[:60]!r}")
    for node in graph.node:
        where = f"{what}: {node_label(node)}"
        if node.domain not in DEFAULT_DOMAINS:
            raise OnnxError(f"{where} is in domain {node.domain[:40]!r}; only the default ONNX domain is supported")
        if node.op_type not in OPS:
            raise OnnxError(f"{where} is not supported; the supported ops are {', '.join(LAYER_OPS)} (and "
                            f"{', '.join(SHAPE_OPS)} for shapes)")
        for a in node.attribute:
            if a.g.ByteSize() or len(a.graphs):
                raise OnnxError(f"{where} has a subgraph attribute {a.name[:40]!r}; subgraphs are not supported")
            if a.sparse_tensor.ByteSize() or len(a.sparse_tensors):
                raise OnnxError(f"{where} has a sparse tensor attribute; not supported")
            for t in [a.t] * a.HasField("t") + list(a.tensors):
                declared += _check_tensor(t, what, f"{where} attribute {a.name[:40]!r}")
            declared += _check_list(a, where)
    if declared > settings.ONNX_WEIGHTS.value():
        raise OnnxError(f"{what}: its tensors declare {declared:,} numbers, above the {settings.ONNX_WEIGHTS.shown()} "
                        f"limit (set {settings.ONNX_WEIGHTS.env} to change it)")


def _check_list(a, where: str) -> int:
    """The numbers (or strings) a node attribute lists, such as a Constant's value_ints: short shape lists only, since
    onnx turns each one into Python objects (15M ints: 30 MB of file, 500 MB of memory)."""
    n = len(a.ints) + len(a.floats) + len(a.strings)
    if n > settings.ONNX_FOLDED.value():
        raise OnnxError(f"{where} attribute {a.name[:40]!r} lists {n:,} values, above the "
                        f"{settings.ONNX_FOLDED.shown()} limit on an attribute's list (set {settings.ONNX_FOLDED.env} "
                        "to change it)")
    return n


def node_label(node) -> str:
    """How messages name a node: its name (or first output) and its op."""
    name = node.name or (node.output[0] if len(node.output) else "") or "?"
    return f"node {name[:60]!r} (op {node.op_type[:40]})"


def _check_tensor(t, what: str, where: str) -> int:
    """The number of elements a tensor declares, once its data is known to lie inside the file and match."""
    if t.data_location == EXTERNAL or len(t.external_data):
        raise OnnxError(f"{what}: {where} keeps its data in an external file; external data is refused (no path "
                        "named in an uploaded file is ever opened): export with the weights inside the file")
    if t.data_type not in DTYPES:
        raise OnnxError(f"{what}: {where} has element type {t.data_type}; weights must be float32, float64 or "
                        "float16, and shape constants int64 or int32")
    dims = list(t.dims)
    if len(dims) > 6 or any(d < 0 for d in dims):
        raise OnnxError(f"{what}: {where} has an invalid shape")
    n = math.prod(dims)
    if n > settings.ONNX_WEIGHTS.value():  # before anything multiplies by it: a declared 2 GB tensor stops here
        raise OnnxError(f"{what}: {where} declares {n:,} numbers, above the {settings.ONNX_WEIGHTS.shown()} limit "
                        f"(set {settings.ONNX_WEIGHTS.env} to change it)")
    name, size = DTYPES[t.data_type]
    if t.HasField("raw_data"):
        have = len(t.raw_data) // size if len(t.raw_data) % size == 0 else -1
    else:  # typed fields: float16 sits in int32_data, float64 in double_data, int64 in int64_data
        field = {"float32": t.float_data, "float64": t.double_data, "int64": t.int64_data}.get(name, t.int32_data)
        have = len(field)
    if have != n:
        raise OnnxError(f"{what}: {where} declares {n:,} numbers but holds {max(have, 0):,} (a truncated or "
                        "altered file)")
    return n
