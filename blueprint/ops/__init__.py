"""Operations commands on boto3: ``bootstrap``, ``preflight``, ``promote`` and ``records``.

:mod:`blueprint.ops.commands` lists them for the registry in ``blueprint.cli``.
"""
