"""Gradient benchmark: cost of a step's full Jacobian and of a rollout gradient in dojax, beside
MuJoCo's finite-difference transition derivatives (``mujoco.mjd_transitionFD``) on similar models.

dojax cases (timestep 0.01 s, default ``SolverOptions``):

  block     ``dojax.load("block")`` sliding and spinning on the ground (v = (3, 1, 0) m/s,
            w = (0, 0, 4) rad/s), pushed by (8, 2, 0) N
  chain8    ``dojax.load("chain", links=8)`` lying on the ground, pushed at v = (1, 0.5, 0) m/s,
            joints driven by 2 sin(2 pi t + j) N m
  largest   the largest robot in ``dojax.MODELS`` (the first of humanoid, ant, quadruped,
            halfcheetah, walker2d, hopper found, from its initial state with small random
            actions); without one, the largest contact model here: ``chain`` with 16 links

Each is measured at --states states along its trajectory (the --states steps of a rollout that
follow --skip = 5 steps from the start above), every function compiled beforehand (20-80 s each
on this machine) and evaluated over all the states in one compiled ``lax.map`` (no Python
dispatch per evaluation); times are per state (median over --repeats):

  step      ``_step`` (what ``dojax.step`` and ``dojax.rollout`` run)
  jac       ``dojax.jacobians`` (maximal coordinates, state and action; its internal jitted
            ``_maximal``): Jacobian columns 12 nb + nu
  jac_1     the same Jacobian written here with one forward solve: ``jax.jacfwd`` with the
            reference state taken from the differentiated step itself (``stop_gradient``), not from
            a second step (checked equal to ``jac``; ``jac - jac_1`` is what ``dojax.jacobians``
            spends beyond one solve, e.g. a second solve; since commit c5d6e13 it makes one solve);
            by default on block and chain8 only (--breakdown)
  fwd50     a 50-step ``dojax.rollout`` (from the state after --skip steps) and the loss (final
            x of body 0)
  grad50    ``jax.grad`` of that loss with respect to the initial state and the 50 actions

MuJoCo (single thread, the process pinned to one core): ``mj_step`` and ``mjd_transitionFD``
(eps 1e-6, forward and centred differences, A and B), every call from the same saved state (the
time of restoring it, ``mj_setState``, is measured and subtracted), on MuJoCo's defaults (Newton
solver, pyramidal cones; a ``-elliptic`` suffix switches to elliptic cones, the analogue of
dojax's second-order cones):

  box8      a free 0.5 m cube, 1 kg, with 8 small corner spheres on a plane (like ``block``),
            timestep 0.01, friction 0.8, 3 force actuators on a site at its centre; settled on
            the plane, then set sliding (v = (3, 1, 0) m/s, w = (0, 0, 4) rad/s, push (8, 2, 0))
  boxgeom   the same cube as one box geom (box-plane collision)
  chain8    8 rods (0.5 x 0.1 x 0.1 m, 1 kg) joined by z hinges with 7 motors, spheres of 0.05 m
            at the rod ends, the first rod free, lying on the plane (like dojax's chain8); settled,
            then set sliding at (1, 0.5, 0) m/s with motor torques 2 sin(j)
  hopper    gymnasium's hopper.xml (timestep 0.002), after 200 steps of random controls (and on
            until it has a contact)
  ant       gymnasium's ant.xml (timestep 0.01), likewise
  humanoid  gymnasium's humanoid.xml (timestep 0.003, its PGS solver), likewise
            (all three switched from their RK4 integrator to MuJoCo's default Euler, since
            mjd_transitionFD does not support RK4)

--jvp1 adds the step with one directional derivative (``jax.jvp`` along one tangent direction of
dojax.jacobians's parametrisation) on the --breakdown cases; --functions times a subset.

The process is pinned to one CPU core (os.sched_setaffinity) with XLA's Eigen multi-threading off,
as in bench_chain.py; --no-pin turns both off.

    python bench/bench_gradients.py
    python bench/bench_gradients.py --cases block --states 2 --repeats 2 --no-mujoco
"""

