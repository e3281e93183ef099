"""Running untrusted code: a bubblewrap sandbox around a warm, forking zygote.

A *job* is one submission's parts, run in one child of the zygote; a *part* is one graded
part within it (its :class:`Limits`, its :class:`PartOutcome`); a *case* is one probe of a
part. :mod:`~autograder.sandbox.runner` runs jobs, :mod:`~autograder.sandbox.readback`
reads back what each part left, :mod:`~autograder.sandbox.isolation` builds the confinement.
"""

from autograder.sandbox.limits import Limits
from autograder.sandbox.readback import PartOutcome
from autograder.sandbox.runner import Sandbox, SandboxError

__all__ = ["Limits", "PartOutcome", "Sandbox", "SandboxError"]
