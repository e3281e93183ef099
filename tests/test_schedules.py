"""Assignment schedules: the solution scores 100 % (and its schedules agree with PyTorch's
OneCycleLR and CosineAnnealingWarmRestarts on every probe), the release scores 0, each known
mistake fails its part (and only it) with its hint, correct submissions written differently
get full marks, and wrong ones lose points with a message that teaches."""

from __future__ import annotations

import pytest

from autograder.drivers.runtime import DriverError
from tests.submissions import (
    append_code,
    check_release_scores_zero,
    check_solution_scores_full_marks,
    grade,
    part,
    replace_in_cell,
    source_notebook,
)

pytestmark = pytest.mark.task("schedules")

PARTS = ["find_lr", "suggest_lr", "one_cycle", "sgdr"]


def judge(grader, part_id: str, namespace: dict) -> list[str]:
    """The messages ``part_id`` earns when its driver runs on ``namespace`` in this process
    (as the sandbox would run it on a submission): [] if it passes."""
    spec = grader.assignment.part(part_id)
    for case, expected in zip(grader.cases(spec), grader.expected(spec), strict=True):
        try:
            got = grader.run_driver(namespace, spec, case)
        except DriverError as err:
            return [str(err)]
        failures = grader.judge.compare_case(spec, case, got, expected)
        if failures:
            return failures + [grader.reference.diagnose(spec, case, got, None) or ""]
    return []


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "schedules", 12)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "schedules")


def test_reference_follows_pytorch_on_every_probe(grader):
    """The reference's schedules and PyTorch's agree step by step on every probe (the
    checks hold the student to both), and the probes cover what they say they do."""
    for part_id in ("one_cycle", "sgdr"):
        spec = grader.assignment.part(part_id)
        for case, expected in zip(grader.cases(spec), grader.expected(spec), strict=True):
            assert set(case.secret["pytorch"]) == set(expected)
            assert grader.judge.compare_case(spec, case, expected, expected) == []
    finder = grader.assignment.part("find_lr")
    lengths = [len(e["rates"]) for e in grader.expected(finder)]
    steps = [c.config.get("n_steps", 100) for c in grader.cases(finder)]
    assert any(n == s for n, s in zip(lengths, steps, strict=True)), "a run that never blows up"
    assert any(n < s for n, s in zip(lengths, steps, strict=True)), "a run that blows up"


def test_every_mistake_fails_its_part_only_with_its_hint(grader):
    """Each known mistake, patched into the reference, fails its own part with its hint and
    leaves the other parts passing."""
    names = [m.name for p in grader.assignment.parts for m in p.mistakes]
    assert len(names) == len(set(names))
    for spec in grader.assignment.parts:
        assert len(spec.mistakes) >= 4, spec.id
        for mistake in spec.mistakes:
            namespace = grader.reference.variant(sources=grader.mistake_sources(mistake))
            messages = judge(grader, spec.id, namespace)
            assert f"Likely mistake: {mistake.hint}" in messages, (mistake.name, messages)
            for other in PARTS:
                if other != spec.id:
                    assert judge(grader, other, namespace) == [], (mistake.name, other)


def test_trajectories_name_the_first_differing_step(grader):
    messages = judge(grader, "sgdr", grader.reference.variant(sources=[RESTART_LATE]))
    assert "differs from the reference solution's first at step 10 of 39" in messages[0]
    assert "sgdr(step, peak, first_cycle=10, mult=1)" in messages[0]
    messages = judge(grader, "find_lr", grader.reference.variant(sources=[NO_STOP]))
    assert "the run stopped after 100 steps, expected 76" in messages[0]


RESTART_LATE = """
def sgdr(step, peak, first_cycle, mult=2, eta_min=0.0):
    while step > first_cycle:
        step, first_cycle = step - first_cycle, first_cycle * mult
    return cosine(peak, eta_min, step / first_cycle), None
"""

NO_STOP = """
def find_lr(model, batches, loss_fn, start=1e-4, end=10.0, n_steps=100, beta=0.9):
    optimizer = torch.optim.SGD(model.parameters(), lr=start, momentum=0.9)
    rates, losses, average = [], [], 0.0
    for step, (x, y) in zip(range(n_steps), batches):
        rate = start * (end / start) ** (step / (n_steps - 1))
        optimizer.param_groups[0]["lr"] = rate
        loss = loss_fn(model(x), y)
        average = beta * average + (1 - beta) * loss.item()
        rates.append(rate)
        losses.append(average / (1 - beta ** (step + 1)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return rates, losses
"""

# ----------------------------------------------------------------- written differently
OWN_SGD_FINDER = """
def find_lr(model, batches, loss_fn, start=1e-4, end=10.0, n_steps=100, beta=0.9):
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    rates, losses = [], []
    average, best, correction = 0.0, float("inf"), 1.0
    for step, (x, y) in enumerate(batches):
        if step == n_steps:
            break
        rate = start * (end / start) ** (step / (n_steps - 1))
        loss = loss_fn(model(x), y)
        average = average * beta + float(loss) * (1 - beta)
        correction *= beta
        smoothed = average / (1 - correction)
        rates.append(rate)
        losses.append(smoothed)
        if not (smoothed <= 4 * best and math.isfinite(smoothed)):
            break
        best = min(best, smoothed)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, v, g in zip(params, velocity, grads):
                v.mul_(0.9).add_(g)
                p.sub_(rate * v)
    return torch.tensor(rates, dtype=torch.float64), torch.tensor(losses, dtype=torch.float64)
"""