import argparse
import os

from pinning import add_pinning_arguments, pin_single_core, print_environment  # bench/ is on sys.path
from timing import timed
import statistics
import sys
import time

ROBOTS = ("humanoid", "ant", "quadruped", "halfcheetah", "half_cheetah", "walker2d", "hopper")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", default=["block", "chain8", "largest"],
                   help="block, chainN, largest, or any dojax.MODELS name")
    p.add_argument("--breakdown", nargs="*", default=["block", "chain8"],
                   help="cases that also get jac_1 (default: block chain8)")
    p.add_argument("--jvp1", action="store_true", help="also time jvp1 on the --breakdown cases")
    p.add_argument("--functions", nargs="+", default=None,
                   help="time only these of step, jac, jac_1, jvp1, fwd50, grad50 (default: all that apply)")
    p.add_argument("--states", type=int, default=10, help="states per timed lax.map")
    p.add_argument("--skip", type=int, default=5,
                   help="steps simulated before the measured states and the loss's start")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats (median reported)")
    p.add_argument("--horizon", type=int, default=50, help="rollout steps of the gradient loss")
    p.add_argument("--rollout-repeats", type=int, default=5)
    p.add_argument("--timestep", type=float, default=0.01)
    p.add_argument("--no-mujoco", action="store_true", help="skip the MuJoCo part")
    p.add_argument("--mujoco-models", nargs="*",
                   default=["box8", "box8-elliptic", "boxgeom", "chain8", "chain8-elliptic", "hopper", "ant",
                            "humanoid"])
    p.add_argument("--mujoco-steps", type=int, default=200, help="mj_step calls per timed repeat")
    p.add_argument("--mujoco-fd", type=int, default=50, help="mjd_transitionFD calls per timed repeat")
    add_pinning_arguments(p)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# dojax


def resolve_case(case):
    """(label, model name, options) of a case."""
    import dojax

    if case == "largest":
        for name in ROBOTS:
            if name in dojax.MODELS:
                return f"{name} (largest robot)", name, {}
        return "chain16 (largest contact model; no robot in dojax.MODELS)", "chain", {"links": 16}
    if case.startswith("chain") and case[len("chain"):].isdigit():
        return case, "chain", {"links": int(case[len("chain"):])}
    return case, case, {}


def make_case(name, options, timestep, steps, seed=0):
    """(mechanism, initial state, actions (steps, nu)) of one dojax case."""
    import jax
    import jax.numpy as jnp

    import dojax

    mech = dojax.load(name, timestep=timestep, **options)
    s = mech.initial_state()
    t = timestep * jnp.arange(1, steps + 1)
    if name == "block":
        s = s.replace(v=jnp.array([[3.0, 1.0, 0.0]]), w=jnp.array([[0.0, 0.0, 4.0]]))
        return mech, s, jnp.broadcast_to(jnp.array([8.0, 2.0, 0.0]), (steps, 3))
    if name == "chain":
        s = s.replace(v=jnp.tile(jnp.array([1.0, 0.5, 0.0]), (mech.num_bodies, 1)))
        return mech, s, 2.0 * jnp.sin(2.0 * jnp.pi * t[:, None] + jnp.arange(mech.action_size))
    return mech, s, 0.1 * jax.random.normal(jax.random.PRNGKey(seed), (steps, mech.action_size))


def compiled(fn, *args):
    import jax

    t0 = time.perf_counter()
    c = jax.jit(fn).lower(*args).compile()
    return c, time.perf_counter() - t0


