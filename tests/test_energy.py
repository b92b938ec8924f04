"""Energy: RAPL on a fake powercap tree (with wraparound), NVML against a fake module, the proxies."""

import time
from pathlib import Path

import pytest
import yaml

from bench.measure import energy, nvml
from bench.measure.cell_metrics import CellProbe
from bench.measure.nvml import NvmlProbe, decode_throttle, gpu_throttled


def make_zone(root: Path, zone: str, name: str, uj: int, max_uj: int) -> Path:
    d = root / zone
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


@pytest.fixture
def powercap(tmp_path):
    root = tmp_path / "powercap"
    make_zone(root, "intel-rapl:0", "package-0", 1_000, 10_000_000)
    make_zone(root, "intel-rapl:0:0", "core", 500, 10_000_000)  # inside the package: not added again
    make_zone(root, "intel-rapl:0:1", "dram", 9_999_000, 10_000_000)
    unreadable = root / "intel-rapl:1"
    unreadable.mkdir()
    (unreadable / "name").write_text("package-1\n")
    (unreadable / "max_energy_range_uj").write_text("10000000\n")
    (unreadable / "energy_uj").mkdir()  # reading it fails, as a root-only file does for a user
    return root


def test_find_rapl_keeps_readable_package_and_dram(powercap):
    names = [d.name for d in energy.find_rapl(powercap)]
    assert names == ["intel-rapl:0/package-0", "intel-rapl:0:1/dram"]
    assert energy.find_rapl(powercap / "absent") == []


def test_rapl_wraparound():
    assert energy.rapl_delta_uj(100, 350, 1000) == 250
    assert energy.rapl_delta_uj(900, 50, 1000) == 150  # wrapped: 100 to the top, then 50
    assert energy.rapl_delta_uj(5, 5, 1000) == 0


def test_rapl_meter_sums_domains_across_a_wrap(powercap):
    meter = energy.counter_meter("cpu", powercap_root=powercap)
    assert isinstance(meter, energy.RaplMeter) and meter.source == "rapl"
    meter.start()
    (powercap / "intel-rapl:0" / "energy_uj").write_text("3001000\n")  # +3.0 J
    (powercap / "intel-rapl:0:1" / "energy_uj").write_text("499000\n")  # wrapped: +1000 + 499000 uJ = 0.5 J
    joules, seconds = meter.stop()
    assert joules == pytest.approx(3.5)
    assert seconds >= 0


def test_no_counter_without_rapl(tmp_path):
    assert energy.counter_meter("cpu", powercap_root=tmp_path) is None
    assert energy.counter_meter("cuda", probe=None) is None


def test_analytic_energy_uses_cited_constants():
    c = energy.constants()
    assert "Horowitz" in c["source"] and "ISSCC 2014" in c["source"]
    assert all("derivation" in v for v in c["pj_per_mac"].values())
    assert energy.analytic_energy_j(10**9, 10**6, "fp32") == pytest.approx(4.6e-3 + 1.625e-4)
    assert energy.analytic_energy_j(10**9, 0, "int8") == pytest.approx(0.3e-3)
    assert energy.analytic_energy_j(None, 10, "fp32") is None
    assert energy.precision_dtype("int8-dynamic") == "int8"
    assert energy.precision_dtype(None) == "fp32"
    # The data file parses as plain YAML and carries a figure for every dtype a peak table uses.
    data = yaml.safe_load(energy.CONSTANTS.read_text())
    assert {"fp32", "fp16", "bf16", "int8"} <= set(data["pj_per_mac"])


def test_energy_fields_choose_the_best_source_and_label_it():
    f = energy.energy_fields(counter_j_per_call=0.2, counter_source="rapl", analytic_j=0.05, tdp_j=1.0,
                             items=128, item_unit="token")
    assert f["energy_source"] == "rapl" and f["energy_j_per_inference"] == 0.2
    assert f["energy_j_per_item"] == pytest.approx(0.2 / 128)
    assert f["energy_analytic_j_per_inference"] == 0.05 and f["energy_tdp_j_per_inference"] == 1.0
    f = energy.energy_fields(counter_j_per_call=None, counter_source=None, analytic_j=0.05, tdp_j=1.0,
                             items=4, item_unit="image")
    assert f["energy_source"] == "analytic-model" and f["energy_j_per_item"] == pytest.approx(0.0125)
    f = energy.energy_fields(counter_j_per_call=None, counter_source=None, analytic_j=None, tdp_j=1.0,
                             items=1, item_unit="image")
    assert f["energy_source"] == "tdp-x-time"
    from bench.modality import MODALITIES
    from bench.zoo.base import Workload

    assert MODALITIES.get("text").items(Workload(2, seq_len=128)) == (256, "token")
    assert MODALITIES.get("vision").items(Workload(8, image_size=224)) == (8, "image")
    assert energy.tdp_energy_j(70, 0.01) == pytest.approx(0.7)


