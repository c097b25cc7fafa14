"""Trajectory optimisation with the engine's derivatives.

:func:`~dojax.optimize.ilqr.ilqr` is iterative LQR (Gauss-Newton DDP) over a mechanism in minimal
coordinates, with an augmented Lagrangian for equality and inequality constraints on states and
actions and on the final state. Beside it: :mod:`~dojax.optimize.dynamics` (a mechanism's step and
step Jacobians in minimal coordinates) and :mod:`~dojax.optimize.costs` (quadratic costs and action
bounds for the common case). Nothing in the engine imports this package.
"""

from dojax.optimize.costs import action_bounds, quadratic_cost, quadratic_final_cost
from dojax.optimize.ilqr import ILQRResult, ilqr

__all__ = ["ilqr", "ILQRResult", "quadratic_cost", "quadratic_final_cost", "action_bounds"]
