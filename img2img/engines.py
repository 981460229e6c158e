"""Inference engines: run a frozen network in PyTorch or in ONNX Runtime.

Why two: on a CPU without native bf16 (most laptops, AVX2 servers) ONNX Runtime runs the
very graph ``img2img export`` writes about twice as fast as eager PyTorch in fp32 (it fuses
convolutions with their activations and normalisations and picks better CPU kernels); on
a CPU with native bf16 (AVX512-BF16 / AMX) PyTorch's bf16 autocast is faster for some
networks (ResNet-9: ~2x ONNX Runtime's fp32) and slower for others (UNet-256: ~0.6x), and
on GPUs PyTorch is the engine.

``engine="auto"`` (the default everywhere img2img runs a network for inference):

- **onnxruntime wherever the run would otherwise be fp32 PyTorch on the CPU**: the CPU
  lacks native bf16, or ``precision`` asks for fp32 (FID's Inception and GAN sampling run
  in fp32 by design), decided from what the machine supports;
- on a CPU with native bf16 at ``precision="auto"``: whichever of PyTorch bf16 and ONNX
  Runtime fp32 ran the network faster in a one-off measurement (best of three runs each on
  a probe input, about a second), cached per network and machine (CPU model, core and
  thread counts) in ``$IMG2IMG_CACHE/engine-choices.json`` unless the machine was
  busy with other work then (see :func:`measured_choice`);
- PyTorch on GPUs.

When the ``onnxruntime`` package cannot be imported (a platform without its wheels),
``auto`` falls back to PyTorch, as it does (with a warning) for a network the exporter
cannot trace; asking for ``engine="onnxruntime"`` there is an error that says what to
install. ONNX Runtime runs on the CPU only here (its CUDA build is not a dependency).

The first use of a network exports it to ONNX (a few seconds) into
``$IMG2IMG_CACHE/onnx`` (default ``~/.cache/img2img/onnx``), keyed by a hash of its
weights and structure, the inputs' shapes (dynamic axes left out), the opset and the
torch, onnx and onnxruntime versions: later runs, in any process, load the file. Files are
written atomically, so concurrent first runs do not corrupt each other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.precision import autocast, autocast_dtype

ENGINES = ("auto", "torch", "onnxruntime")
OPSET = 17
# Bump when the exported graph changes for the same network (export options), so that
# cached graphs are rebuilt.
GRAPH_VERSION = 1


def cache_root() -> Path:
    """``$IMG2IMG_CACHE``, else ``$XDG_CACHE_HOME/img2img`` or ``~/.cache/img2img``."""
    root = os.environ.get("IMG2IMG_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "img2img"


def import_onnxruntime() -> Any:
    """``onnxruntime``, with its telemetry off unless the user set ``ORT_DISABLE_TELEMETRY``
    (recent wheels start a telemetry session at import, leaving a ``.ses`` file in the
    temporary folder; img2img sends nothing anywhere)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` (and the ``onnx`` package torch's exporter needs) import."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def resolve_engine(engine: str, device: torch.device, precision: str = "auto") -> str:
    """``"torch"`` or ``"onnxruntime"`` for ``engine`` on ``device`` at ``precision``, as
    far as the machine decides it (see the module docstring): ``auto`` on a CPU with native
    bf16 gives "torch" here, and :func:`compile_network` measures whether ONNX Runtime is
    faster still."""
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "onnxruntime":
        if device.type != "cpu":
            raise ValueError(
                f"engine='onnxruntime' runs on the CPU; use device='cpu' or engine='torch' "
                f"on {device}"
            )
        if precision in ("bf16", "fp16"):  # "auto" means fp32 here: ONNX Runtime's precision
            raise ValueError(
                f"engine='onnxruntime' runs in fp32; precision={precision!r} needs engine='torch'"
            )
        if not onnxruntime_available():
            raise ImportError("engine='onnxruntime' needs: pip install onnxruntime onnx")
        return engine
    if engine == "torch":
        return engine
    fp32_cpu = device.type == "cpu" and autocast_dtype(precision, device) is None
    return "onnxruntime" if fp32_cpu and onnxruntime_available() else "torch"


def graph_key(network: nn.Module, example: Sequence[Tensor], dynamic: dict[int, str]) -> str:
    """A digest naming the exported graph of ``network`` for inputs like ``example``: its
    weights and buffers, its structure (``repr``, which tells e.g. per-image from running
    batch norm apart), the inputs' dtypes and fixed sizes, and the library versions."""
    import onnx

    onnxruntime = import_onnxruntime()
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(str((tensor.dtype, tuple(tensor.shape))).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    shapes = [
        (str(x.dtype), [None if axis in dynamic else size for axis, size in enumerate(x.shape)])
        for x in example
    ]
    versions = (torch.__version__, onnx.__version__, onnxruntime.__version__)
    digest.update(repr((repr(network), shapes, versions, OPSET, GRAPH_VERSION)).encode())
    # The forward code too: a graph exported before a fix to a network's code must not
    # outlive the fix in the user's cache.
    for kind in sorted({type(m) for m in network.modules()}, key=lambda k: k.__qualname__):
        digest.update(module_source(kind).encode())
    return digest.hexdigest()[:32]


def module_source(kind: type) -> str:
    """The source of a module class (its qualified name where the source is unavailable)."""
    try:
        return inspect.getsource(kind)
    except (OSError, TypeError):
        return f"{kind.__module__}.{kind.__qualname__}"


def export_onnx(
    network: nn.Module,
    example: Sequence[Tensor],
    path: str | os.PathLike,
    input_names: Sequence[str],
    output_name: str = "output",
    dynamic: dict[int, str] | None = None,
    opset: int = OPSET,
) -> Path:
    """Write ``network`` (traced on ``example``) as ONNX to ``path``. ``dynamic``: the axes
    left free in every input and the output (default: batch, height and width)."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx") from None
    dynamic = {0: "batch", 2: "height", 3: "width"} if dynamic is None else dynamic
    axes = {name: {a: n for a, n in dynamic.items() if a < x.ndim}
            for name, x in zip(input_names, example, strict=True)}  # fmt: skip
    axes[output_name] = dynamic
    with warnings.catch_warnings(), torch.no_grad():
        # Known and harmless here: tracer notes on the networks' input-shape checks (traced
        # as constants), torch's deprecation note on the TorchScript-based ONNX exporter
        # (which, unlike the dynamo exporter, takes the U-Net's dynamic height and width as
        # they are), and constant-folding notes.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            tuple(example),
            str(path),
            dynamo=False,
            input_names=list(input_names),
            output_names=[output_name],
            dynamic_axes=axes,
            opset_version=opset,
        )
    return Path(path)


def cached_graph(
    network: nn.Module,
    example: Sequence[Tensor],
    input_names: Sequence[str],
    dynamic: dict[int, str] | None = None,
) -> Path:
    """The ONNX file of ``network`` in the cache, exported now if it is not there yet."""
    dynamic = {0: "batch", 2: "height", 3: "width"} if dynamic is None else dynamic
    path = cache_root() / "onnx" / f"{graph_key(network, example, dynamic)}.onnx"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    export_onnx(network, example, temporary, input_names, dynamic=dynamic)
    os.replace(temporary, path)
    return path


class OnnxRuntimeNetwork:
    """Calls like ``network(*inputs)`` -> Tensor, computed by an ONNX Runtime session on the
    CPU. ``example``: inputs of the kind it will be called with (dtypes, ranks and the
    sizes of the axes not in ``dynamic``)."""

    def __init__(
        self,
        network: nn.Module,
        example: Sequence[Tensor],
        input_names: Sequence[str] = ("image",),
        dynamic: dict[int, str] | None = None,
        threads: int = 0,
    ) -> None:
        onnxruntime = import_onnxruntime()
        self.path = cached_graph(network, example, input_names, dynamic)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3  # warnings about unused initializers etc.: noise here
        self.session = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = list(input_names)

    def __call__(self, *inputs: Tensor) -> Tensor:
        feeds = {
            name: x.detach().cpu().contiguous().numpy()
            for name, x in zip(self.input_names, inputs, strict=True)
        }
        return torch.from_numpy(self.session.run(None, feeds)[0])


class TorchNetwork:
    """Calls ``network(*inputs)`` on ``device`` under autocast to ``dtype`` (None: fp32),
    returning a float32 CPU tensor, so that both engines give the same kind of result."""

    def __init__(self, network: nn.Module, device: torch.device, dtype: torch.dtype | None):
        self.network = network.to(device)
        self.device = device
        self.dtype = dtype

    @torch.inference_mode()
    def __call__(self, *inputs: Tensor) -> Tensor:
        with autocast(self.device, self.dtype):
            output = self.network(*(x.to(self.device) for x in inputs))
        return output.float().cpu()


def machine_id() -> str:
    """The CPU model, its core count and torch's threads: what an engine's speed depends on."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if "model name" in line),
                         model)  # fmt: skip
    except OSError:
        pass
    return f"{model}|{os.cpu_count()} cores|{torch.get_num_threads()} threads"


def timed_in_blocks(
    candidates: dict[str, Callable[..., Tensor]], probe: Sequence[Tensor], rounds: int = 3
) -> dict[str, float]:
    """Seconds per call of each candidate on ``probe``: a warm-up call, then the best of
    ``rounds``, one candidate after the other. Not in turns: ONNX Runtime's threads spin
    for a moment after each run, and a PyTorch call right after one took 2.5x its time
    (CycleGAN's ResNet-9 at 256 px, 2 cores); each block's warm-up call absorbs that."""
    seconds = {}
    for name, network in candidates.items():
        network(*probe)
        best = math.inf
        for _ in range(rounds):
            start = time.perf_counter()
            network(*probe)
            best = min(best, time.perf_counter() - start)
        seconds[name] = best
    return seconds


def machine_busy() -> bool:
    """Whether other work keeps the CPU's cores busy (1-minute load average above the core
    count): timings taken then say more about that work than about the engines."""
    return hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1)


def measured_choice(
    candidates: dict[str, Callable[..., Tensor]], probe: Sequence[Tensor], key: str
) -> str:
    """The name of the fastest of ``candidates`` on ``probe``, measured once per ``key`` and
    machine and remembered, with the timings, in ``engine-choices.json`` in the cache.

    A choice measured while the machine is busy serves this process only (the next one
    measures again): remembered, a choice made under someone else's load would slow every
    later run of the model. Entries without timings (older versions wrote the name alone,
    whatever the load) are measured again for the same reason."""
    path = cache_root() / "engine-choices.json"
    entry = f"{key}|{[tuple(x.shape) for x in probe]}|{machine_id()}"

    def read() -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}  # absent or damaged: measured again

    remembered = read().get(entry)
    if isinstance(remembered, dict) and remembered.get("engine") in candidates:
        return remembered["engine"]
    seconds = timed_in_blocks(candidates, probe)
    chosen = min(seconds, key=seconds.__getitem__)
    if machine_busy():
        return chosen
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    record = {"engine": chosen, "seconds": {name: round(t, 6) for name, t in seconds.items()}}
    temporary.write_text(json.dumps({**read(), entry: record}, indent=1))
    os.replace(temporary, path)
    return chosen


def compile_network(
    network: nn.Module,
    example: Sequence[Tensor],
    engine: str = "auto",
    device: torch.device | str = "cpu",
    precision: str = "auto",
    input_names: Sequence[str] = ("image",),
    dynamic: dict[int, str] | None = None,
    probe: Sequence[Tensor] | None = None,
) -> TorchNetwork | OnnxRuntimeNetwork:
    """``network`` (in eval mode, frozen) as a callable on the chosen engine (see the module
    docstring); ``example``, ``input_names`` and ``dynamic`` describe its inputs for the
    ONNX export; ``probe`` (default ``example``): inputs of a typical size, to time the
    engines on where ``auto`` measures."""
    device = torch.device(device)
    chosen = resolve_engine(engine, device, precision)
    torch_network = TorchNetwork(network, device, autocast_dtype(precision, device))
    measure = engine == "auto" and device.type == "cpu" and precision == "auto"
    if chosen == "torch" and not (measure and onnxruntime_available()):
        return torch_network
    try:
        fast = OnnxRuntimeNetwork(network.cpu(), example, input_names, dynamic)
    except Exception as err:  # the exporter's and ONNX Runtime's errors have no common type
        if engine != "auto":
            raise
        reason = f"onnxruntime cannot run {type(network).__name__} ({err}); using PyTorch"
        warnings.warn(reason, stacklevel=2)
        return torch_network
    if chosen == "onnxruntime":
        return fast
    candidates = {"torch": torch_network, "onnxruntime": fast}
    winner = measured_choice(candidates, probe or example, fast.path.stem)
    return candidates[winner]
