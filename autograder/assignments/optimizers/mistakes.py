"""Known wrong variants of the optimizers assignment's reference, with the hint each gives.

When a part fails, the grader runs each variant (the reference with a patch) on the failing
probe; if the student's trajectory is the variant's, the hint names the mistake. Patches are
(old, new) edits of the reference's source, or a whole replacement class; a patch of a base
class is followed by a ``RELOAD`` of the classes built on it, so they pick the patch up.
"""

from __future__ import annotations

from autograder.spec import Mistake

RELOAD = ("", "")  # re-run a definition unchanged, so it picks up a patched base class

LINE_MISTAKES = [
    Mistake(
        "grads not zeroed",
        "fit_line: the gradients are not cleared after each update, so they add up over the "
        "steps; zero a.grad and b.grad (or set them to None) after each update",
        {"fit_line": ("a.grad.zero_()\n            b.grad.zero_()", "pass")},
    ),
    Mistake(
        "sum instead of mean",
        "fit_line: the loss is the sum of the squared errors; use their mean",
        {"fit_line": ("** 2).mean()", "** 2).sum()")},
    ),
    Mistake(
        "gradient ascent",
        "fit_line: the parameters move along the gradient, uphill; subtract lr * grad",
        {
            "fit_line": (
                "a -= lr * a.grad\n            b -= lr * b.grad",
                "a += lr * a.grad\n            b += lr * b.grad",
            )
        },
    ),
    Mistake(
        "b never updated",
        "fit_line: b is never updated; step both a and b",
        {"fit_line": ("b -= lr * b.grad", "pass")},
    ),
]


def _common_mistakes(names: list[str]) -> list[Mistake]:
    """Mistakes in BaseOptimizer, which every optimizer inherits."""
    reload = {n: RELOAD for n in names}
    return [
        Mistake(
            "generator stored",
            "params can be a one-shot generator (model.parameters()): store list(params); "
            "a generator kept as it is is empty the second time it is read",
            {"BaseOptimizer": ("self.params = list(params)", "self.params = params")} | reload,
        ),
        Mistake(
            "zero_grad makes zero gradients",
            "zero_grad() gives every parameter a zero gradient, even one that never had a "
            "gradient: a parameter that takes no part in the loss then looks like one with a "
            "zero gradient and still gets weight decay or momentum; set p.grad = None (or zero "
            "only the gradients that exist)",
            {"BaseOptimizer": ("p.grad = None", "p.grad = torch.zeros_like(p)")} | reload,
        ),
        Mistake(
            "zero_grad does nothing",
            "zero_grad() does not clear the gradients, so they add up across steps: set every "
            "p.grad to None (or zero it)",
            {"BaseOptimizer": ("p.grad = None", "pass")} | reload,
        ),
    ]


def _float32_state(cls: str, old: str, owner: str = "") -> Mistake:
    """The state made by ``old`` (in class ``owner``, default ``cls``) as float32 zeros;
    ``cls`` is reloaded when it inherits the patched code."""
    owner = owner or cls
    patch = {owner: (old, old.replace("torch.zeros_like(p)", "torch.zeros(p.shape)"))}
    return Mistake(
        "float32 state",
        f"{cls}: the running averages are float32 whatever the parameter's dtype: make them "
        "with torch.zeros_like(p) (the parameter's dtype and device)",
        patch | ({cls: RELOAD} if owner != cls else {}),
    )


SGD_DECAY_AFTER_MOMENTUM = """
class SGD(BaseOptimizer):

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = (lr, momentum, weight_decay)
        self.buffers = [None] * len(self.params)

    def step(self):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                grad = p.grad
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = grad.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad)
                    grad = self.buffers[i]
                p -= self.lr * (grad + self.weight_decay * p)
"""

SGD_MISTAKES = [
    Mistake(
        "dampened momentum",
        "SGD: the momentum buffer is updated as momentum * buf + (1 - momentum) * grad; "
        "torch.optim.SGD (no dampening) adds the whole gradient: buf = momentum * buf + grad",
        {"SGD": (".add_(grad)", ".add_((1 - self.momentum) * grad)")},
    ),
    Mistake(
        "buffer from zero",
        "SGD: the momentum buffer must start as the first gradient itself (buf = grad at the "
        "first step), then buf = momentum * buf + grad; here it starts at zero and each "
        "gradient is scaled by (1 - momentum)",
        {
            "SGD": (
                "self.buffers[i] = grad.clone()\n                    else:\n"
                "                        self.buffers[i].mul_(self.momentum).add_(grad)",
                "self.buffers[i] = (1 - self.momentum) * grad\n                    else:\n"
                "                        self.buffers[i].mul_(self.momentum).add_("
                "(1 - self.momentum) * grad)",
            )
        },
    ),
    Mistake(
        "weight decay after momentum",
        "SGD: the weight decay is added after the momentum buffer; torch.optim.SGD adds "
        "weight_decay * p to the gradient before it enters the buffer",
        {"SGD": SGD_DECAY_AFTER_MOMENTUM},
    ),
    Mistake(
        "no weight decay",
        "SGD: weight_decay is ignored; add weight_decay * p to the gradient",
        {"SGD": ("p.grad + self.weight_decay * p", "p.grad")},
    ),
    *_common_mistakes(["SGD"]),
]

