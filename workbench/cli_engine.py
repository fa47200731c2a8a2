"""The ``--engine`` and ``--ray-address`` options that the curation commands share.

Run as: workbench dedup -w ws/ --engine ray [--ray-address auto]
"""

from __future__ import annotations

import typer

Engine = typer.Option("local", "--engine", help="local (this process) or ray (the per-row "
                                                "work on Ray Data; same results).")
RayAddress = typer.Option(None, "--ray-address", help="With --engine ray: none = start a "
                                                      "local Ray on this machine; 'auto' or "
                                                      "ray://HOST:10001 for a cluster.")
RayCpus = typer.Option(2, "--ray-cpus", help="CPUs of the local Ray (without an address).")


def ray_options(engine: str, address: str | None, cpus: int = 2):
    """RayOptions for ``--engine ray`` (None for local); raises StageError for an unknown
    engine."""
    from curation.engine_ray import RayOptions, check_engine

    if check_engine(engine) == "local":
        return None
    return RayOptions(address=address, num_cpus=cpus, concurrency=cpus if address is None
                      else RayOptions().concurrency)
