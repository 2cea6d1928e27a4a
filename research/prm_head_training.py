"""Training the PRM head: standardised logistic regression on step features, saved as safetensors.

Used by ``research/train_prm_head*.py``; the package only loads and applies the shipped head
(``langgraph_specsearch.scorers.prm_head``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from langgraph_specsearch.generators.step_features import FeatureSpec
from langgraph_specsearch.scorers.prm_head import LinearHead


def fit_linear_head(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, steps: int = 300, seed: int = 0
) -> LinearHead:
    """Standardise, then L2-regularised logistic regression by full-batch L-BFGS (deterministic)."""
    torch.manual_seed(seed)
    x = np.asarray(x, dtype=np.float32)
    mu = x.mean(0)
    sigma = x.std(0) + 1e-4
    z = torch.from_numpy((x - mu) / sigma)
    t = torch.from_numpy(np.asarray(y, dtype=np.float32))
    w = torch.zeros(z.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, t)
        loss = loss + l2 * (w * w).sum() / 2
        loss.backward()
        return loss

    opt.step(closure)
    return LinearHead(w.detach().numpy(), float(b.detach()), mu, sigma)


def save_head(path: str | Path, head: LinearHead, spec: FeatureSpec, info: dict[str, Any]) -> Path:
    """Write the head as safetensors; the feature spec and provenance go in its metadata."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "weight": head.weight.astype(np.float32),
        "bias": np.asarray([head.bias], dtype=np.float32),
        "mu": head.mu.astype(np.float32),
        "sigma": head.sigma.astype(np.float32),
    }
    metadata = {"spec": json.dumps(spec.to_dict()), "info": json.dumps(info, sort_keys=True)}
    save_file(tensors, str(path), metadata=metadata)
    return path
