"""Render a Program as an ONNX model (needs the `onnx` package: `pip install gfxnn[export]`).

The model has one float32 input "uv" (batch, n_inputs) and one output "output"
(batch, n_outputs); the batch size is free. Weights are initializers named like the
checkpoint's tensors ("layers.0.weight", ...). Opset 17, IR version 8, so that ONNX Runtime
1.14 and later and most other runtimes load it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.export.ir import Program

__all__ = ["OPSET", "OnnxGraph", "render_onnx"]

OPSET = 17
IR_VERSION = 8


class OnnxGraph:
    """Collects ONNX nodes and initializers; nodes call it to emit themselves."""

    def __init__(self) -> None:
        import onnx.helper
        import onnx.numpy_helper

        self._helper = onnx.helper
        self._numpy_helper = onnx.numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()

    def _unique(self, base: str) -> str:
        name, n = base, 1
        while name in self._names:
            name, n = f"{base}_{n}", n + 1
        self._names.add(name)
        return name

    def constant(self, name: str, value: np.ndarray | np.generic) -> str:
        """An initializer holding `value` (float32 or int64); returns its unique name."""
        array = np.asarray(value)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
        unique = self._unique(name)
        self.initializers.append(self._numpy_helper.from_array(array, unique))
        return unique

    def node(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """Append an `op_type` node; returns the name of its single output."""
        output = self._unique(op_type.lower())
        self.nodes.append(
            self._helper.make_node(op_type, inputs, [output], name=output, **attributes)
        )
        return output


def render_onnx(program: Program, name: str) -> bytes:
    """The serialized ONNX ModelProto computing `program`; graph named `name`."""
    import onnx

    graph = OnnxGraph()
    value = "uv"
    graph._names.add(value)
    for node in program.nodes:
        value = node.emit_onnx(graph, value)
    graph.nodes.append(onnx.helper.make_node("Identity", [value], ["output"], name="output"))
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            graph.nodes,
            name,
            [_tensor_info("uv", program.n_inputs)],
            [_tensor_info("output", program.n_outputs)],
            graph.initializers,
            doc_string=program.describe(),
        ),
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="gfxnn",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    return data


def _tensor_info(name: str, width: int) -> Any:
    import onnx

    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", width])
