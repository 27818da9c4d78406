"""Repository upkeep commands: ``fork`` (rename the project and its GitHub repository), ``stack add`` (a new
stack from an existing one), ``docs`` (the generated reference) and ``delivery`` (the stack facts the
workflows read).

:mod:`blueprint.upkeep.commands` lists them for the registry in ``blueprint.cli``. These commands read or
edit the files of the project directory (``BLUEPRINT_PROJECT_DIR``, else the checkout the tool was
installed from, as for ``preview``); they never touch the cloud.
"""
