"""Block elimination along the kinematic tree: linear time in the number of bodies.

The Newton matrix of a mechanism is a tree of 12x12 node blocks (a body's 6 velocities and its
tree joint's 6 impulses). With ``D[i]`` the diagonal block of node i, ``L[i]`` the coupling of node i's
rows to its parent's unknowns and ``U[i]`` the coupling of the parent's rows to node i's unknowns,
eliminating leaves first is a block LU factorisation whose fill-in stays inside the parent's
diagonal block. Nodes of equal depth are eliminated together (vectorised), deepest first.

Node index ``nb`` is a padding node (identity block, no couplings) that absorbs the padded lanes of
each level and the roots' updates of their (absent) parent.

Loop-closing joints add a few rows and columns outside the tree; they are eliminated by a Schur
complement on top of the tree factorisation (:func:`solve_bordered`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class TreeFactors(NamedTuple):
    inverse: jax.Array  # (nb + 1, 12, 12) inverses of the eliminated diagonal blocks
    lower: jax.Array  # (nb + 1, 12, 12) L
    upper: jax.Array  # (nb + 1, 12, 12) U
    parent: jax.Array  # (nb + 1,) parent node, padding node for roots
    levels: jax.Array  # (n_levels, width) nodes per depth, deepest first, padded


def factor(D, L, U, parent, levels):
    """Eliminate leaves into parents level by level; returns the factors for :func:`solve`."""

    def eliminate(D, nodes):
        Dinv = jnp.linalg.inv(D[nodes])
        D = D.at[parent[nodes]].add(-U[nodes] @ Dinv @ L[nodes])
        return D, Dinv

    D, inverses = jax.lax.scan(eliminate, D, levels)
    inverse = jnp.zeros_like(D).at[levels.reshape(-1)].set(inverses.reshape(-1, *D.shape[1:]))
    return TreeFactors(inverse, L, U, parent, levels)


def solve(f, b):
    """Solve A x = b with the tree factors; b has shape (nb + 1, 12) or (nb + 1, 12, k)."""
    matrix_rhs = b.ndim == 3
    if not matrix_rhs:
        b = b[..., None]
    pad = b.shape[0] - 1

    def forward(b, nodes):
        y = f.inverse[nodes] @ b[nodes]
        b = b.at[f.parent[nodes]].add(-f.upper[nodes] @ y)
        return b, None

    b, _ = jax.lax.scan(forward, b, f.levels)
    b = b * (jnp.arange(b.shape[0]) < pad)[:, None, None]  # (additions and masks only: transposable)

    def backward(x, nodes):
        p = f.parent[nodes]
        xi = f.inverse[nodes] @ (b[nodes] - f.lower[nodes] @ x[p])
        x = x.at[nodes].add(jnp.where((nodes < pad)[:, None, None], xi, 0.0))  # each node once
        return x, None

    x, _ = jax.lax.scan(backward, jnp.zeros_like(b), f.levels[::-1])
    return x if matrix_rhs else x[..., 0]


def solve_bordered(f, B, C, E, b, c):
    """Solve [[A, B], [C, E]] [x; y] = [b; c] with A given by its tree factors.

    B: (nb + 1, 12, m), C: (m, nb + 1, 12), E: (m, m).
    """
    AinvB = solve(f, B)
    Ainvb = solve(f, b)
    S = E - jnp.einsum("mnk,nkl->ml", C, AinvB)
    y = jnp.linalg.solve(S, c - jnp.einsum("mnk,nk->m", C, Ainvb))
    return Ainvb - AinvB @ y, y
