"""The schedules assignment's known mistakes: each an edit of the reference that a student
would plausibly make, with the hint it earns (the grader names it when a submission
behaves like it on a probe)."""

from __future__ import annotations

from autograder.spec import Mistake

FINDER_MISTAKES = [
    Mistake(
        "no bias correction",
        "the smoothed loss is not bias-corrected: the average starts at 0, so divide it by "
        "1 - beta ** (step + 1); without that the first values are far too small and the run "
        "stops at once",
        {"find_lr": ("smoothed = average / (1 - beta ** (step + 1))", "smoothed = average")},
    ),
    Mistake(
        "no smoothing",
        "the finder records the raw loss of each mini-batch; record the smoothed loss, the "
        "bias-corrected exponentially weighted average of the losses",
        {"find_lr": ("smoothed = average / (1 - beta ** (step + 1))", "smoothed = loss.item()")},
    ),
    Mistake(
        "never stops",
        "the finder does not stop when the smoothed loss passes four times its best value",
        {"find_lr": ("smoothed > 4 * best or not", "not")},
    ),
    Mistake(
        "no momentum",
        "the finder's SGD has no momentum; use momentum 0.9, as the training it prepares",
        {"find_lr": ("lr=start, momentum=0.9)", "lr=start)")},
    ),
    Mistake(
        "last step not recorded",
        "the step at which the run stops is not recorded: record its rate and smoothed loss, "
        "then stop",
        {
            "find_lr": (
                "        rates.append(rate)\n"
                "        losses.append(smoothed)\n"
                "        if smoothed > 4 * best or not math.isfinite(smoothed):\n"
                "            break\n",
                "        if smoothed > 4 * best or not math.isfinite(smoothed):\n"
                "            break\n"
                "        rates.append(rate)\n"
                "        losses.append(smoothed)\n",
            )
        },
    ),
    Mistake(
        "linear ramp",
        "the rate grows linearly; it should grow exponentially, by the same factor at every "
        "step: start * (end / start) ** (step / (n_steps - 1))",
        {
            "find_lr": (
                "rate = start * factor**step",
                "rate = start + (end - start) * step / (n_steps - 1)",
            )
        },
    ),
    Mistake(
        "factor over n_steps",
        "the factor is (end / start) ** (1 / n_steps): n_steps rates have n_steps - 1 gaps, "
        "so the last rate falls short of `end`",
        {"find_lr": ("(1 / (n_steps - 1))", "(1 / n_steps)")},
    ),
]

SUGGEST_MISTAKES = [
    Mistake(
        "steepest fall anywhere",
        "the bold rate is the steepest fall of the whole curve; look only up to the lowest "
        "loss (a fall after it, from a spike, is no guide)",
        {"suggest_lr": ("slopes[: lowest + 1].argmin()", "slopes.argmin()")},
    ),
    Mistake(
        "slope per rate",
        "the slopes are taken per unit of rate; take them per unit of log(rate), the axis "
        "the finder's rates grow evenly on",
        {"suggest_lr": ("torch.diff(rates.log())", "torch.diff(rates)")},
    ),
    Mistake(
        "rate after the fall",
        "the bold rate is the rate at the end of the steepest fall; it is the rate at its "
        "start, rates[k] for the slope from step k to step k + 1",
        {"suggest_lr": ("rates[steepest]", "rates[steepest + 1]")},
    ),
    Mistake(
        "no tenth",
        "the cautious rate is the rate at the lowest loss itself; it is a tenth of it",
        {"suggest_lr": ("rates[lowest].item() / 10", "rates[lowest].item()")},
    ),
]

ONE_CYCLE_MISTAKES = [
    Mistake(
        "linear annealing",
        "the rate changes linearly; one-cycle anneals along half a cosine in both phases",
        {
            "one_cycle": (
                "cosine(peak, peak / div / final_div, fraction)",
                "peak + (peak / div / final_div - peak) * fraction",
            )
        },
    ),  # fmt: skip
    Mistake(
        "warm-up one step too long",
        "the warm-up ends one step late: it peaks at step warmup * total - 1 (PyTorch's "
        "OneCycleLR counts steps from 0)",
        {"one_cycle": ("turn = warmup * total - 1", "turn = warmup * total")},
    ),
    Mistake(
        "warm-up rounded",
        "the end of the warm-up is rounded to a whole step; it is warmup * total - 1 exactly, "
        "even between two steps",
        {"one_cycle": ("turn = warmup * total - 1", "turn = int(warmup * total) - 1")},
    ),
    Mistake(
        "annealing one step too long",
        "the annealing reaches its end one step after the last one: the last step, "
        "total - 1, must have the final rate",
        {"one_cycle": ("(total - 1 - turn)", "(total - turn)")},
    ),
    Mistake(
        "final rate from the peak",
        "the final rate is peak / final_div; it is the initial rate divided by final_div: "
        "peak / div / final_div",
        {"one_cycle": ("cosine(peak, peak / div / final_div", "cosine(peak, peak / final_div")},
    ),
    Mistake(
        "momentum not cycled back",
        "the momentum keeps falling after the warm-up; it goes back up, from the low to the "
        "high value, while the rate anneals",
        {"one_cycle": ("cosine(*reversed(momenta), fraction)", "cosine(*momenta, fraction)")},
    ),
]

SGDR_MISTAKES = [
    Mistake(
        "cycles not lengthened",
        "every cycle has the length of the first: after each restart the cycle is `mult` "
        "times longer",
        {"sgdr": ("step, cycle = step - cycle, cycle * mult", "step = step - cycle")},
    ),
    Mistake(
        "eta_min ignored",
        "the rate anneals to 0; it anneals to eta_min",
        {"sgdr": ("cosine(peak, eta_min, step / cycle)", "cosine(peak, 0.0, step / cycle)")},
    ),
    Mistake(
        "restart one step late",
        "the restart comes one step late: a cycle of length T covers steps 0 to T - 1, and "
        "step T is the peak again",
        {"sgdr": ("while step >= cycle:", "while step > cycle:")},
    ),
    Mistake(
        "linear annealing within a cycle",
        "the rate falls linearly within a cycle; SGDR anneals along half a cosine",
        {"sgdr": ("cosine(peak, eta_min, step / cycle)", "peak + (eta_min - peak) * step / cycle")},
    ),
]
