"""Grading on a GPU, tested without one: tolerances widen on "cuda" exactly as the comparison's
do, the GPU-only failures (out of GPU memory, a device-side assert, tensors on two devices,
results moved off the part's device) get a message on their part only, and a GPU's memory
is shared out between the workers' children."""

from __future__ import annotations

import fnmatch

import pytest
import torch

from autograder import checks, compare
from autograder.assignments import regularization
from autograder.course.cluster import GPU_MEMORY_SHARE, shared_gpu
from autograder.course.worker import GraderSettings
from autograder.device_feedback import CUDA_EXTRA_CPU, limits_on
from autograder.drivers import gpu
from autograder.sandbox import Limits
from autograder.sandbox import isolation as iso
from autograder.spec import Case
from tests.submissions import append_code, grade, part, source_notebook

pytestmark = pytest.mark.task("collab")

CUDA_SIZED = 3e-4  # a relative float32 error CUDA's reordered sums can reach; over the CPU's 1e-4


def _nudged(tensor: torch.Tensor, relative: float = CUDA_SIZED) -> torch.Tensor:
    return tensor * (1 + relative)


def test_widening_is_the_comparisons_own():
    assert compare.widened(1e-4, 1e-5, torch.float32, "cpu") == (1e-4, 1e-5)
    rtol, atol = compare.widened(1e-4, 1e-5, torch.float32, "cuda:0")
    assert (rtol, atol) == pytest.approx((5e-4, 1e-4))
    assert compare.tolerance(torch.float32, "cuda") == pytest.approx((5e-4, 1e-4))
    assert compare.widened(1e-9, 1e-10, torch.float64, "cuda") == (1e-9, 1e-10)


def test_compare_tensor_passes_a_cuda_sized_difference_only_on_cuda():
    expected = torch.linspace(1, 2, 50)
    got = _nudged(expected)
    assert compare.compare_tensor("out", got, expected, "cpu") is not None
    assert compare.compare_tensor("out", got, expected, "cuda") is None
    assert compare.compare_tensor("out", _nudged(expected, 3e-3), expected, "cuda") is not None


def test_trajectory_check_widens_on_cuda():
    truth = torch.linspace(1, 2, 40).reshape(10, 4)
    check = checks.trajectory("trajectory", "SGD", "torch.optim.SGD", pytorch=True)
    case = Case({}, secret={"pytorch": {"trajectory": truth}})
    got = {"trajectory": _nudged(truth)}
    (message,) = check(case, got, {}, "cpu")
    assert "differs from torch.optim.SGD" in message and "tolerance 0.0001 relative" in message
    assert check(case, got, {}, "cuda") == []
    far = {"trajectory": _nudged(truth, 3e-3)}
    assert "tolerance 0.0005 relative" in check(case, far, {}, "cuda")[0]


def test_embedding_held_to_pytorch_widens_on_cuda(grader, monkeypatch):
    """collab's Embedding is held to nn.Embedding's outputs (its driver run on PyTorch's
    layer), with the comparison's tolerances: a CUDA-sized difference fails only on the CPU."""
    part = grader.assignment.part("embedding")
    grader.expected(part)  # runs the driver on the reference and on nn.Embedding
    case = grader.cases(part)[0]
    truth = case.secret["pytorch"]
    got = {**truth, "out": _nudged(truth["out"])}
    (message,) = grader.judge.compare_pytorch(part, case, got)
    assert "output compared with PyTorch's nn.Embedding" in message
    monkeypatch.setattr(grader.judge, "device", "cuda")
    assert grader.judge.compare_pytorch(part, case, got) == []


def test_dropout_scale_checks_widen_on_cuda():
    x = torch.linspace(1, 2, 100)
    out = x / 0.5 * (1 + 3e-6)  # kept elements scaled by 1/(1 - p), off by a few float32 ulps
    assert regularization._kept_scale("dropout", 0.5, x, out, "cpu")
    assert regularization._kept_scale("dropout", 0.5, x, out, "cuda") == []
    grad = torch.full_like(x, 2 * (1 + 3e-6))
    assert regularization._gradient("dropout", 0.5, out, grad, "cpu")
    assert regularization._gradient("dropout", 0.5, out, grad, "cuda") == []


def test_limits_leave_room_for_cuda_only():
    limits = Limits(cpu=0.5, wall=20.0)
    assert limits_on(limits, "cpu") is limits
    assert limits_on(limits, "cuda").cpu == 0.5 + CUDA_EXTRA_CPU
    assert limits_on(limits, "cuda").wall > limits.wall