# NVML ---------------------------------------------------------------------------------------------
class FakeNvmlError(Exception):
    pass


class FakeNvml:
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, throttle=0x0, energy_supported=True):
        self.energy_mj = 1_000_000
        self.throttle = throttle
        self.energy_supported = energy_supported
        self.inited = False

    def nvmlInit(self):  # noqa: N802 (pynvml's names)
        self.inited = True

    def nvmlDeviceGetHandleByIndex(self, i):  # noqa: N802
        return ("gpu", i)

    def nvmlDeviceGetHandleByUUID(self, uuid):  # noqa: N802
        return ("gpu", uuid)

    def nvmlDeviceGetUUID(self, h):  # noqa: N802
        return f"GPU-fake-{h[1]}".encode()

    def nvmlDeviceGetName(self, h):  # noqa: N802
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):  # noqa: N802
        if not self.energy_supported:
            raise FakeNvmlError("Not Supported")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, h):  # noqa: N802
        return 65_000

    def nvmlDeviceGetMemoryInfo(self, h):  # noqa: N802
        return type("Mem", (), {"used": 3 * 2**30, "total": 80 * 2**30})()

    def nvmlDeviceGetClockInfo(self, h, kind):  # noqa: N802
        return {1: 1980, 2: 2619}[kind]

    def nvmlDeviceGetTemperature(self, h, sensor):  # noqa: N802
        return 41

    def nvmlDeviceGetEnforcedPowerLimit(self, h):  # noqa: N802
        return 700_000

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h):  # noqa: N802
        return self.throttle


def test_nvml_state_reads_clocks_temperature_limit_and_reasons():
    fake = FakeNvml(throttle=0x1)
    probe = NvmlProbe.open(nvml=fake)
    assert fake.inited and probe.name() == "NVIDIA H100 80GB HBM3"
    s = probe.state()
    assert s["sm_clock_mhz"] == 1980 and s["mem_clock_mhz"] == 2619 and s["temperature_c"] == 41
    assert s["power_limit_w"] == 700 and s["power_w"] == 65
    assert s["throttle_reasons"] == ["gpu_idle"] and s["throttled"] is False  # idle is not throttling
    assert probe.used_bytes() == 3 * 2**30
    assert probe.energy_j() == 1000.0


