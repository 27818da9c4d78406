"""The platform's components: one ComponentResource (and one Args) per module."""
