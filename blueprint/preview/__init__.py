"""The offline preview: the engine (mocks), the plan model, the policy evaluator, the analyses and the report.

:mod:`blueprint.preview.commands` lists its commands for the registry in ``blueprint.cli``.
"""
