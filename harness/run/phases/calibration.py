"""A/A noise: reuse a saved calibration on this run's findings, or save this run's."""

from __future__ import annotations

from harness.run.context import RunContext

__all__ = ["ReuseNoise", "SaveNoise"]


class ReuseNoise:
    """``noise = "reuse"``: drop the groups a saved A/A calibration explains."""

    name = "noise-reuse"

    def execute(self, ctx: RunContext) -> None:
        path = ctx.config.resolve(ctx.config.noise.file)
        ctx.noise.apply_saved(path, ctx.findings, ctx.stats.cases_per_op())


class SaveNoise:
    """``noise = "calibrate"``: what the A/A twin showed, saved for later runs."""

    name = "noise-save"

    def execute(self, ctx: RunContext) -> None:
        meta = {"run_id": ctx.run_dir.name, "seed": ctx.seed}
        target = ctx.config.resolve(ctx.config.noise.file)
        ctx.noise.save(ctx.run_dir, target, meta, ctx.stats.cases_per_op())
