"""Operations commands on boto3: ``bootstrap``, ``preflight``, ``promote``, ``records`` and ``image-cache``.

:mod:`blueprint.ops.commands` lists them for the registry in ``blueprint.cli``.
"""
