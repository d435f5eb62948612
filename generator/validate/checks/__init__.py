"""The checks: each module exposes `jobs(ctx: Context) -> list[Job]` (see ..base); the runner finds them all."""
