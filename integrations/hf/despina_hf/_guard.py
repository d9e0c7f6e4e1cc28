"""Containment of tracking errors: a tracking problem must never break the training loop.

Every call into the client from a Trainer hook runs inside ``contained(what)`` (the integration
kit's :class:`~neptune_scale.integrations.Containment`): an exception is logged on ``despina_hf``
with what was being done, counted, and swallowed. Tests switch on strict mode
(``set_strict(True)`` or ``DESPINA_HF_STRICT=1``) so a contained error fails the test instead of
hiding a bug.
"""

from __future__ import annotations

import logging

from neptune_scale.integrations import Containment

__all__ = ["CONTAINMENT", "contained", "set_strict"]

logger = logging.getLogger("despina_hf")

# Environment switch for strict mode (tests, debugging): contained errors are re-raised.
STRICT_ENV = "DESPINA_HF_STRICT"

CONTAINMENT = Containment(logger, strict_env=STRICT_ENV)
contained = CONTAINMENT.contained
#: Re-raise contained errors when given True; returns the previous setting.
set_strict = CONTAINMENT.set_strict
