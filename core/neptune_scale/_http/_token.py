"""The expiry of JWT access tokens, read without extra libraries.

(API tokens are read by the public ``neptune_scale.token``.)
"""

from __future__ import annotations

import base64
import binascii
import json

__all__ = ["jwt_expiry"]


def jwt_expiry(access_token: str) -> float:
    """The ``exp`` claim (epoch seconds) of a JWT; the signature is the server's business."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ValueError("the server's access token is not a JWT with an 'exp' claim") from exc
