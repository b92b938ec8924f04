"""A fake `onnxruntime` module: records what the runtimes ask of ORT, so the CUDA, TensorRT and
XNNPACK code paths are tested on machines whose ORT build has none of them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class FakeSessionOptions:
    def __init__(self):
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.execution_mode = None
        self.config: dict[str, str] = {}

    def add_session_config_entry(self, key, value):
        self.config[key] = value


class FakeOrtValue:
    created: list = []

    def __init__(self, arr, device, device_id):
        self.arr, self.device, self.device_id = arr, device, device_id

    @classmethod
    def ortvalue_from_numpy(cls, arr, device="cpu", device_id=0):
        v = cls(np.array(arr), device, device_id)
        cls.created.append(v)
        return v


class FakeBinding:
    def __init__(self, sess):
        self.sess = sess
        self.inputs: dict = {}
        self.outputs: dict = {}
        self.synced = 0

    def bind_ortvalue_input(self, name, value):
        self.inputs[name] = value

    def bind_output(self, name, device_type="cpu", device_id=0):
        self.outputs[name] = (device_type, device_id)

    def synchronize_outputs(self):
        self.synced += 1

    def copy_outputs_to_cpu(self):
        return [self.sess.last]


class FakeSession:
    def __init__(self, ort, path, opts, providers, provider_options=None):
        self.ort, self.path, self.opts = ort, path, opts
        self.requested = list(providers)
        self.provider_options = provider_options
        self.runs: list = []
        self.binding_runs = 0
        self.last = None
        ort.sessions.append(self)

    def get_providers(self):
        if self.ort.fall_back:
            return ["CPUExecutionProvider"]
        return [p for p in self.requested if p in self.ort.available]

    def get_session_options(self):
        return self.opts

    def get_inputs(self):
        return [SimpleNamespace(name=n) for n in self.ort.input_names]

    def get_outputs(self):
        return [SimpleNamespace(name="output")]

    def _compute(self, feeds):
        x = next(iter(feeds.values()))
        self.last = np.full((1, 4), float(np.sum(x)), dtype=np.float32)
        return [self.last]

    def run(self, names, feeds):
        self.runs.append({k: type(v).__name__ for k, v in feeds.items()})
        return self._compute(feeds)

    def io_binding(self):
        self.binding = FakeBinding(self)
        return self.binding

    def run_with_iobinding(self, binding):
        self.binding_runs += 1
        self._compute({k: v.arr for k, v in binding.inputs.items()})


class FakeOrt:
    """Stands in for the `onnxruntime` module."""

    def __init__(self, available=("CPUExecutionProvider",), input_names=("x",), fall_back=False):
        self.available = list(available)
        self.input_names = list(input_names)
        self.fall_back = fall_back
        self.sessions: list[FakeSession] = []
        self.SessionOptions = FakeSessionOptions
        self.ExecutionMode = SimpleNamespace(ORT_SEQUENTIAL="sequential")
        FakeOrtValue.created = []
        self.OrtValue = FakeOrtValue

    def get_available_providers(self):
        return list(self.available)

    def InferenceSession(self, path, opts, providers, provider_options=None):  # noqa: N802 (ORT's name)
        return FakeSession(self, path, opts, providers, provider_options)
