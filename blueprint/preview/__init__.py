"""The offline preview: the engine (mocks), the plan model, the policy evaluator, the analyses and the report."""
