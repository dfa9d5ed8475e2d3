"""`Module` and `Parameter`: the containers that give a model named, savable parameters.

A module finds its parameters and submodules by looking at its attributes in the order they
were assigned (Python keeps that order), so `named_parameters()` and `state_dict()` are
deterministic and match PyTorch's names ("layers.0.weight") for the same structure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

from gfxnn.tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module owns and an optimizer updates (requires_grad defaults to True)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


class Buffer(Tensor):
    """A tensor that a Module saves in its state_dict but no optimizer updates, such as
    BatchNorm's running statistics (requires_grad is always False)."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=False, dtype=dtype)

    def __repr__(self) -> str:
        return "Buffer" + super().__repr__()[len("Tensor") :]


T = TypeVar("T", Parameter, Buffer)


class Module:
    """Base class of every layer and model: subclasses set attributes and define `forward`."""

    training: bool

    def __init__(self) -> None:
        self.training = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----- structure ----------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_tensors(self, kind: type[T], prefix: str) -> Iterator[tuple[str, T]]:
        """Every attribute of type `kind` in this module tree with its dotted name, in
        assignment order, each yielded once (a tensor shared by two layers counts once)."""
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, value in vars(module).items():
                if isinstance(value, kind) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, in assignment order, each yielded once."""
        return self._named_tensors(Parameter, prefix)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Buffer]]:
        """Every buffer with its dotted name, in assignment order, each yielded once."""
        return self._named_tensors(Buffer, prefix)

    def buffers(self) -> list[Buffer]:
        return [b for _, b in self.named_buffers()]

    # ----- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's and then every buffer's array, keyed by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update((name, b.data.copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays from `state` into the parameters and buffers of the same name and shape.

        All entries are checked before any is copied, so a refused state dict leaves the
        module exactly as it was.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "load_state_dict expects a dict of arrays keyed by parameter name (what "
                f"state_dict() returns), got {type(state).__name__}"
            )
        own: dict[str, Tensor] = dict(self.named_parameters())
        own.update(self.named_buffers())
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(map(str, set(state) - set(own)))
            if missing or unexpected:
                raise ValueError(
                    f"state dict does not match the model: missing {missing}, "
                    f"unexpected {unexpected}"
                )
        arrays = {}
        for name, value in state.items():
            if name not in own:
                continue
            array = np.asarray(value)
            if array.shape != own[name].shape:
                raise ValueError(
                    f"state dict entry {name!r} has shape {array.shape}, "
                    f"the model's parameter has shape {own[name].shape}"
                )
            if array.dtype.kind not in "biuf":
                raise TypeError(f"state dict entry {name!r} holds {array.dtype}, not numbers")
            arrays[name] = array.astype(own[name].dtype, copy=True)
        for name, array in arrays.items():
            own[name].data = array

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class ModuleList(Module):
    """An indexable list of modules whose parameters are named "0.weight", "1.weight", ..."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self._length = 0
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        setattr(self, str(self._length), module)
        self._length += 1

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> Module:
        if not -self._length <= index < self._length:
            raise IndexError(f"index {index} is out of range for {self._length} modules")
        module: Module = getattr(self, str(index % self._length))
        return module

    def __iter__(self) -> Iterator[Module]:
        return (self[i] for i in range(self._length))


class Sequential(ModuleList):
    """Modules applied one after another."""

    def __init__(self, *modules: Module) -> None:
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x