def bench_dojax(label, name, options, args, breakdown, with_jvp1=False):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import dojax

    step_module = sys.modules["dojax.step"]
    grad_module = sys.modules["dojax.gradients"]
    _step, _maximal = step_module._step, grad_module._maximal
    _retract, _local = grad_module._retract, grad_module._local

    K, H = args.states, args.horizon
    W = args.skip
    mech, s_init, all_actions = make_case(name, options, args.timestep, W + max(K, H))
    opts = dojax.SolverOptions()
    if W > 0:  # past the start's transient (a first step can take many more iterations)
        warm, _ = dojax.rollout(mech, s_init, all_actions[:W], opts)
        s0 = jax.tree.map(lambda a: a[-1], warm)
    else:
        s0 = s_init
    actions = all_actions[W:]
    states, infos = dojax.rollout(mech, s0, actions[:K], opts)
    # the K states the step starts from: s0, then the first K - 1 successors
    starts = jax.tree.map(lambda a0, a: jnp.concatenate([a0[None], a[:-1]]), s0, states)
    us = actions[:K]
    nb, nu = mech.num_bodies, mech.action_size
    cols = 12 * nb + nu

    def over_states(f):
        return lambda mech, starts, us, opts: jax.lax.map(lambda su: f(mech, su[0], su[1], opts), (starts, us))

    def step_only(mech, s, u, opts):
        return _step(mech, s, u, opts)[0]

    def jvp1(mech, s, u, opts):
        def f(dz, u):
            return _step(mech, _retract(s, dz.reshape(nb, 12)), u, opts)[0]

        dz = jnp.zeros(12 * nb).at[3].set(1.0)  # d/d(v_x of body 0)
        return jax.jvp(f, (jnp.zeros(12 * nb), u), (dz, jnp.zeros_like(u)))

    def jac_one_solve(mech, s, u, opts):
        def f(dz, u):
            nxt, _ = _step(mech, _retract(s, dz.reshape(nb, 12)), u, opts)
            ref = jax.tree.map(jax.lax.stop_gradient, nxt)  # equal to nxt: the primal is at dz = 0
            return _local(nxt, ref).reshape(-1)

        Jz, Ju = jax.jacfwd(f, argnums=(0, 1))(jnp.zeros(12 * nb), u)
        return {"state": Jz, "action": Ju}

    def loss(mech, s, acts, opts):
        states, _ = dojax.rollout(mech, s, acts, opts)
        return states.x[-1, 0, 0]

    grad_loss = jax.grad(loss, argnums=(1, 2))
    acts_h = actions[:H]

    row = dict(label=label, nb=nb, nu=nu, cols=cols, contacts=mech.num_contacts,
               it_mean=float(infos.iterations.mean()), it_max=int(infos.iterations.max()),
               conv=float(infos.converged.mean()))
    functions = [("step", over_states(step_only), (mech, starts, us, opts), K),
                 ("jac", over_states(_maximal), (mech, starts, us, opts), K)]
    if breakdown:
        functions += [("jac_1", over_states(jac_one_solve), (mech, starts, us, opts), K)]
    if with_jvp1:
        functions += [("jvp1", over_states(jvp1), (mech, starts, us, opts), K)]
    functions += [("fwd50", loss, (mech, s0, acts_h, opts), 1),
                  ("grad50", grad_loss, (mech, s0, acts_h, opts), 1)]
    if args.functions is not None:
        functions = [f for f in functions if f[0] in args.functions]
    outputs = {}
    for key, fn, fargs, per in functions:
        c, compile_s = compiled(fn, *fargs)
        repeats = args.repeats if per > 1 else args.rollout_repeats
        med, mn = timed(lambda: c(*fargs), repeats, per)
        row[key] = (med, mn, compile_s)
        outputs[key] = c(*fargs)
    if "jac_1" in outputs and "jac" in outputs:
        diff = max(float(jnp.max(jnp.abs(outputs["jac"][k] - outputs["jac_1"][k]))) for k in ("state", "action"))
        scale = max(float(jnp.max(jnp.abs(outputs["jac"][k]))) for k in ("state", "action"))
        row["jac_1_diff"] = diff / scale
    if "grad50" in outputs:
        g = outputs["grad50"]
        row["grad_finite"] = bool(all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(g)))
    return row


