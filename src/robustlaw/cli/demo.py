"""``robustlaw demo``: the main job."""

from __future__ import annotations

from robustlaw.cli._common import console
from robustlaw.cli.bound import bound


def demo() -> None:
    """Run the main job: the law's parameter counts for MNIST and ImageNet, then one bound."""
    for name in ("mnist", "imagenet"):
        bound(
            n=None,
            d=None,
            p=None,
            k=None,
            eps=0.1,
            delta=0.01,
            c=1.0,
            W=1e3,
            J=1e3,
            mixtures=1,
            target_lip=1.0,
            preset=name,
            as_json=False,
        )
        console.print()
    bound(
        n=60_000,
        d=784,
        p=200_000,
        k=None,
        eps=0.1,
        delta=0.01,
        c=1.0,
        W=1e3,
        J=1e3,
        mixtures=1,
        target_lip=1.0,
        preset=None,
        as_json=False,
    )
