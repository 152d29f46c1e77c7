"""An independent iterative engine (PtyLab 0.3.7 ePIE, the `oracle` extra) that reconstructs
what this project simulates, evaluated like the PINN.

- `ptycho.oracle.ptylab_data`: a RawData in PtyLab's own terms (intensities in counts, encoder
  in metres about the object centre, Fraunhofer geometry, whole-pixel positions, the probe in
  count units) and back to the object frame;
- `ptycho.oracle.epie`: one seeded, silent ePIE run (PtyLab imported lazily);
- `ptycho.oracle.agreement`: the run's object evaluated by `ptycho.evaluation` on the region,
  registration and phase alignment the PINN is evaluated with, beside the constant baseline.

PtyLab is imported only when a run starts (`require_ptylab`); without it the error names the
extra to install.
"""
from __future__ import annotations

from .ptylab_data import (PTYLAB_EXTRA, Geometry, OracleUnavailableError, PtyLabInput,
                          require_ptylab, to_ptylab)

__all__ = ["PTYLAB_EXTRA", "Geometry", "OracleUnavailableError", "PtyLabInput",
           "require_ptylab", "to_ptylab"]
