"""Segment-level precision/recall as defined by VCSL (He et al., CVPR 2022, alipay/VCSL ``vcsl/metric.py``).

A copied segment is a box on the query x reference time plane: (q0, r0, q1, r1). For one (query, work) pair,
precision = precision along the query axis x precision along the reference axis, where each axis's precision
is the length of the predicted boxes' overlaps with ground-truth boxes (union per predicted box) over the
total predicted length; recall swaps the roles. Micro-averaged over pairs, ignoring the conventional 1s
that a pair with no prediction (precision) or no truth (recall) receives.
"""

from __future__ import annotations

import numpy as np


def _union_length(spans: np.ndarray) -> float:
    total, end = 0.0, -np.inf
    for a, b in sorted(map(tuple, spans.tolist())):
        if a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _side(boxes: np.ndarray, others: np.ndarray) -> float:
    """Fraction of ``boxes`` covered by ``others``, product of the two axes."""
    lt = np.maximum(boxes[:, None, :2], others[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    wh = np.maximum(rb - lt, 0.0)
    touching = (wh[..., 0] * wh[..., 1]) > 0
    covered_q = covered_r = 0.0
    for i in range(len(boxes)):
        js = np.nonzero(touching[i])[0]
        if len(js):
            covered_q += _union_length(np.stack([lt[i, js, 0], rb[i, js, 0]], 1))
            covered_r += _union_length(np.stack([lt[i, js, 1], rb[i, js, 1]], 1))
    len_q = float(np.sum(boxes[:, 2] - boxes[:, 0]))
    len_r = float(np.sum(boxes[:, 3] - boxes[:, 1]))
    return (covered_q / (len_q + 1e-6)) * (covered_r / (len_r + 1e-6))


def pair_precision_recall(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """``pred``/``truth``: (n, 4) boxes (q0, r0, q1, r1)."""
    pred, truth = np.asarray(pred, float).reshape(-1, 4), np.asarray(truth, float).reshape(-1, 4)
    if len(pred) and not len(truth):
        return 0.0, 1.0
    if len(truth) and not len(pred):
        return 1.0, 0.0
    if not len(pred):
        return 1.0, 1.0
    return _side(pred, truth), _side(truth, pred)


def micro(results: list[tuple[float, float]]) -> dict:
    ps = [p for p, _ in results if p != 1.0]
    rs = [r for _, r in results if r != 1.0]
    p = float(np.mean(ps)) if ps else 1.0
    r = float(np.mean(rs)) if rs else 1.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "pairs": len(results)}
