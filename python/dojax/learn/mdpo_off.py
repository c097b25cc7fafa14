"""Off-policy mirror descent policy optimisation (off-policy MDPO; Tomar, Shani, Efroni and
Ghavamzadeh, ICLR 2022, arXiv 2005.09814, section 5; code manantomar/Mirror-Descent-Policy-Optimization,
``mdpo_off``).

SAC's machinery (:mod:`dojax.learn.sac`: the replay buffer, twin critics with Polyak-averaged
targets, the squashed Gaussian policy and the automatic entropy temperature) with the actor's step
made a mirror-descent step: mirror-descent iteration ``k`` takes ``sgd_steps`` Adam steps from
``theta_k`` on

    E_{s ~ D} [ E_{a ~ pi_theta} [ alpha log pi_theta(a|s) - min_j Q_j(s, a) ]
                + (1 / t_k) KL(pi_theta(.|s) || pi_k(.|s)) ]

(``D`` the replay buffer, ``a`` reparameterised), then ``pi_{k+1}`` is the result. The KL is in
closed form: ``tanh`` is a bijection, so the KL of the squashed policies is that of their Gaussians.
The step size is annealed as in the paper, ``t_k = 1 - k / K`` with ``K`` the mirror-descent
iterations of ``num_iterations`` updates (held at ``1 / K`` past them). With ``sgd_steps=1`` the KL
term and its gradient vanish at every step (each step starts at ``pi_k``): that is SAC, the special
case the paper points out.
"""

from dataclasses import dataclass

from dojax.learn import mdpo, sac
from dojax.learn.config import check_positive
from dojax.learn.train_loop import make_train_fn


@dataclass(frozen=True)
class MDPOOffConfig(sac.SACConfig):
    """Off-policy MDPO's options: those of :class:`~dojax.learn.sac.SACConfig`, and

    Attributes:
        sgd_steps: gradient steps per mirror-descent iteration (the paper's ``m``); ``num_iterations
            * gradient_steps / sgd_steps`` iterations set the annealing of ``t_k``.
    """

    sgd_steps: int = 100

    def __post_init__(self):
        super().__post_init__()
        check_positive("sgd_steps", self.sgd_steps, integer=True)

    def mirror_iterations(self):
        """``K``: the mirror-descent iterations of ``num_iterations`` updates (at least 1)."""
        return max(1, self.num_iterations * self.gradient_steps // self.sgd_steps)


def make_learner(env, config):
    """``(init, update)`` of :func:`dojax.learn.sac.make_learner` with the mirror-descent actor step."""
    iterations = config.mirror_iterations()
    return sac.make_learner(env, config, lambda k: 1.0 / mdpo.step_size(k, iterations))


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop;
    ``params`` and ``metrics`` as :func:`dojax.learn.sac.make_train`'s (``loss`` includes the KL term)."""
    return make_train_fn(*make_learner(env, config), config.num_iterations)
