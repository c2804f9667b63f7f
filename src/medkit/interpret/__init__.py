"""medkit.interpret: one ``explain(model, X)`` entry with typed :class:`Explanation` outputs (see docs/trust.md).

SHAP for scikit-learn models, integrated gradients (captum) for torch sequence models, Grad-CAM for torch
image models (:mod:`medkit.interpret.gradcam`), or the model's own ``explain``. Heavy libraries are imported
when a method runs, not at import.
"""

from medkit.interpret.dispatch import METHODS, applicable_methods, explain
from medkit.interpret.explanation import Explanation

__all__ = ["METHODS", "Explanation", "applicable_methods", "explain"]