LOOP_SUGGEST = """
def suggest_lr(rates, losses):
    rates, losses = rates.tolist(), losses.tolist()
    lowest = min(range(len(losses)), key=lambda k: (losses[k], k))
    best_slope, bold = math.inf, rates[0]
    for k in range(min(lowest + 1, len(rates) - 1)):
        slope = (losses[k + 1] - losses[k]) / math.log(rates[k + 1] / rates[k])
        if slope < best_slope:
            best_slope, bold = slope, rates[k]
    return 0.1 * rates[lowest], bold
"""

TORCH_STYLE_ONE_CYCLE = """
def one_cycle(step, peak, total, warmup=0.3, div=25.0, final_div=1e4, momenta=(0.95, 0.85)):
    start, low = peak / div, peak / div / final_div
    phases = [(float(warmup * total) - 1, start, peak, momenta[0], momenta[1]),
              (total - 1, peak, low, momenta[1], momenta[0])]
    begin = 0.0
    for i, (finish, lr0, lr1, m0, m1) in enumerate(phases):
        if step <= finish or i == len(phases) - 1:
            pct = torch.tensor((step - begin) / (finish - begin), dtype=torch.float64)
            weight = (torch.cos(torch.pi * pct) + 1) / 2
            return lr1 + (lr0 - lr1) * weight, m1 + (m0 - m1) * weight
        begin = finish
"""

CLOSED_FORM_SGDR = """
def sgdr(step, peak, first_cycle, mult=2, eta_min=0.0):
    if step >= first_cycle:
        if mult == 1:
            position, length = step % first_cycle, first_cycle
        else:
            n = int(math.log(step / first_cycle * (mult - 1) + 1, mult))
            position = step - first_cycle * (mult**n - 1) / (mult - 1)
            length = first_cycle * mult**n
    else:
        position, length = step, first_cycle
    rate = eta_min + (peak - eta_min) * (1 + math.cos(math.pi * position / length)) / 2
    return rate, None
"""


def test_correct_solutions_written_differently_get_full_marks(grader, tmp_path):
    """A finder with its own momentum SGD, an enumerate loop and a running bias correction,
    returning float64 tensors; the rules of thumb in a Python loop; one-cycle in PyTorch's
    phase loop on float64 tensors; SGDR in PyTorch's closed form (logarithms, not a loop)."""
    nb = source_notebook("schedules")
    for source in (OWN_SGD_FINDER, LOOP_SUGGEST, TORCH_STYLE_ONE_CYCLE, CLOSED_FORM_SGDR):
        nb = append_code(nb, source)
    result = grade(grader, tmp_path, nb)
    assert result.score == result.max_score == 12, result.to_text()


# ----------------------------------------------------------------- wrong, beyond the catalogue
FLOAT32_FINDER_RETURN = ("return rates, losses", "return torch.tensor(rates), torch.tensor(losses)")
BARE_SGDR = ("step / cycle), None", "step / cycle)")
SLOPE_PER_STEP = ("torch.diff(losses) / torch.diff(rates.log())", "torch.diff(losses)")
THREE_PHASE = """
def one_cycle(step, peak, total, warmup=0.3, div=25.0, final_div=1e4, momenta=(0.95, 0.85)):
    # PyTorch's three_phase=True: back down to peak / div by 2 * turn, then to the floor
    turn = warmup * total - 1
    if step <= turn:
        return cosine(peak / div, peak, step / turn), cosine(*momenta, step / turn)
    if step <= 2 * turn:
        fraction = step / turn - 1
        return cosine(peak, peak / div, fraction), cosine(*reversed(momenta), fraction)
    fraction = (step - 2 * turn) / (total - 1 - 2 * turn)
    return cosine(peak / div, peak / div / final_div, fraction), momenta[0]
"""


def test_wrong_submissions_lose_their_part_with_a_message_that_teaches(grader, tmp_path):
    """The chapter's float32 tensors of rates (rounded), slopes per step where the rates
    grow unevenly, a bare rate where a pair is due, and one-cycle with PyTorch's three
    phases: each loses its own part, with what differs (and at which step)."""
    nb = replace_in_cell(source_notebook("schedules"), "find_lr-solution", *FLOAT32_FINDER_RETURN)
    nb = replace_in_cell(nb, "sgdr-solution", *BARE_SGDR)
    nb = replace_in_cell(nb, "suggest_lr-solution", *SLOPE_PER_STEP)
    nb = append_code(nb, THREE_PHASE)
    result = grade(grader, tmp_path, nb)
    assert result.score == 0, result.to_text()
    finder = " ".join(part(result, "find_lr").messages)
    assert "float32 tensor, which rounds them" in finder and "Python floats" in finder, finder
    sgdr = " ".join(part(result, "sgdr").messages)
    assert "sgdr returned float, expected (rate, None)" in sgdr, sgdr
    suggest = " ".join(part(result, "suggest_lr").messages)
    assert "the bold rate (the steepest fall before the lowest loss)" in suggest, suggest
    cycle = " ".join(part(result, "one_cycle").messages)
    assert "differs from the reference solution's first at step" in cycle, cycle


def test_pytorch_schedulers_are_refused(grader, tmp_path):
    """Calling PyTorch's scheduler in the part that asks to build it fails before running."""
    hostile = """
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts as Restarts

def sgdr(step, peak, first_cycle, mult=2, eta_min=0.0):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    Restarts(opt, first_cycle, mult, eta_min).step(step)
    return opt.param_groups[0]["lr"], None
"""
    nb = append_code(source_notebook("schedules"), hostile)
    result = grade(grader, tmp_path, nb, only=["sgdr"])
    messages = " ".join(part(result, "sgdr").messages)
    assert "lr_scheduler.CosineAnnealingWarmRestarts" in messages, messages
    assert part(result, "sgdr").points == 0