def print_dojax(rows):
    print("\ndojax (us per evaluation, median [fastest repeat]; compile s in parentheses)")
    header = (f"{'case':>10} {'nb':>3} {'nu':>3} {'cols':>4} {'ncon':>4} {'newton':>6} {'step':>22} "
              f"{'jac':>24} {'jac_1':>24} {'jac/step':>8} {'jac_1/step':>10} {'fwd50':>22} {'grad50':>24} "
              f"{'grad/fwd':>8}")
    print(header)
    print("-" * len(header))

    def cell(r, key, width):
        if key not in r:
            return f"{'-':>{width}}"
        med, mn, c = r[key]
        return f"{f'{1e6 * med:.0f} [{1e6 * mn:.0f}] ({c:.0f})':>{width}}"

    def ratio(r, a, b, width):
        return f"{r[a][0] / r[b][0]:{width}.2f}" if a in r and b in r else f"{'-':>{width}}"

    for r in rows:
        print(f"{r['label'].split(' ')[0]:>10} {r['nb']:3d} {r['nu']:3d} {r['cols']:4d} {r['contacts']:4d} "
              f"{r['it_mean']:6.2f} {cell(r, 'step', 22)} {cell(r, 'jac', 24)} "
              f"{cell(r, 'jac_1', 24)} {ratio(r, 'jac', 'step', 8)} {ratio(r, 'jac_1', 'step', 10)} "
              f"{cell(r, 'fwd50', 22)} {cell(r, 'grad50', 24)} {ratio(r, 'grad50', 'fwd50', 8)}")
    for r in rows:
        notes = [r["label"], f"newton mean {r['it_mean']:.2f} max {r['it_max']}, converged {r['conv']:.3f}"]
        if "grad_finite" in r:
            notes.append(f"grad50 finite {r['grad_finite']}")
        if "jac_1_diff" in r:
            notes.append(f"max |jac_1 - jac| / max |jac| = {r['jac_1_diff']:.1e}")
        if all(k in r for k in ("step", "jac", "jac_1")):
            # jac_1 = step + [linearisation + cols tangent columns]; jac - jac_1: what jac spends beyond
            # that (a second, reference step solve when dojax.jacobians makes one; ~0 when it does not)
            for i, which in ((0, "median"), (1, "fastest")):
                step, jac1, jac = r["step"][i], r["jac_1"][i], r["jac"][i]
                derivative = jac1 - step
                notes.append(f"split of jac ({which}): step solve {1e6 * step:.0f} us ({100 * step / jac:.0f}%), "
                             f"jac - jac_1 = {1e6 * (jac - jac1):.0f} us "
                             f"({100 * (jac - jac1) / jac:.0f}%), linearisation + {r['cols']} tangent columns "
                             f"jac_1 - step = {1e6 * derivative:.0f} us ({100 * derivative / jac:.0f}%, "
                             f"{1e6 * derivative / r['cols']:.1f} us per column)")
        if "jvp1" in r and "step" in r:
            # jvp1 = solve + linearisation + 1 tangent
            notes.append(f"jvp1 - step = {1e6 * (r['jvp1'][0] - r['step'][0]):.0f} us (linearisation + one column)")
        print("  " + "; ".join(notes))


# ----------------------------------------------------------------------------------------------
# MuJoCo

BOX8_XML = """
<mujoco model="box8">
  <option timestep="0.01"/>
  <worldbody>
    <geom name="floor" type="plane" size="50 50 0.1" friction="0.8 0.005 0.0001"/>
    <body name="box" pos="0 0 0.25">
      <freejoint/>
      <site name="centre"/>
      {geoms}
    </body>
  </worldbody>
  <actuator>
    <general site="centre" gear="1 0 0 0 0 0"/>
    <general site="centre" gear="0 1 0 0 0 0"/>
    <general site="centre" gear="0 0 1 0 0 0"/>
  </actuator>
</mujoco>
"""


