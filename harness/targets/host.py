"""``host``: the kernel this machine runs, the suite in a subprocess."""
from __future__ import annotations

from .base import Context, Target


class HostTarget(Target):
    kind = "host"
    target_kind = "linux"

    def run(self, ctx: Context) -> int:
        ctx.enter("suite")
        done = ctx.run(ctx.suite.argv(ctx.run_dir, self.name, self.target_kind), log=ctx.path("console.log"),
                       env=ctx.suite.environment(), cwd=ctx.suite.cwd)
        ctx.enter("collect")
        return done.returncode
