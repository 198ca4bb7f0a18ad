"""Forgetting and backward transfer over a stream, from what the continual protocol logs.

With ``L[t][j]`` a run's loss on part j after experience t (reconstruction NLL on j's validation
points, ``after_Dt/recon_Dj``; lower is better), for every experience T >= 2:

- **forgetting** (Chaudhry et al. 2018, for a loss): mean over the earlier parts j < T of
  ``L[T][j] - min_{j <= t < T} L[t][j]``, how much worse part j is than at its best before T;
  0 means nothing was forgotten, negative that part j is now better than ever before.
- **BWT**, backward transfer (Lopez-Paz & Ranzato 2017, for a loss): mean over j < T of
  ``L[j][j] - L[T][j]``, the change on part j since it was learnt; negative means forgetting,
  positive means later experiences helped it.

``bwt_lsd`` is BWT on the LSD to the joint model (lower is better), over the parts j whose LSD
was measured before T: the first comparison of a part is after max(j, 2), since there is no joint
model after D1. Every value is per run; tables show the median over runs.
"""

from __future__ import annotations

import numpy as np


def stream_transfer(logged: dict[str, list[float]], parts: list[str],
                    metric: str = "LSD") -> dict[str, dict[str, list[float]]]:
    """``logged``: key (``after_Dt/recon_Dj``, ``after_Dt/<metric>_Dj``) -> one value per run,
    runs in the same order under every key. Returns measure (``forgetting``, ``bwt``,
    ``bwt_lsd``) -> ``after_DT`` -> one value per run (T >= 2; ``bwt_lsd`` from T = 3)."""
    out: dict[str, dict[str, list[float]]] = {"forgetting": {}, "bwt": {}, "bwt_lsd": {}}

    def series(kind: str, t: int, j: int) -> np.ndarray | None:
        values = logged.get(f"after_{parts[t]}/{kind}_{parts[j]}")
        return None if values is None else np.asarray(values, dtype=np.float64)

    for big_t in range(1, len(parts)):
        after = f"after_{parts[big_t]}"
        forgetting, bwt, bwt_lsd = [], [], []
        for j in range(big_t):
            now = series("recon", big_t, j)
            history = [series("recon", t, j) for t in range(j, big_t)]
            seen = [h for h in history if h is not None]
            if now is not None and len(seen) == len(history):
                forgetting.append(now - np.min(np.stack(seen), axis=0))
                bwt.append(history[0] - now)
            first = max(j, 1)
            lsd_now, lsd_first = series(metric, big_t, j), series(metric, first, j)
            if first < big_t and lsd_now is not None and lsd_first is not None:
                bwt_lsd.append(lsd_first - lsd_now)
        for name, per_part in (("forgetting", forgetting), ("bwt", bwt), ("bwt_lsd", bwt_lsd)):
            if per_part:
                out[name][after] = np.mean(np.stack(per_part), axis=0).tolist()
    return {name: cols for name, cols in out.items() if cols}