RMSPROP_MISTAKES = [
    Mistake(
        "eps inside the root",
        "RMSprop: eps is added inside the square root; torch.optim.RMSprop adds it to the "
        "root: sqrt(s) + eps",
        {"RMSprop": ("(square_avg.sqrt() + self.eps)", "(square_avg + self.eps).sqrt()")},
    ),
    Mistake(
        "alpha swapped",
        "RMSprop: alpha and 1 - alpha are swapped: the running average keeps alpha of its old "
        "value and adds (1 - alpha) times the new squared gradient",
        {
            "RMSprop": (
                "square_avg.mul_(self.alpha).add_((1 - self.alpha) * grad**2)",
                "square_avg.mul_(1 - self.alpha).add_(self.alpha * grad**2)",
            )
        },
    ),
    Mistake(
        "no square root",
        "RMSprop: the step is divided by the running average of the squared gradient itself; "
        "divide by its square root (the RMS)",
        {"RMSprop": ("square_avg.sqrt() + self.eps", "square_avg + self.eps")},
    ),
    Mistake(
        "decoupled decay",
        "RMSprop: weight_decay is an L2 penalty added to the gradient (grad + weight_decay * "
        "p), as in torch.optim.RMSprop, not a shrinking of the parameter",
        {
            "RMSprop": (
                "grad = p.grad + self.weight_decay * p",
                "p.mul_(1 - self.lr * self.weight_decay)\n                grad = p.grad",
            )
        },
    ),
    Mistake(
        "no weight decay",
        "RMSprop: weight_decay is ignored; add weight_decay * p to the gradient",
        {"RMSprop": ("p.grad + self.weight_decay * p", "p.grad")},
    ),
    _float32_state("RMSprop", "self.square_avgs = [torch.zeros_like(p) for p in self.params]"),
    *_common_mistakes(["RMSprop"]),
]


def _adam_mistakes(cls: str) -> list[Mistake]:
    """Mistakes in Adam's update, which AdamW inherits (patched in Adam, AdamW reloaded)."""
    reload = {"AdamW": RELOAD} if cls == "AdamW" else {}

    def adam(old: str, new: str) -> dict:
        return {"Adam": (old, new)} | reload

    return [
        Mistake(
            "no bias correction",
            f"{cls}: no bias correction: divide the running averages by (1 - beta1**t) and "
            "(1 - beta2**t), t counting this parameter's steps from 1",
            adam(
                "avg_hat = exp_avg / (1 - beta1**t)\n"
                "                avg_sq_hat = exp_avg_sq / (1 - beta2**t)",
                "avg_hat = exp_avg\n                avg_sq_hat = exp_avg_sq",
            ),
        ),
        Mistake(
            "first moment corrected only",
            f"{cls}: only the average of the gradient is bias-corrected; divide the average of "
            "its square by (1 - beta2**t) too",
            adam("avg_sq_hat = exp_avg_sq / (1 - beta2**t)", "avg_sq_hat = exp_avg_sq"),
        ),
        Mistake(
            "eps inside the root",
            f"{cls}: eps is added inside the square root; torch.optim adds it to the root of "
            "the corrected average: sqrt(v_hat) + eps",
            adam("(avg_sq_hat.sqrt() + self.eps)", "(avg_sq_hat + self.eps).sqrt()"),
        ),
        Mistake(
            "eps before correction",
            f"{cls}: eps is added to sqrt(v) before the bias correction; add it after: "
            "sqrt(v / (1 - beta2**t)) + eps",
            adam(
                "avg_sq_hat = exp_avg_sq / (1 - beta2**t)\n"
                "                p -= self.lr * avg_hat / (avg_sq_hat.sqrt() + self.eps)",
                "p -= self.lr * avg_hat / ((exp_avg_sq.sqrt() + self.eps) / (1 - beta2**t) ** 0.5)",
            ),
        ),
        Mistake(
            "step counted from 0",
            f"{cls}: the step count t is 0 at the first step, so 1 - beta ** t is zero and the "
            "bias correction divides by zero: count t from 1 (increment it before using it)",
            adam(
                "self.steps[i] += 1\n                t = self.steps[i]",
                "t = self.steps[i]\n                self.steps[i] += 1",
            ),
        ),
        Mistake(
            "step counted per parameter",
            f"{cls}: the step count t advances once per parameter instead of once per step() "
            "(for every parameter): with several parameters t runs ahead and the bias "
            "correction is wrong; keep a count per parameter, or increment it once per step()",
            adam(
                "self.steps[i] += 1\n                t = self.steps[i]",
                "self.steps[0] += 1\n                t = self.steps[0]",
            ),
        ),
        Mistake(
            "betas swapped",
            f"{cls}: beta1 and beta2 are swapped: beta1 (0.9) averages the gradient, beta2 "
            "(0.999) its square",
            adam("beta1, beta2 = self.betas", "beta2, beta1 = self.betas"),
        ),
        _float32_state(cls, "[torch.zeros_like(p) for p in self.params]", owner="Adam"),
        *_common_mistakes(["Adam", "AdamW"] if cls == "AdamW" else ["Adam"]),
    ]


