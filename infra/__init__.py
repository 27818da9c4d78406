"""The Pulumi program (``__main__.py``) and its configuration model (``config.py``)."""
