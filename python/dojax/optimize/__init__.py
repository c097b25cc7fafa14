"""Trajectory optimisation and system identification with the engine's derivatives.

:func:`~dojax.optimize.ilqr.ilqr` is iterative LQR (Gauss-Newton DDP) over a mechanism in minimal
coordinates, with an augmented Lagrangian for equality and inequality constraints on states and
actions and on the final state. Beside it: :mod:`~dojax.optimize.dynamics` (a mechanism's step and
step Jacobians in minimal coordinates) and :mod:`~dojax.optimize.costs` (quadratic costs and action
bounds for the common case).

:func:`~dojax.optimize.identify.identify` fits a mechanism's physical parameters (friction, masses,
inertias, contact points and radii) to observed trajectories by Levenberg-Marquardt on short
prediction windows; :mod:`~dojax.optimize.trajectories` holds the data layout and its files.
Nothing in the engine imports this package.
"""

from dojax.optimize.costs import action_bounds, quadratic_cost, quadratic_final_cost
from dojax.optimize.identify import IdentifyResult, Parameter, identify, prediction_residuals
from dojax.optimize.dynamics import Dynamics
from dojax.optimize.ilqr import ILQRResult, Problem, TimeInvariant, finish, ilqr, ilqr_solve
from dojax.optimize.trajectories import from_rollout, load_trajectories, save_trajectories

__all__ = ["ilqr", "ilqr_solve", "Problem", "TimeInvariant", "Dynamics",
           "finish", "ILQRResult", "quadratic_cost", "quadratic_final_cost", "action_bounds", "identify",
           "IdentifyResult", "Parameter", "prediction_residuals", "load_trajectories", "save_trajectories",
           "from_rollout"]