ADAM_MISTAKES = [
    *_adam_mistakes("Adam"),
    Mistake(
        "decoupled decay in Adam",
        "Adam: weight_decay is an L2 penalty added to the gradient (grad + weight_decay * p), "
        "as in torch.optim.Adam; shrinking the parameter directly is AdamW's decoupled decay",
        {
            "Adam": (
                "return grad + self.weight_decay * p",
                "p.mul_(1 - self.lr * self.weight_decay)\n        return grad",
            )
        },
    ),
    Mistake(
        "no weight decay",
        "Adam: weight_decay is ignored; add weight_decay * p to the gradient",
        {"Adam": ("return grad + self.weight_decay * p", "return grad")},
    ),
]


def _adamw_decaying_in_step(body: str) -> str:
    """A whole AdamW whose decay() leaves the gradient alone and whose step() (``body``,
    indented as a method's) shrinks the parameters itself."""
    return f"""
class AdamW(Adam):

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def decay(self, p, grad):
        return grad

    def step(self):
{body}"""


ADAMW_DECAY_AFTER = _adamw_decaying_in_step(
    """        super().step()
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.mul_(1 - self.lr * self.weight_decay)
"""
)

ADAMW_DECAY_WITHOUT_GRAD = _adamw_decaying_in_step(
    """        with torch.no_grad():
            for p in self.params:
                p.mul_(1 - self.lr * self.weight_decay)
        super().step()
"""
)

ADAMW_MISTAKES = [
    Mistake(
        "L2 instead of decoupled",
        "AdamW: the weight decay is added to the gradient (an L2 penalty, which is Adam's); "
        "AdamW decouples it: shrink the parameter, p <- p * (1 - lr * weight_decay), and "
        "leave the gradient alone",
        {
            "AdamW": (
                "p.mul_(1 - self.lr * self.weight_decay)\n        return grad",
                "return grad + self.weight_decay * p",
            )
        },
    ),
    Mistake(
        "decay without lr",
        "AdamW: the decoupled decay is scaled by the learning rate: p <- p * (1 - lr * "
        "weight_decay), not p * (1 - weight_decay)",
        {"AdamW": ("p.mul_(1 - self.lr * self.weight_decay)", "p.mul_(1 - self.weight_decay)")},
    ),
    Mistake(
        "decay after the update",
        "AdamW: the parameter is shrunk after the Adam update; torch.optim.AdamW shrinks it "
        "first, p <- p * (1 - lr * weight_decay), then applies the update",
        {"AdamW": ADAMW_DECAY_AFTER},
    ),
    Mistake(
        "decay without gradient",
        "AdamW: parameters whose .grad is None are decayed too; skip them entirely, as "
        "torch.optim does (if step() skips them already, zero_grad() may be giving them a "
        "zero gradient: set p.grad = None there)",
        {"AdamW": ADAMW_DECAY_WITHOUT_GRAD},
    ),
    Mistake(
        "default weight decay 0",
        "AdamW: the default weight_decay is 1e-2 (as in torch.optim.AdamW), not 0",
        {"AdamW": ("weight_decay=1e-2)", "weight_decay=0.0)")},
    ),
    # A zero_grad() that makes zero gradients moves AdamW exactly as "decay without
    # gradient" does (zero moments, so only the decay acts): that hint names both.
    *[m for m in _adam_mistakes("AdamW") if m.name != "zero_grad makes zero gradients"],
]