@pytest.mark.parametrize(
    "error, words",
    [
        ("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "GPU memory"),
        ("RuntimeError: CUDA error: device-side assert triggered", "index out of range"),
        ("RuntimeError: CUDA error: an illegal memory access was encountered", "CUDA error"),
        ("RuntimeError: Expected all tensors to be on the same device, but got index is on "
         "cpu, different from other tensors on cuda:0", "two devices"),
        ("RuntimeError: indices should be either on cpu or on the same device as the indexed "
         "tensor (cpu)", "two devices"),
        ("TypeError: can't convert cuda:0 device type tensor to numpy.", "NumPy"),
    ],
)  # fmt: skip
def test_gpu_errors_are_explained(error, words):
    from autograder.device_feedback import explain_cuda_error

    assert words in explain_cuda_error(error)
    assert explain_cuda_error("ValueError: not the right answer") is None


def test_lost_context_is_recognised():
    assert gpu.context_lost("RuntimeError: CUDA error: device-side assert triggered")
    assert gpu.context_lost("RuntimeError: CUDA error: an illegal memory access was encountered")
    assert not gpu.context_lost("OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB")
    assert not gpu.context_lost("RuntimeError: mat1 and mat2 shapes cannot be multiplied")


def test_prepare_leaves_a_cpu_process_alone():
    gpu.prepare("cpu", 0.25)
    assert torch.empty(1).device.type == "cpu"
    assert gpu.off_device(torch.ones(2), "cpu") is None
    assert gpu.off_device(torch.ones(2, device="meta"), "cpu") == "meta"


# ----------------------------------------------------------------- messages, part by part
def _sigmoid_range_that(body: str):
    """The solution, with sigmoid_range replaced by a definition whose body is ``body``."""
    return append_code(source_notebook("collab"), f"def sigmoid_range(x, low, high):\n{body}")


PAIR = ["sigmoid_range", "dot_product"]  # dot_product does not use sigmoid_range


def _counting(grader, monkeypatch) -> list:
    """Count the sandboxed children (one per run_parts call) the grader starts."""
    calls = []
    original = grader.sandbox.run_parts

    def run_parts(jobs):
        calls.append(len(jobs))
        return original(jobs)

    monkeypatch.setattr(grader.sandbox, "run_parts", run_parts)
    return calls


def test_out_of_gpu_memory_fails_that_part_only(grader, tmp_path, monkeypatch):
    calls = _counting(grader, monkeypatch)
    body = '    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")\n'
    result = grade(grader, tmp_path, _sigmoid_range_that(body), only=PAIR)
    failed = part(result, "sigmoid_range")
    assert failed.points == 0 and "ran out of GPU memory" in failed.messages[0]
    assert "loss.item()" in failed.messages[0]
    assert part(result, "dot_product").passed
    assert calls == [2]  # no fresh child needed: the context is still usable


def test_device_side_assert_reruns_the_later_parts_in_a_fresh_child(grader, tmp_path, monkeypatch):
    calls = _counting(grader, monkeypatch)
    body = '    raise RuntimeError("CUDA error: device-side assert triggered\\nCompile with ...")\n'
    result = grade(grader, tmp_path, _sigmoid_range_that(body), only=PAIR)
    failed = part(result, "sigmoid_range")
    assert failed.points == 0 and "device-side assert" in failed.messages[0]
    assert "index out of range" in failed.messages[0]
    assert part(result, "dot_product").passed, result.to_text()
    assert calls == [2, 1]  # the child exited after the assert; dot_product ran in a new one


def test_tensors_on_two_devices_are_explained(grader, tmp_path):
    body = (
        '    raise RuntimeError("Expected all tensors to be on the same device, but found at '
        'least two devices, cuda:0 and cpu!")\n'
    )
    result = grade(grader, tmp_path, _sigmoid_range_that(body), only=PAIR)
    message = part(result, "sigmoid_range").messages[0]
    assert "two devices" in message and "device=x.device" in message
    assert part(result, "dot_product").passed


def test_results_moved_off_the_parts_device_are_named(grader, tmp_path):
    """A result on another device than the part's is reported, not moved back silently (on
    the CPU, the other device is "meta"; on a GPU it would be the CPU)."""
    body = "    return (torch.sigmoid(x) * (high - low) + low).detach().to('meta')\n"
    result = grade(grader, tmp_path, _sigmoid_range_that(body), only=PAIR)
    message = part(result, "sigmoid_range").messages[0]
    assert "came back on meta, but this part ran on cpu" in message, message
    assert part(result, "dot_product").passed


# ----------------------------------------------------------------- one GPU, several workers
def test_workers_on_one_gpu_share_its_memory():
    cuda = GraderSettings("collab", device="cuda")
    shared = shared_gpu(cuda, "local", 4)
    assert shared.gpu_memory_fraction == pytest.approx(GPU_MEMORY_SHARE / 4)
    assert shared_gpu(cuda, "local-cluster", 2).gpu_memory_fraction == GPU_MEMORY_SHARE / 2
    assert shared_gpu(cuda, "local", 1).gpu_memory_fraction is None
    assert shared_gpu(cuda, "tcp://10.0.0.1:8786", 4).gpu_memory_fraction is None
    on_cpu = shared_gpu(GraderSettings("collab", device="cpu"), "local", 4)
    assert on_cpu.gpu_memory_fraction is None


def test_sandbox_binds_only_the_gpu_nodes_cuda_needs(monkeypatch, tmp_path):
    dev = ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm",
           "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset", "/dev/null"]  # fmt: skip
    monkeypatch.setattr(iso.glob, "glob", lambda pattern: fnmatch.filter(dev, pattern))
    if iso.shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    cmd = iso.bwrap_command(tmp_path, "cuda")
    bound = {cmd[i + 1] for i, word in enumerate(cmd) if word == "--dev-bind"}
    assert bound == {"/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"}
    assert not any(w == "--dev-bind" for w in iso.bwrap_command(tmp_path, "cpu"))


