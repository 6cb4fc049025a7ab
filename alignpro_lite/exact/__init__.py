"""The exact theory on finite prompt sets (notebooks 01–02): the closed form ``rho*``, its
metrics, the λ sweep, the bound, reweighting samples of ``rho_sft`` into ``rho*`` (``distill``), and the problem files they run on. numpy only."""

from alignpro_lite.exact import discrete, distill, problems, schema, sweep, validate

__all__ = ["discrete", "distill", "problems", "schema", "sweep", "validate"]