def box_xml(corners):
    if corners:
        geoms = ['<geom type="box" size="0.25 0.25 0.25" mass="1" contype="0" conaffinity="0"/>']
        for sx in (-1, 1):
            for sy in (-1, 1):
                for sz in (-1, 1):
                    geoms.append(f'<geom type="sphere" size="0.005" pos="{0.25 * sx} {0.25 * sy} {0.25 * sz}" '
                                 f'mass="0" friction="0.8 0.005 0.0001"/>')
    else:
        geoms = ['<geom type="box" size="0.25 0.25 0.25" mass="1" friction="0.8 0.005 0.0001"/>']
    return BOX8_XML.format(geoms="\n      ".join(geoms))


def chain_xml(links=8):
    def link(i):
        inner = link(i + 1) if i + 1 < links else ""
        joint = "<freejoint/>" if i == 0 else '<joint type="hinge" axis="0 0 1" pos="-0.25 0 0"/>'
        pos = "0.25 0 0.05" if i == 0 else "0.5 0 0"
        return (f'<body name="link{i + 1}" pos="{pos}">{joint}'
                '<geom type="box" size="0.25 0.05 0.05" mass="1" contype="0" conaffinity="0"/>'
                '<geom type="sphere" size="0.05" pos="-0.25 0 0" mass="0" contype="2" conaffinity="1" friction="0.5 0.005 0.0001"/>'
                '<geom type="sphere" size="0.05" pos="0.25 0 0" mass="0" contype="2" conaffinity="1" friction="0.5 0.005 0.0001"/>'
                f'{inner}</body>')

    motors = "".join(f'<motor joint="j{i}"/>' for i in range(2, links + 1))
    body = link(0)
    for i in range(2, links + 1):  # name the hinges in order
        body = body.replace('<joint type="hinge"', f'<joint name="j{i}" type="hinge"', 1)
    return (f'<mujoco model="chain{links}"><option timestep="0.01"/><worldbody>'
            '<geom name="floor" type="plane" size="50 50 0.1" contype="1" conaffinity="1" friction="0.5 0.005 0.0001"/>'
            f'{body}</worldbody><actuator>{motors}</actuator></mujoco>')


def mujoco_model(name):
    """(MjModel, MjData) in a state with contact and motion. A ``-elliptic`` suffix switches the
    model to elliptic friction cones (MuJoCo's default is pyramidal)."""
    import mujoco
    import numpy as np

    base, _, variant = name.partition("-")
    if base in ("box8", "boxgeom"):
        m = mujoco.MjModel.from_xml_string(box_xml(base == "box8"))
    elif base.startswith("chain"):
        m = mujoco.MjModel.from_xml_string(chain_xml(int(base[len("chain"):])))
    else:
        import gymnasium

        path = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", f"{base}.xml")
        m = mujoco.MjModel.from_xml_path(path)
        # gymnasium's hopper/ant/humanoid use RK4, which mjd_transitionFD does not support: the default Euler
        m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    if variant == "elliptic":
        m.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    d = mujoco.MjData(m)
    if base in ("box8", "boxgeom") or base.startswith("chain"):
        # settle on the plane at rest, then set it sliding (the measured state is that instant:
        # MuJoCo's soft contacts make the sliding box hop at these timesteps)
        for _ in range(100):
            mujoco.mj_step(m, d)
        if base.startswith("chain"):
            d.qvel[:2] = [1.0, 0.5]
            d.ctrl[:] = 2.0 * np.sin(np.arange(m.nu))
        else:
            d.qvel[:] = [3.0, 1.0, 0.0, 0.0, 0.0, 4.0]
            d.ctrl[:] = [8.0, 2.0, 0.0]
    else:
        rng = np.random.default_rng(0)
        for k in range(1000):  # 200 steps of random controls, then on until it touches the ground
            d.ctrl[:] = rng.uniform(-1.0, 1.0, m.nu)
            mujoco.mj_step(m, d)
            if k >= 200:
                mujoco.mj_forward(m, d)  # contacts at the new configuration
                if d.ncon > 0:
                    break
    mujoco.mj_forward(m, d)
    return m, d