def test_a_child_that_could_not_start_cuda_or_lost_it_is_named():
    from autograder.judge import status_message
    from autograder.sandbox import PartOutcome

    no_cuda = status_message(PartOutcome(f"exit:{gpu.EXIT_NO_CUDA}", 1.0), Limits())
    assert "CUDA could not be started in the sandbox" in no_cuda
    lost = status_message(PartOutcome(f"exit:{gpu.EXIT_CONTEXT_LOST}", 1.0), Limits())
    assert "CUDA error" in lost


def test_what_the_sandbox_says_about_devices_is_shortened():
    from autograder.assignments import get
    from autograder.device_feedback import wrong_device

    spec = get("collab").part("sigmoid_range")
    message = wrong_device(spec, {"out" * 100: "x" * 500, "b": "c", "d": "e", "f": "g"}, "cuda")
    assert len(message) < 400 and "ran on cuda" in message
    assert "ran on cuda" in wrong_device(spec, ["not", "a", "dict"], "cuda")


class _FakeProcess:
    """Stands in for the zygote's process: records how it was started."""

    started: dict = {}

    def __init__(self, cmd, **kwargs):
        _FakeProcess.started = {"cmd": cmd, **kwargs}
        self.stdin = self.stdout = None

    def poll(self):
        return 0

    def wait(self):
        return 0


def test_the_sandbox_on_cuda_keeps_the_workers_gpu(monkeypatch):
    """A Dask worker pinned to a GPU (CUDA_VISIBLE_DEVICES) grades on that GPU; the sandbox
    also finds libcuda where the machine says (LD_LIBRARY_PATH); on the CPU it gets neither."""
    from autograder.sandbox import Sandbox, runner

    monkeypatch.setattr(runner.subprocess, "Popen", _FakeProcess)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64")
    for device, expected in [("cuda", "1"), ("cpu", None)]:
        sandbox = Sandbox(device, isolation="rlimits", gpu_memory_fraction=0.2)
        sandbox.launch()
        env = _FakeProcess.started["env"]
        assert env.get("CUDA_VISIBLE_DEVICES") == expected
        assert ("LD_LIBRARY_PATH" in env) == (device == "cuda")
        sandbox.close()


def test_a_workers_warm_grader_is_found_whatever_the_gpu_share():
    """The pool gives its workers the GPU share; tasks made before still find the warm grader."""
    plain = GraderSettings("collab", device="auto")
    shared = shared_gpu(plain, "local", 2)
    assert shared.gpu_memory_fraction == GPU_MEMORY_SHARE / 2
    assert shared == plain and hash(shared) == hash(plain)
