"""The wiring steps of the program: each function turns validated config into one component's ``…Args``.

``infra/__main__.py`` is the table of contents and calls these in order; every ``cfg`` read, default and
derived value (names, selectors, image references, secret Outputs) lives here, next to the component it
feeds. Modules by layer: :mod:`~infra.wiring.stack` (names, the AWS provider), :mod:`~infra.wiring.cloud`
(AWS-API-only: delivery roles, network, cluster, node pools), :mod:`~infra.wiring.storage` (registry,
artifacts, audit, DVC, images), :mod:`~infra.wiring.context` (the :class:`ClusterContext`),
:mod:`~infra.wiring.in_cluster` (add-ons and workloads) and :mod:`~infra.wiring.ci` (CI backends).

An optional add-on's step returns ``None`` when its config section's ``enabled`` is false, so the switch is
read in one place per add-on. (``infra/`` is on ``sys.path`` when the language host runs the program
directory, so this package must not be named after a standard-library module such as ``platform``.)
"""