def bench_mujoco(name, args):
    """mj_step and mjd_transitionFD at one saved state: every call starts from that state."""
    import mujoco
    import numpy as np

    m, d = mujoco_model(name)
    ncon = int(d.ncon)
    nx, nu = 2 * m.nv + m.na, m.nu
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    saved = np.empty(mujoco.mj_stateSize(m, spec))
    mujoco.mj_getState(m, d, saved, spec)
    ctrl = d.ctrl.copy()

    def restore():
        mujoco.mj_setState(m, d, saved, spec)
        d.ctrl[:] = ctrl

    def loop(calls, body):
        t0 = time.perf_counter()
        for _ in range(calls):
            restore()
            body()
        return (time.perf_counter() - t0) / calls

    A = np.zeros((nx, nx))
    B = np.zeros((nx, nu)) if nu else None
    n = args.mujoco_steps
    functions = (("restore", n, lambda: None), ("step", n, lambda: mujoco.mj_step(m, d)),
                 ("fd", args.mujoco_fd, lambda: mujoco.mjd_transitionFD(m, d, 1e-6, False, A, B, None, None)),
                 ("fdc", args.mujoco_fd, lambda: mujoco.mjd_transitionFD(m, d, 1e-6, True, A, B, None, None)))
    row = dict(name=name, nv=m.nv, nu=nu, ncon=ncon, timestep=m.opt.timestep,
               cone="elliptic" if m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC else "pyramidal")
    for key, calls, body in functions:
        loop(calls, body)  # warm-up
        times = [loop(calls, body) for _ in range(max(3, args.repeats))]
        row[key] = [statistics.median(times), min(times)]
    for key in ("step", "fd", "fdc"):  # the state restore of every call taken out
        row[key] = [t - r for t, r in zip(row[key], row["restore"])]
    return row


def print_mujoco(rows):
    import mujoco

    print(f"\nMuJoCo {mujoco.__version__} (us per call, median [fastest repeat]; single thread)")
    header = (f"{'model':>15} {'nv':>3} {'nu':>3} {'ncon':>4} {'timestep':>8} {'cone':>9} {'mj_step':>14} "
              f"{'transitionFD':>16} {'FD/step':>7} {'centred FD':>16} {'cFD/step':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        def cell(key, width):
            med, mn = r[key]
            return f"{f'{1e6 * med:.1f} [{1e6 * mn:.1f}]':>{width}}"

        print(f"{r['name']:>15} {r['nv']:3d} {r['nu']:3d} {r['ncon']:4d} {r['timestep']:8.3f} {r['cone']:>9} "
              f"{cell('step', 14)} {cell('fd', 16)} {r['fd'][0] / r['step'][0]:7.1f} {cell('fdc', 16)} "
              f"{r['fdc'][0] / r['step'][0]:8.1f}")


def main(argv=None):
    args = parse_args(argv)
    core = None if args.no_pin else pin_single_core(args.core)

    import dojax

    print_environment(core)
    print(f"dojax models: {sorted(dojax.MODELS)}")
    print(f"timestep {args.timestep}; {args.states} states x {args.repeats} repeats; "
          f"{args.horizon}-step rollout loss x {args.rollout_repeats} repeats; default SolverOptions")
    start = time.perf_counter()
    mujoco_rows = []
    if not args.no_mujoco:  # first: fast, and at the same load as the dojax part's start
        mujoco_rows = [bench_mujoco(name, args) for name in args.mujoco_models]
        print_mujoco(mujoco_rows)
    rows = []
    for case in args.cases:
        label, name, options = resolve_case(case)
        breakdown = case in args.breakdown
        rows.append(bench_dojax(label, name, options, args, breakdown, breakdown and args.jvp1))
        print(f"  [{label} done, {time.perf_counter() - start:.0f} s]", flush=True)
    print_dojax(rows)
    print(f"\nload average at the end: {os.getloadavg()}; total {time.perf_counter() - start:.0f} s")
    return rows, mujoco_rows


if __name__ == "__main__":
    main()