def test_nvml_reads_the_gpu_that_is_cuda_0_not_nvml_device_0(monkeypatch):
    """On a runner that hands the job GPU 2, NVML's device 0 is another job's GPU."""
    from bench.executor import child_env
    from bench.measure.nvml import cuda_device_selector

    assert cuda_device_selector({}) == ("index", 0)
    assert cuda_device_selector({"CUDA_VISIBLE_DEVICES": "2,3"}) == ("index", 2)
    assert cuda_device_selector({"CUDA_VISIBLE_DEVICES": " GPU-8f2a-01 ,GPU-77"}) == ("uuid", "GPU-8f2a-01")
    assert cuda_device_selector({"CUDA_VISIBLE_DEVICES": "MIG-3c1d"}) == ("uuid", "MIG-3c1d")
    probe = NvmlProbe.open(nvml=FakeNvml(), env={"CUDA_VISIBLE_DEVICES": "2"})
    assert probe.handle == ("gpu", 2) and probe.state()["nvml_device"] == "index 2"
    assert probe.state()["uuid"] == "GPU-fake-2"
    by_uuid = NvmlProbe.open(nvml=FakeNvml(), env={"CUDA_VISIBLE_DEVICES": "GPU-8f2a-01"})
    assert by_uuid.handle == ("gpu", "GPU-8f2a-01") and by_uuid.state()["nvml_device"] == "uuid GPU-8f2a-01"
    # an index means the same GPU in CUDA and NVML only in PCI bus order: cells get that order
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert child_env(1, Path("/tmp"))["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_the_manifest_names_the_gpus_and_the_one_the_cells_use():
    from bench.measure.env import gpu_inventory

    class TwoGpus(FakeNvml):
        def nvmlDeviceGetCount(self):  # noqa: N802
            return 2

        def nvmlDeviceGetName(self, h):  # noqa: N802
            return [b"NVIDIA H100 80GB HBM3", b"NVIDIA H200"][h[1]]

        def nvmlSystemGetDriverVersion(self):  # noqa: N802
            return b"580.159.04"

    inv = gpu_inventory(nvml=TwoGpus(), env={"CUDA_VISIBLE_DEVICES": "1"})
    assert [g["name"] for g in inv["gpus"]] == ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    assert inv["gpu"] == "NVIDIA H200" and inv["gpu_uuid"] == "GPU-fake-1" and inv["gpu_selected_by"] == "index 1"
    assert inv["nvidia_driver"] == "580.159.04" and inv["gpus"][0]["memory_bytes"] == 80 * 2**30
    assert gpu_inventory(nvml=TwoGpus(), env={})["gpu"] == "NVIDIA H100 80GB HBM3"

    class NoDriver:
        def nvmlInit(self):  # noqa: N802
            raise FakeNvmlError("Driver Not Loaded")

    assert gpu_inventory(nvml=NoDriver(), env={}) == {}


def test_throttle_decoding_marks_thermal_and_power_caps():
    assert decode_throttle(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    hot = NvmlProbe.open(nvml=FakeNvml(throttle=0x20)).state()
    assert hot["throttled"] is True
    assert gpu_throttled({"throttled": False}, hot) is True
    assert gpu_throttled({"throttled": False}, {"throttled": False}) is False
    assert gpu_throttled(None, {"throttled": None}) is None


def test_nvml_without_energy_counter_has_no_meter():
    probe = NvmlProbe.open(nvml=FakeNvml(energy_supported=False))
    assert probe.energy_j() is None
    assert energy.counter_meter("cuda", probe) is None


def test_nvml_open_fails_soft():
    class Broken:
        def nvmlInit(self):  # noqa: N802
            raise FakeNvmlError("Driver Not Loaded")

    assert NvmlProbe.open(nvml=Broken()) is None


def test_nvml_meter_subtracts_idle_power():
    fake = FakeNvml()
    probe = NvmlProbe.open(nvml=fake)
    meter = energy.counter_meter("cuda", probe, idle_w=0.0)
    assert meter.source == "nvml-counter"
    meter.start()
    fake.energy_mj += 5_000
    assert meter.stop()[0] == pytest.approx(5.0)
    meter = energy.NvmlMeter(probe, idle_w=10.0)
    meter.start()
    time.sleep(0.1)
    fake.energy_mj += 5_000
    joules, seconds = meter.stop()
    assert joules == pytest.approx(5.0 - 10.0 * seconds) and 0.1 <= seconds < 1.0


class FakeTorchCuda:
    def __init__(self):
        self.reset = 0

    def synchronize(self):
        pass

    def reset_peak_memory_stats(self):
        self.reset += 1

    def max_memory_allocated(self):
        return 123 * 2**20

    def max_memory_reserved(self):
        return 256 * 2**20


def test_cell_probe_on_a_fake_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(nvml, "MIN_ENERGY_WINDOW_S", 0.05)
    monkeypatch.setattr("bench.measure.cell_metrics.RAPL_WINDOW_S", 0.05)
    fake, cuda = FakeNvml(throttle=0x40), FakeTorchCuda()
    probe = CellProbe("cuda", tmp_path, nvml=fake, cuda=cuda)
    assert probe.clock(sync=cuda.synchronize).name == "cuda-event"
    assert probe.clock(sync=None) is None  # ORT returns host arrays: the host clock is right
    probe.before_timing()
    assert cuda.reset == 1
    calls = []

    def call():
        calls.append(1)
        fake.energy_mj += 2  # 2 mJ per inference
        time.sleep(0.001)

    rec = probe.after_timing(call)
    assert rec["cuda_peak_allocated_bytes"] == 123 * 2**20 and rec["cuda_peak_reserved_bytes"] == 256 * 2**20
    assert rec["nvml_used_bytes"] == 3 * 2**30
    assert rec["gpu_throttled"] is True and rec["gpu_state"]["after"]["temperature_c"] == 41
    assert rec["energy_counter_source"] == "nvml-counter"
    assert rec["energy_window_calls"] == len(calls) and rec["energy_window_s"] >= 0.05
    assert rec["energy_counter_j_per_call"] == pytest.approx(0.002)  # no idle figure in this run: none subtracted


def test_nvml_meter_never_reports_negative_energy():
    """An idle baseline above the measured power (a hot GPU at baseline time) falls back to gross energy."""
    fake = FakeNvml()
    probe = NvmlProbe.open(nvml=fake)
    meter = energy.NvmlMeter(probe, idle_w=1000.0)
    meter.start()
    time.sleep(0.05)
    fake.energy_mj += 2_000
    joules, _ = meter.stop()
    assert joules == pytest.approx(2.0) and meter.idle_subtracted is False
